"""acme.agents.tf.r2d2's learner, packaged as a base builder (see agents/base.py).

Built as acme's TF R2D2 agent builds it: a prioritized table fed by a SequenceAdder
of length burn_in + trace + 1 with the LSTM state stored, an epsilon-greedy
behaviour policy, and R2D2Learner unchanged. The learner writes priorities to a
table it names itself ('priority_table'); each policy group has its own table, so
its Reverb TF client is given that group's table name (`_TableTFClient`).
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Tuple

import reverb
import sonnet as snt
import tensorflow as tf
from acme import datasets
from acme.adders import reverb as adders
from acme.agents.tf.r2d2 import learning
from acme.tf import utils as tf2_utils

from recip_acme import networks as networks_lib
from recip_acme.agents import base
from recip_acme.agents.r2d2 import config as config_lib


class _TableTFClient:
  """A reverb.TFClient whose priority updates go to one given table."""

  def __init__(self, server_address: str, table: str):
    self._client = reverb.TFClient(server_address)
    self._table = table

  def update_priorities(self, table, keys, priorities):
    del table  # R2D2Learner always names the default table.
    return self._client.update_priorities(table=self._table, keys=keys, priorities=priorities)


class R2D2Builder(base.BaseBuilder):
  name = "r2d2"

  def __init__(self, config: config_lib.R2D2Config = config_lib.R2D2Config()):
    self.config = config
    self.discount = config.discount
    self.sequence_length = config.burn_in_length + config.trace_length + 1

  def make_network(self, num_actions, config: networks_lib.NetworkConfig) -> snt.RNNCore:
    return networks_lib.make_r2d2_network(num_actions, config)

  def extras_spec(self, network, num_actions) -> Dict[str, Any]:
    return {"core_state": tf2_utils.squeeze_batch_dim(network.initial_state(1))}

  def make_table(self, name, spec, extras_spec) -> reverb.Table:
    c = self.config
    return reverb.Table(
        name=name, sampler=reverb.selectors.Prioritized(c.priority_exponent),
        remover=reverb.selectors.Fifo(), max_size=c.max_replay_size,
        rate_limiter=reverb.rate_limiters.MinSize(1),
        signature=adders.SequenceAdder.signature(
            spec, extras_spec, sequence_length=self.sequence_length))

  def sequence_layout(self) -> base.SequenceLayout:
    return base.SequenceLayout(self.sequence_length, self.config.replay_period)

  def make_dataset(self, server_address, table) -> tf.data.Dataset:
    return datasets.make_reverb_dataset(
        server_address=server_address, table=table, batch_size=self.config.batch_size,
        num_parallel_calls=1, max_in_flight_samples_per_worker=self.config.batch_size)

  def make_learner(self, spec, network, dataset, server_address, table, counter, logger):
    c = self.config
    target_network = copy.deepcopy(network)
    tf2_utils.create_variables(target_network, [spec.observations])
    return learning.R2D2Learner(
        environment_spec=spec, network=network, target_network=target_network,
        burn_in_length=c.burn_in_length, sequence_length=self.sequence_length,
        dataset=dataset, reverb_client=_TableTFClient(server_address, table),
        counter=counter, logger=logger, discount=c.discount,
        target_update_period=c.target_update_period,
        importance_sampling_exponent=c.importance_sampling_exponent,
        max_replay_size=c.max_replay_size, learning_rate=c.learning_rate,
        store_lstm_state=True, max_priority_weight=c.max_priority_weight)

  def behaviour(self, outputs, seed) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
    q_values = outputs
    batch, num_actions = tf.shape(q_values)[0], tf.shape(q_values)[1]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    explore = tf.random.stateless_uniform([batch], seeds[0]) < self.config.epsilon
    random_actions = tf.random.stateless_uniform(
        [batch], seeds[1], minval=0, maxval=tf.cast(num_actions, tf.int64), dtype=tf.int64)
    greedy = tf.argmax(q_values, axis=-1, output_type=tf.int64)
    return tf.where(explore, random_actions, greedy), {}

  def action_probabilities(self, outputs) -> tf.Tensor:
    q_values = outputs
    num_actions = tf.shape(q_values)[-1]
    greedy = tf.one_hot(tf.argmax(q_values, axis=-1), num_actions)
    return (1.0 - self.config.epsilon) * greedy + self.config.epsilon / tf.cast(
        num_actions, tf.float32)

  def ready_to_step(self, items_inserted, learner_steps) -> bool:
    c = self.config
    if items_inserted < c.min_replay_size:
      return False
    return learner_steps * c.batch_size < items_inserted * c.samples_per_insert
