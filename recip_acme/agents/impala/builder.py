"""acme.agents.tf.impala's learner, packaged as a base builder (see agents/base.py).

Table, adder, dataset and learner are built exactly as acme's TF IMPALA agent builds
them (a queue table fed by a SequenceAdder; IMPALALearner unchanged), except that the
dataset uses one sampling worker with one batch in flight: with Acme's default of 12
workers the queue is drained ahead of the learner and readiness cannot be judged.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import reverb
import sonnet as snt
import tensorflow as tf
from acme import datasets
from acme import specs
from acme.adders import reverb as adders
from acme.agents.tf.impala import learning
from acme.tf import utils as tf2_utils

from recip_acme import networks as networks_lib
from recip_acme.agents import base
from recip_acme.agents.impala import config as config_lib


def sample_categorical(logits: tf.Tensor, seed: tf.Tensor,
                       dtype: tf.DType = tf.int64) -> tf.Tensor:
  """One draw from Categorical(logits) over the last axis, by Gumbel-max.

  argmax(logits + Gumbel noise) is such a draw, and unlike StatelessMultinomial it
  compiles with XLA (the actor's forward pass). The one sampler of IMPALA policies:
  training's actor and the exported Melting Pot policies both call it.
  """
  uniform = tf.random.stateless_uniform(tf.shape(logits), seed, minval=1e-20, maxval=1.0)
  return tf.argmax(logits - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=dtype)


class ImpalaBuilder(base.BaseBuilder):
  name = "impala"

  def __init__(self, config: config_lib.ImpalaConfig = config_lib.ImpalaConfig()):
    self.config = config
    self.discount = config.discount

  def make_network(self, num_actions, config: networks_lib.NetworkConfig) -> snt.RNNCore:
    return networks_lib.make_impala_network(num_actions, config)

  def extras_spec(self, network, num_actions) -> Dict[str, Any]:
    return tf2_utils.squeeze_batch_dim({
        "core_state": network.initial_state(1),
        "logits": tf.ones((1, num_actions), tf.float32)})

  @property
  def replays(self) -> bool:
    """Whether sequences are reused (samples_per_insert > 1) instead of queued."""
    return self.config.samples_per_insert > 1.0

  def make_table(self, name, spec: specs.EnvironmentSpec, extras_spec) -> reverb.Table:
    signature = adders.SequenceAdder.signature(
        spec, extras_spec=extras_spec, sequence_length=self.config.sequence_length)
    if not self.replays:
      return reverb.Table.queue(name=name, max_size=self.config.max_queue_size,
                                signature=signature)
    # The learner's pace is set by ready_to_step, so the limiter only has to keep a
    # sample from blocking before a batch exists.
    return reverb.Table(
        name=name, sampler=reverb.selectors.Uniform(), remover=reverb.selectors.Fifo(),
        max_size=self.config.replay_size,
        rate_limiter=reverb.rate_limiters.MinSize(self.config.batch_size),
        signature=signature)

  def sequence_layout(self) -> base.SequenceLayout:
    return base.SequenceLayout(self.config.sequence_length,
                                  self.config.sequence_period or self.config.sequence_length)

  def make_dataset(self, server_address: str, table: str) -> tf.data.Dataset:
    return datasets.make_reverb_dataset(
        server_address=server_address, table=table, batch_size=self.config.batch_size,
        num_parallel_calls=1, max_in_flight_samples_per_worker=self.config.batch_size)

  def make_learner(self, spec, network, dataset, server_address, table, counter, logger):
    c = self.config
    return base.without_acme_snapshots(learning.IMPALALearner(
        environment_spec=spec, network=network, dataset=dataset, counter=counter,
        logger=logger, discount=c.discount, learning_rate=c.learning_rate,
        entropy_cost=c.entropy_cost, baseline_cost=c.baseline_cost,
        max_abs_reward=c.max_abs_reward, max_gradient_norm=c.max_gradient_norm))

  def behaviour(self, outputs, seed) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
    logits, _ = outputs
    return sample_categorical(logits, seed), {"logits": logits}

  def action_probabilities(self, outputs) -> tf.Tensor:
    logits, _ = outputs
    return tf.nn.softmax(logits)

  def ready_to_step(self, items_inserted: int, learner_steps: int) -> bool:
    c = self.config
    if not self.replays:
      # A queue: every item is consumed once, a batch at a time.
      return items_inserted - learner_steps * c.batch_size >= c.batch_size
    if items_inserted < c.batch_size:
      return False
    return learner_steps * c.batch_size < items_inserted * c.samples_per_insert
