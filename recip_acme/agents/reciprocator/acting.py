"""The joint actor: plays every player of E copies of a substrate (self-play).

Per environment step it makes ONE TensorFlow call for all E x N player slots: each
policy group's network runs once on the batch of its slots, actions are drawn by
the base learner's behaviour policy, and, for Reciprocators, the value of
influence of the sampled joint action and the reciprocal reward are computed from
the actor's copy of the influence estimators, with balances carried per environment.

It writes (a) each player slot's trajectory, with ``reciprocal_reward`` among the
extras, through the base learner's own Acme adder, and (b) at each episode's end,
the episode's joint experience (state, joint action, all rewards, time) to the
table the influence learner reads. Data flows one way: environment -> this actor ->
Reverb -> adapter (dataset transform) -> learner.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import reverb
import sonnet as snt
import tensorflow as tf
import tree

from recip_acme import reciprocal
from recip_acme.agents import base
from recip_acme.influence import data as data_lib
from recip_acme.influence import networks as influence_networks

RECIPROCAL_REWARD = "reciprocal_reward"


@dataclasses.dataclass
class PolicyGroup:
  """Players that share one policy network (and one learner, one table)."""
  network: snt.RNNCore
  players: List[int]


@dataclasses.dataclass
class InfluenceSettings:
  """What the actor needs to compute reciprocal rewards online."""
  estimators: influence_networks.InfluenceEstimators
  variant: str
  balance_decay: float
  gamma: float
  future_term: bool
  reset_balance_each_episode: bool


class JointExperienceWriter:
  """Writes one finished episode of joint experience as one Reverb item."""

  def __init__(self, client: reverb.Client, table: str, gamma: float):
    self._client = client
    self._table = table
    self._gamma = gamma

  def write(self, state, joint_action, reward, time_left) -> None:
    item = {
        "state": np.asarray(state, np.float32),
        "joint_action": np.asarray(joint_action, np.int32),
        "reward": np.asarray(reward, np.float32),
        "next_return": data_lib.discounted_next_returns(reward, self._gamma),
        "time_left": np.asarray(time_left, np.float32),
    }
    # Episodes differ in length and a writer's columns cannot change shape: one
    # short-lived writer per episode.
    with self._client.trajectory_writer(num_keep_alive_refs=1) as writer:
      writer.append(item)
      writer.create_item(self._table, 1.0, {k: writer.history[k][-1] for k in item})
      writer.flush()


def joint_experience_signature(state_size: int, num_players: int) -> Dict[str, tf.TensorSpec]:
  return {"state": tf.TensorSpec([None, state_size], tf.float32),
          "joint_action": tf.TensorSpec([None, num_players], tf.int32),
          "reward": tf.TensorSpec([None, num_players], tf.float32),
          "next_return": tf.TensorSpec([None, num_players], tf.float32),
          "time_left": tf.TensorSpec([None], tf.float32)}


class _EpisodeBuffer:
  """One environment's joint experience since its episode began."""

  def __init__(self):
    self.states, self.actions, self.rewards, self.time_left = [], [], [], []

  def clear(self):
    self.__init__()


