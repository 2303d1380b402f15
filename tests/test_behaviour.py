"""The base builders' behaviour policies sample what the learners assume."""

import dm_env
import numpy as np
import tensorflow as tf

from recip_acme.agents.impala import builder as impala_builder
from recip_acme.agents.impala import config as impala_config
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


def _steps_allowed(builder, inserted: int) -> int:
  steps = 0
  while builder.ready_to_step(inserted, steps):
    steps += 1
  return steps


def test_impala_queue_uses_each_sequence_once():
  builder = impala_builder.ImpalaBuilder(impala_config.ImpalaConfig(batch_size=16))
  assert not builder.replays
  assert [_steps_allowed(builder, n) for n in (15, 16, 31, 32, 160)] == [0, 1, 1, 2, 10]


def test_impala_sample_reuse_takes_samples_per_insert_per_sequence():
  config = impala_config.ImpalaConfig(batch_size=16, samples_per_insert=4.0, replay_size=64)
  builder = impala_builder.ImpalaBuilder(config)
  assert builder.replays
  # 4 samples per inserted sequence = 4 * n / 16 batches, none before one batch exists.
  assert [_steps_allowed(builder, n) for n in (15, 16, 40, 160)] == [0, 4, 10, 40]


def test_impala_sample_reuse_table_serves_a_sequence_more_than_once():
  import reverb  # pylint: disable=g-import-not-at-top
  from acme import specs  # pylint: disable=g-import-not-at-top
  config = impala_config.ImpalaConfig(batch_size=2, sequence_length=3, samples_per_insert=4.0,
                                      replay_size=8)
  builder = impala_builder.ImpalaBuilder(config)
  spec = specs.EnvironmentSpec(
      observations=specs.Array((2,), np.float32), actions=specs.DiscreteArray(3),
      rewards=specs.Array((), np.float32), discounts=specs.BoundedArray((), np.float32, 0., 1.))
  table = builder.make_table("t", spec, {})
  server = reverb.Server([table], port=None)
  try:
    client = reverb.Client(f"localhost:{server.port}")
    adder = builder.make_adder(client, "t")   # Acme's SequenceAdder, as in training.
    obs = np.zeros(2, np.float32)
    adder.add_first(dm_env.restart(obs))
    for t in range(6):   # Two full sequences of 3 steps (period 3), rewards 0..5.
      adder.add(np.int32(0), dm_env.transition(np.float32(t), obs, np.float32(1)))
    infos = [sample[0].info for sample in client.sample("t", num_samples=8)]
    assert len(infos) == 8 and len({info.key for info in infos}) <= 2   # 8 samples, 2 items.
    assert max(info.times_sampled for info in infos) > 1
    assert client.server_info()["t"].current_size == 2    # Nothing was consumed.
  finally:
    server.stop()


def test_impala_sample_reuse_is_validated():
  import pytest  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="samples_per_insert must be >= 1"):
    impala_config.ImpalaConfig(samples_per_insert=0.5)
  with pytest.raises(ValueError, match="replay_size must be >= batch_size"):
    impala_config.ImpalaConfig(batch_size=16, samples_per_insert=2.0, replay_size=8)
