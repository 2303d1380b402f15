"""Policy networks for Melting Pot players: conv torso -> MLP -> LSTM -> head.

Sized for 11x11 downsampled RGB on a CPU (the throughput floor in the stack notes
used conv 16 -> MLP 64 -> LSTM 64). The head is the base learner's business:
IMPALA needs (logits, value), R2D2 needs Q-values.

With ``NetworkConfig.value_balance_inputs`` > 0 (set by the Reciprocator builder when
``ReciprocatorConfig.value_sees_balance``), the IMPALA network's observation is a
``BalanceObservation``: ``rgb`` for everything, and ``influence_balance``, the player's
lagged balance towards each opponent, read by the value head only. The policy never sees it, so an exported
player needs nothing a Melting Pot focal player is not given (``policy_inputs`` feeds
zeros there, which the policy provably ignores).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Sequence

import sonnet as snt
import tensorflow as tf
from acme.tf import networks as acme_networks


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
  conv_channels: Sequence[int] = (16,)
  conv_kernel: int = 3
  mlp_sizes: Sequence[int] = (64,)
  lstm_size: int = 64
  # > 0: the value head also reads that many balance entries (module doc). 0: RGB only.
  value_balance_inputs: int = 0


class BalanceObservation(NamedTuple):
  """A player's observation when its critic reads its balances (a named tuple, not a
  dict: Acme stores a network's input signature on the module, where TF would wrap
  a dict in a tracking wrapper that tf.function cannot trace on Python 3.11)."""
  rgb: Any                 # uint8 [..., H, W, C]
  influence_balance: Any   # float32 [..., N-1]


class VisualTorso(snt.Module):
  """uint8 image [B, H, W, C] -> features [B, D]."""

  def __init__(self, config: NetworkConfig, name: str = "visual_torso"):
    super().__init__(name=name)
    self._convs = [snt.Conv2D(c, config.conv_kernel, padding="SAME") for c in config.conv_channels]
    self._mlp = snt.nets.MLP(list(config.mlp_sizes), activate_final=True)

  def __call__(self, images: tf.Tensor) -> tf.Tensor:
    x = tf.cast(images, tf.float32) / 255.0
    for conv in self._convs:
      x = tf.nn.relu(conv(x))
    return self._mlp(snt.Flatten()(x))


class BalanceAwareImpalaCore(snt.RNNCore):
  """Conv -> MLP -> LSTM; logits from the LSTM output, the value from it and the balance.

  Why: the reciprocal reward at t is the lagged balance times the VoI at t, so the
  return a Reciprocator learns from depends on its balances, which its pixels do not
  show. A critic that cannot see them cannot tell that taking a partner's coin raises
  the balance and so lowers every later reciprocal reward: V-trace's bootstrap (every
  unroll_length steps) drops that cost. The balance is privileged training-time
  information, so only the critic gets it (centralised-critic style); the policy's
  output does not depend on it (tests/test_value_sees_balance.py).
  """

  def __init__(self, num_actions: int, config: NetworkConfig,
               name: str = "balance_aware_impala"):
    super().__init__(name=name)
    self.num_balance_inputs = config.value_balance_inputs
    self._torso = VisualTorso(config)
    self._lstm = snt.LSTM(config.lstm_size)
    self._policy = snt.Linear(num_actions, name="policy")
    self._value = snt.nets.MLP([config.lstm_size, 1], name="value")

  def __call__(self, inputs, state):
    hidden, state = self._lstm(self._torso(inputs.rgb), state)
    critic_input = tf.concat([hidden, tf.cast(inputs.influence_balance, hidden.dtype)], axis=-1)
    value = tf.squeeze(self._value(critic_input), axis=-1)
    return (self._policy(hidden), value), state

  def initial_state(self, batch_size: int, **kwargs):
    return self._lstm.initial_state(batch_size)


def make_impala_network(num_actions: int, config: NetworkConfig) -> snt.RNNCore:
  """Outputs ((logits, value), state), what acme's TF IMPALA learner unrolls."""
  if config.value_balance_inputs:
    return BalanceAwareImpalaCore(num_actions, config)
  return snt.DeepRNN([VisualTorso(config), snt.LSTM(config.lstm_size),
                      acme_networks.PolicyValueHead(num_actions)])


def policy_inputs(network: snt.RNNCore, rgb: tf.Tensor):
  """What `network` takes when only a player's RGB [B, H, W, C] is known.

  A balance-aware network gets zero balances: its policy does not read them, so the
  action distribution is the trained one (exported Melting Pot bots use this).
  """
  if isinstance(network, BalanceAwareImpalaCore):
    zeros = tf.zeros([tf.shape(rgb)[0], network.num_balance_inputs], tf.float32)
    return BalanceObservation(rgb, zeros)
  return rgb


def make_r2d2_network(num_actions: int, config: NetworkConfig) -> snt.RNNCore:
  """Outputs (q_values, state), what acme's TF R2D2 learner unrolls."""
  if config.value_balance_inputs:
    raise ValueError("value_sees_balance needs an actor-critic base learner (impala); "
                     "R2D2's Q-values are the policy, so they cannot see the balance alone")
  return snt.DeepRNN([VisualTorso(config), snt.LSTM(config.lstm_size),
                      snt.nets.MLP([config.lstm_size, num_actions])])