class JointActor:
  """Acts for all N players of E environments; see the module docstring."""

  def __init__(self, base_builder: base.BaseBuilder, groups: Sequence[PolicyGroup],
               num_players: int, num_envs: int,
               adders: Optional[List[List[Any]]] = None,
               influence: Optional[InfluenceSettings] = None,
               joint_writer: Optional[JointExperienceWriter] = None,
               horizon: Optional[int] = None, seed: int = 0):
    self._base = base_builder
    self._groups = list(groups)
    self._num_players = num_players
    self._num_envs = num_envs
    self._adders = adders
    self._influence = influence
    self._joint_writer = joint_writer
    self._horizon = horizon
    self._seed = tf.Variable([seed, 0], dtype=tf.int64, trainable=False)
    self._player_group = np.zeros(num_players, np.int64)
    for g, group in enumerate(self._groups):
      self._player_group[group.players] = g
    self._core_states = [self._initial_core(g, num_envs) for g in range(len(self._groups))]
    self._rec_state = reciprocal.initial_state([num_envs], num_players)
    self._buffers = [_EpisodeBuffer() for _ in range(num_envs)]
    self._recording = np.zeros(num_envs, bool)
    # When False (before the influence estimators' first fit), new episodes are not
    # written for the policy learners: policies are frozen, as in the paper.
    self.record_policy_data = influence is None
    self._last: Optional[Dict[str, Any]] = None
    # autograph=False: the Python control flow here is over static structure only.
    self._forward = tf.function(self._forward_impl, autograph=False)

  # -- TensorFlow part: one call per environment step. --------------------------

  def _initial_core(self, g: int, num_envs: int):
    size = num_envs * len(self._groups[g].players)
    return tree.map_structure(lambda x: x.numpy(), self._groups[g].network.initial_state(size))

  def _forward_impl(self, observations, core_states, state, time_left, rec_state):
    """observations [E, N, ...] -> actions [E, N], per-group extras, VoI, r_rec."""
    seeds = tf.random.experimental.stateless_split(self._seed, len(self._groups) + 1)
    self._seed.assign(seeds[-1])
    num_envs = tf.shape(observations)[0]
    actions = [None] * self._num_players
    group_extras, new_cores = [], []
    for g, group in enumerate(self._groups):
      obs = tf.gather(observations, group.players, axis=1)                  # [E, G, ...]
      obs = tf.reshape(obs, tf.concat([[-1], tf.shape(obs)[2:]], 0))       # [E*G, ...]
      outputs, new_core = group.network(obs, core_states[g])
      group_actions, extras = self._base.behaviour(outputs, seeds[g])
      group_actions = tf.reshape(group_actions, [num_envs, len(group.players)])
      for k, player in enumerate(group.players):
        actions[player] = group_actions[:, k]
      group_extras.append(extras)
      new_cores.append(new_core)
    joint_action = tf.stack(actions, axis=1)                                 # [E, N]
    result = {"actions": joint_action, "extras": group_extras, "cores": new_cores}
    if self._influence is not None:
      s = self._influence
      predictions = s.estimators(state, joint_action, time_left)
      voi = influence_networks.value_of_influence(predictions, s.gamma, s.future_term)
      terms = reciprocal.reciprocal_step(voi, s.variant, s.balance_decay, rec_state)
      result.update(voi=voi, reciprocal_reward=terms.rewards,
                    rec_state=terms.final_state, lagged_balance=terms.lagged_balance)
    return result

  # -- Python part: environments, adders, episode bookkeeping. ------------------

  def _time_left(self, steps: np.ndarray) -> np.ndarray:
    if self._horizon is None:
      return np.zeros(len(steps), np.float32)
    return ((self._horizon - steps) / self._horizon).astype(np.float32)

  def observe_first(self, e: int, timestep) -> None:
    """Environment e has (re)started: fresh recurrent state, balances, buffers."""
    for g, group in enumerate(self._groups):
      fresh = self._initial_core(g, 1)   # One row per player of the group.
      width = len(group.players)

      def put(current, new, e=e, width=width):
        current[e * width:(e + 1) * width] = new
      tree.map_structure(put, self._core_states[g], fresh)
    if self._influence is None or self._influence.reset_balance_each_episode:
      self._rec_state = reciprocal.ReciprocalState(*(
          tf.tensor_scatter_nd_update(x, [[e]], tf.zeros_like(x[:1])) for x in self._rec_state))
    self._buffers[e].clear()
    self._recording[e] = self.record_policy_data and self._adders is not None
    if self._recording[e]:
      for i in range(self._num_players):
        self._adders[e][i].add_first(timestep.player(i))

  def select_actions(self, timesteps: Sequence[Any]) -> np.ndarray:
    """One joint action [E, N] for the E environments' current timesteps."""
    observations = np.stack([np.stack(ts.observations) for ts in timesteps])
    state = np.stack([ts.state for ts in timesteps])
    steps = np.array([ts.step for ts in timesteps])
    time_left = self._time_left(steps)
    self._last = self._forward(observations, self._core_states, state, time_left,
                               self._rec_state)
    self._last_cores = self._core_states
    self._core_states = tree.map_structure(lambda x: x.numpy(), self._last["cores"])
    if self._influence is not None:
      self._rec_state = self._last["rec_state"]
    self._last_inputs = (state, time_left)
    return self._last["actions"].numpy()

  def last_reciprocal(self) -> Optional[Dict[str, np.ndarray]]:
    """VoI [E, N, N], reciprocal reward [E, N] and balances of the last step (logs)."""
    if self._influence is None or self._last is None:
      return None
    return {k: self._last[k].numpy() for k in ("voi", "reciprocal_reward", "lagged_balance")}

  def observe(self, actions: np.ndarray, next_timesteps: Sequence[Any]) -> List[bool]:
    """Records the step's outcome; returns which environments ended their episode."""
    reciprocal_reward = (self._last["reciprocal_reward"].numpy() if self._influence is not None
                         else np.zeros(actions.shape, np.float32))
    extras = tree.map_structure(lambda x: x.numpy(), self._last["extras"])
    state, time_left = self._last_inputs
    ended = []
    for e, ts in enumerate(next_timesteps):
      if self._recording[e]:
        for i in range(self._num_players):
          g = self._player_group[i]
          slot = e * len(self._groups[g].players) + self._groups[g].players.index(i)
          player_extras = {k: v[slot] for k, v in extras[g].items()}
          player_extras["core_state"] = tree.map_structure(lambda x: x[slot], self._last_cores[g])
          if self._influence is not None:
            player_extras[RECIPROCAL_REWARD] = np.float32(reciprocal_reward[e, i])
          self._adders[e][i].add(np.int64(actions[e, i]), ts.player(i), player_extras)
      if self._joint_writer is not None:
        buffer = self._buffers[e]
        buffer.states.append(state[e])
        buffer.actions.append(actions[e])
        buffer.rewards.append(ts.rewards)
        buffer.time_left.append(time_left[e])
        if ts.last():
          self._joint_writer.write(buffer.states, buffer.actions, buffer.rewards,
                                   buffer.time_left)
          buffer.clear()
      ended.append(ts.last())
    return ended
