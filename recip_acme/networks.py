"""Policy networks for Melting Pot players: conv torso -> MLP -> LSTM -> head.

Sized for 11x11 downsampled RGB on a CPU (the throughput floor in the stack notes
used conv 16 -> MLP 64 -> LSTM 64). The head is the base learner's business:
IMPALA needs (logits, value), R2D2 needs Q-values.

Two options make a player's observation a ``PlayerObservation`` instead of bare RGB
(a field that is off has width 0, so one structure serves every combination):
- ``NetworkConfig.observe_last_step`` (any agent): the recurrent core also reads the
  player's previous extrinsic reward and its previous action (one-hot), as IMPALA's
  own agent and Melting Pot's baselines do. A focal player is given both (its reward
  arrives with its observation), so an exported player still needs nothing a scenario
  does not give it. Why: a policy can only make what it does depend on having been
  harmed (reciprocate) if it can tell that it was.
- ``NetworkConfig.value_balance_inputs`` > 0 (set by the Reciprocator builder when
  ``ReciprocatorConfig.value_sees_balance`` or ``policy_sees_balance``): the IMPALA
  value head also reads the player's lagged balance towards each opponent. The policy
  sees it only with ``NetworkConfig.policy_reads_balance`` (``policy_sees_balance``);
  otherwise ``policy_inputs`` feeds zeros there, which the policy provably ignores.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Optional, Sequence

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
  # The core also reads the previous extrinsic reward and action (module doc).
  observe_last_step: bool = False
  # Width of that input, 1 + number of actions; set by the builder from the specs.
  last_step_inputs: int = 0
  # The recurrent core (so the policy) also reads the balance entries
  # (ReciprocatorConfig.policy_sees_balance); needs value_balance_inputs > 0.
  policy_reads_balance: bool = False

  @property
  def augmented(self) -> bool:
    """Whether observations are PlayerObservations rather than bare RGB."""
    return bool(self.value_balance_inputs or self.last_step_inputs)


class PlayerObservation(NamedTuple):
  """A player's observation when the network reads more than its RGB (module doc).

  A named tuple, not a dict: Acme stores a network's input signature on the module,
  where TF would wrap a dict in a tracking wrapper that tf.function cannot trace on
  Python 3.11. A field that is off has width 0 (Reverb and tf.data carry such columns).
  """
  rgb: Any                 # uint8 [..., H, W, C]
  last_step: Any           # float32 [..., 1 + A]: previous reward, one-hot previous action
  influence_balance: Any   # float32 [..., N-1]


def last_step_features(reward: Any, action: Any, num_actions: int, valid: Any) -> Any:
  """[previous extrinsic reward, one-hot previous action] per player, float32 [..., 1 + A].

  `valid` is False on an episode's first step, where there is no previous step:
  the features are then all zero. Pure numpy (the actor builds them outside TF).
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  valid = np.asarray(valid, bool)
  reward = np.where(valid, np.asarray(reward, np.float32), 0.0).astype(np.float32)
  one_hot = np.eye(num_actions, dtype=np.float32)[np.asarray(action, np.int64)]
  one_hot = one_hot * valid[..., None]
  return np.concatenate([reward[..., None], one_hot], axis=-1)


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


class LastStepTorso(snt.Module):
  """PlayerObservation -> [visual features, previous reward and action] [B, D + 1 + A]."""

  def __init__(self, config: NetworkConfig, name: str = "last_step_torso"):
    super().__init__(name=name)
    self._visual = VisualTorso(config)

  def __call__(self, inputs: PlayerObservation) -> tf.Tensor:
    return _with_last_step(self._visual(inputs.rgb), inputs)


def _with_last_step(features: tf.Tensor, inputs: PlayerObservation) -> tf.Tensor:
  return tf.concat([features, tf.cast(inputs.last_step, features.dtype)], axis=-1)


class AugmentedImpalaCore(snt.RNNCore):
  """Conv -> MLP -> [+ last step] -> LSTM; logits from the LSTM output, the value from
  it and (when configured) the balance. Reads PlayerObservations (module doc).

  Why the critic may read the balance: the reciprocal reward at t is the lagged balance times the VoI at t, so the
  return a Reciprocator learns from depends on its balances, which its pixels do not
  show. A critic that cannot see them cannot tell that taking a partner's coin raises
  the balance and so lowers every later reciprocal reward: V-trace's bootstrap (every
  unroll_length steps) drops that cost. The balance is privileged training-time
  information, so only the critic gets it (centralised-critic style); the policy's
  output does not depend on it (tests/test_value_sees_balance.py).
  """

  def __init__(self, num_actions: int, config: NetworkConfig,
               name: str = "balance_aware_impala"):   # Name kept: checkpoints of earlier runs.
    super().__init__(name=name)
    self._torso = VisualTorso(config)
    self._lstm = snt.LSTM(config.lstm_size)
    self._policy = snt.Linear(num_actions, name="policy")
    self._value = snt.nets.MLP([config.lstm_size, 1], name="value")
    self._policy_reads_balance = config.policy_reads_balance

  def __call__(self, inputs, state):
    features = _with_last_step(self._torso(inputs.rgb), inputs)
    if self._policy_reads_balance:   # policy_sees_balance: the balance shapes the action.
      features = tf.concat([features, tf.cast(inputs.influence_balance, features.dtype)], -1)
    hidden, state = self._lstm(features, state)
    critic_input = tf.concat([hidden, tf.cast(inputs.influence_balance, hidden.dtype)], axis=-1)
    value = tf.squeeze(self._value(critic_input), axis=-1)
    return (self._policy(hidden), value), state

  def initial_state(self, batch_size: int, **kwargs):
    return self._lstm.initial_state(batch_size)


def make_impala_network(num_actions: int, config: NetworkConfig) -> snt.RNNCore:
  """Outputs ((logits, value), state), what acme's TF IMPALA learner unrolls."""
  if config.augmented:
    return AugmentedImpalaCore(num_actions, config)
  return snt.DeepRNN([VisualTorso(config), snt.LSTM(config.lstm_size),
                      acme_networks.PolicyValueHead(num_actions)])


def policy_inputs(config: NetworkConfig, rgb: tf.Tensor, last_step: Optional[tf.Tensor] = None):
  """What a network of `config` takes when a player's RGB [B, H, W, C] and, if it
  reads it, its last step [B, 1 + A] are known (exported Melting Pot bots use this).

  Balances are zeros: a policy that does not read them (the default) acts as
  trained. One that does (``policy_reads_balance``) acts as at a zero balance: a bot
  sees only its own observations, not the joint actions its balance is made of.
  """
  if not config.augmented:
    return rgb
  batch = tf.shape(rgb)[0]
  if last_step is None:
    if config.last_step_inputs:
      raise ValueError("this network reads the previous reward and action (observe_last_step)")
    last_step = tf.zeros([batch, 0], tf.float32)
  return PlayerObservation(rgb, last_step,
                           tf.zeros([batch, config.value_balance_inputs], tf.float32))


def make_r2d2_network(num_actions: int, config: NetworkConfig) -> snt.RNNCore:
  """Outputs (q_values, state), what acme's TF R2D2 learner unrolls."""
  if config.value_balance_inputs:
    raise ValueError("value_sees_balance and policy_sees_balance need an actor-critic base "
                     "learner (impala); R2D2's Q-values are the policy, so they cannot "
                     "see the balance alone")
  torso = LastStepTorso(config) if config.last_step_inputs else VisualTorso(config)
  return snt.DeepRNN([torso, snt.LSTM(config.lstm_size),
                      snt.nets.MLP([config.lstm_size, num_actions])])
