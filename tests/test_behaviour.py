"""The base builders' behaviour policies sample what the learners assume."""

import numpy as np
import tensorflow as tf

from recip_acme.agents.impala import builder as impala_builder
from recip_acme.agents.r2d2 import builder as r2d2_builder
from recip_acme.agents.r2d2 import config as r2d2_config


def test_impala_samples_from_the_logits():
  probs = np.array([0.1, 0.2, 0.7], np.float32)
  logits = tf.constant(np.log(np.tile(probs, (40000, 1))))
  actions, extras = impala_builder.ImpalaBuilder().behaviour((logits, None), tf.constant([3, 4], tf.int64))
  freq = np.bincount(actions.numpy(), minlength=3) / 40000
  np.testing.assert_allclose(freq, probs, atol=0.01)
  assert actions.dtype == tf.int64
  np.testing.assert_array_equal(extras["logits"].numpy(), logits.numpy())


def test_impala_sampling_is_jit_compilable():
  builder = impala_builder.ImpalaBuilder()
  fn = tf.function(lambda l, s: builder.behaviour((l, None), s)[0], jit_compile=True)
  assert fn(tf.zeros([4, 5]), tf.constant([1, 2], tf.int64)).shape == (4,)


def test_r2d2_is_epsilon_greedy():
  builder = r2d2_builder.R2D2Builder(r2d2_config.R2D2Config(epsilon=0.3))
  q = tf.constant(np.tile([[0.0, 5.0, 1.0, 2.0]], (40000, 1)), tf.float32)
  actions, extras = builder.behaviour(q, tf.constant([5, 6], tf.int64))
  freq = np.bincount(actions.numpy(), minlength=4) / 40000
  np.testing.assert_allclose(freq, [0.075, 0.7 + 0.075, 0.075, 0.075], atol=0.01)
  assert extras == {}
