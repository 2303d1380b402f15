"""The joint actor: plays every player of E copies of a substrate (self-play).

Per environment step it makes ONE TensorFlow call for all E x N player slots: each
policy group's network runs once on the batch of its slots, actions are drawn by
the base learner's behaviour policy, and, for Reciprocators, the value of
influence of the sampled joint action and the reciprocal reward are computed from
the actor's copy of the influence estimators, with balances carried per environment.

It writes, through one ``writing.JointTrajectoryWriter`` per environment copy, (a)
each player slot's trajectory, with ``reciprocal_reward`` among the extras, cut
into items exactly as the base learner's own Acme adder cuts them, and (b) at each
episode's end, the episode's joint experience (state, joint action, all rewards,
time) for the influence learner. Data flows one way: environment -> this actor ->
Reverb -> adapter (dataset transform) -> learner.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import sonnet as snt
import tensorflow as tf
import tree

from recip_acme import networks as networks_lib
from recip_acme import reciprocal
from recip_acme.agents import base
from recip_acme.agents.reciprocator import writing
from recip_acme.influence import networks as influence_networks

RECIPROCAL_REWARD = "reciprocal_reward"
# Sum over j != i of j's immediate VoI on i; the adapter subtracts it from r_i when
# ReciprocatorConfig.subtract_partner_influence (a control variate, README).
PARTNER_INFLUENCE = "partner_influence"
# The prosocial learner's extra: mean_j r_j - r_i, so that reward + it = mean_j r_j.
COLLECTIVE_SHAPING = "collective_reward_shaping"


def collective_shaping(rewards: np.ndarray) -> np.ndarray:
  """[..., N] extrinsic rewards -> what each player's reward needs added to become the
  mean of its environment's rewards (the prosocial learner's objective)."""
  rewards = np.asarray(rewards, np.float32)
  return rewards.mean(axis=-1, keepdims=True) - rewards


@dataclasses.dataclass
class PolicyGroup:
  """Players that share one policy network (and one learner, one table).

  By default the group plays its `players`' slots in every environment copy. With
  `seats`, it plays exactly those (copy, slot) seats, in that row order, and other
  groups play the same slots in the other copies: a partner pool
  (`ReciprocatorConfig.naive_partners`). A `naive_partner` group is a training
  partner: its learner gets no reciprocal reward and exports leave it out.
  """
  network: snt.RNNCore
  players: List[int]
  seats: Optional[List[Tuple[int, int]]] = None
  naive_partner: bool = False

  def seats_for(self, num_envs: int) -> List[Tuple[int, int]]:
    """(copy, slot) of each batch row of this group's network, in row order."""
    return seats_of(self.players, self.seats, num_envs)


def seats_of(players: Sequence[int], seats: Optional[Sequence[Tuple[int, int]]],
             num_envs: int) -> List[Tuple[int, int]]:
  """A group's seats: `seats` if given, else its players' slots in every copy."""
  if seats is not None:
    return list(seats)
  return [(e, p) for e in range(num_envs) for p in players]


def slots_of_copies(seats_per_group: Sequence[Sequence[Tuple[int, int]]], num_envs: int,
                    num_players: int) -> List[List[Tuple[int, int]]]:
  """Per copy, per slot: (policy group, batch row of the group's seats); every seat
  has exactly one group (the actor's rows, the writers' tables)."""
  slots = [[None] * num_players for _ in range(num_envs)]
  for g, seats in enumerate(seats_per_group):
    for row, (e, player) in enumerate(seats):
      if slots[e][player] is not None:
        raise ValueError(f"copy {e}, slot {player} is given to two policy groups")
      slots[e][player] = (g, row)
  if any(s is None for copy in slots for s in copy):
    raise ValueError("every (copy, slot) needs a policy group")
  return slots


def naive_partner_seats(num_players: int, num_envs: int) -> List[List[Tuple[int, int]]]:
  """The seats of the 2N groups of a partner pool (ReciprocatorConfig.naive_partners).

  Groups 0..N-1 are the Reciprocators of slots 0..N-1, groups N..2N-1 the naive
  learners of the same slots. Copy e plays pairing e mod (N + 1): pairing 0 is
  Reciprocator self-play, pairing k >= 1 puts slot k-1's naive learner beside
  Reciprocators in every other slot. So with N = 2 each Reciprocator meets another
  Reciprocator in half of its copies and a naive learner in the other half.
  """
  pairings = num_players + 1
  if num_envs % pairings:
    raise ValueError(f"naive_partners cycles the copies through {pairings} pairings "
                     f"(self-play, and a naive learner in each of the {num_players} slots): "
                     f"num_envs must be a multiple of {pairings}; got {num_envs}")
  naive_slot = [e % pairings - 1 for e in range(num_envs)]   # -1: self-play.
  reciprocators = [[(e, p) for e in range(num_envs) if naive_slot[e] != p]
                   for p in range(num_players)]
  naive = [[(e, p) for e in range(num_envs) if naive_slot[e] == p] for p in range(num_players)]
  return reciprocators + naive


@dataclasses.dataclass
class InfluenceSettings:
  """What the actor needs to compute reciprocal rewards online."""
  estimators: influence_networks.InfluenceEstimators
  variant: str
  balance_decay: float
  gamma: float
  future_term: bool
  reset_balance_each_episode: bool
  # Multiplies r_rec by a running std(r_ext)/mean|r_rec| (reciprocal_scale="extrinsic").
  scale: Optional[reciprocal.ExtrinsicScale] = None
  # Also compute the others' immediate VoI on each player (PARTNER_INFLUENCE).
  partner_influence: bool = False
  # Players whose learners get r_rec (ReciprocatorConfig.reciprocal_players); the
  # others' is 0 and the running scale reads only these. None: every player.
  reciprocal_players: Optional[Sequence[int]] = None
  # Added to the balance the reward reads (ReciprocatorConfig.generosity).
  generosity: float = 0.0
  # The influence the reward multiplies is measured against the player's own
  # behaviour policy (ReciprocatorConfig.own_policy_counterfactual).
  own_policy_counterfactual: bool = False


def _merge_env_and_player_axes(x: tf.Tensor) -> tf.Tensor:
  """[E, G, ...] -> [E*G, ...]: one batch row per player slot."""
  return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))


class JointPolicyStep(NamedTuple):
  """One step of every player's policy (see joint_policy_step)."""
  actions: tf.Tensor                 # [E, N] joint action.
  probabilities: List[tf.Tensor]     # Per player [E, A_i]: the behaviour policy.
  extras: List[Dict[str, tf.Tensor]]  # Per group: the base learner's extras ([E*G, ...]).
  cores: List[Any]                   # Per group: the recurrent state after the step.


def joint_policy_step(groups: Sequence[PolicyGroup], base_builder: base.BaseBuilder,
                      inputs: Any, cores: Sequence[Any], seeds: tf.Tensor,
                      num_players: int) -> JointPolicyStep:
  """Every policy group's network once on the batch of its slots, actions drawn by the
  base learner's behaviour policy with seeds[g].

  The one joint-policy step: the Melting Pot actor (`JointActor`) and the paper games'
  trainer (`batched.py`) both call it, so players act the same way in both.
  `inputs` is [E, N, ...] (or a structure of such); `cores` per group [E*G, ...]
  (with seats, [S, ...] in the seats' order).
  """
  if any(group.seats is not None for group in groups):
    return _seated_policy_step(groups, base_builder, inputs, cores, seeds, num_players)
  num_envs = tf.shape(tree.flatten(inputs)[0])[0]
  actions, probabilities = [None] * num_players, [None] * num_players
  extras_out, cores_out = [], []
  for g, group in enumerate(groups):
    obs = tree.map_structure(
        lambda x, players=group.players: _merge_env_and_player_axes(
            tf.gather(x, players, axis=1)), inputs)                        # [E*G, ...]
    outputs, new_core = group.network(obs, cores[g])
    group_actions, extras = base_builder.behaviour(outputs, seeds[g])
    group_actions = tf.reshape(group_actions, [num_envs, len(group.players)])
    group_probs = tf.reshape(base_builder.action_probabilities(outputs),
                             [num_envs, len(group.players), -1])
    for k, player in enumerate(group.players):
      actions[player] = group_actions[:, k]
      probabilities[player] = group_probs[:, k]
    extras_out.append(extras)
    cores_out.append(new_core)
  return JointPolicyStep(tf.stack(actions, axis=1), probabilities, extras_out, cores_out)


def _seated_policy_step(groups: Sequence[PolicyGroup], base_builder: base.BaseBuilder,
                        inputs: Any, cores: Sequence[Any], seeds: tf.Tensor,
                        num_players: int) -> JointPolicyStep:
  """joint_policy_step when each group plays given (copy, slot) seats (a partner
  pool): a group's network runs on its seats' rows, and its actions and action
  probabilities are scattered back to their seats. Every seat has one group."""
  num_envs = tf.shape(tree.flatten(inputs)[0])[0]
  shape = tf.stack([num_envs, num_players])
  actions = probabilities = 0
  extras_out, cores_out = [], []
  for g, group in enumerate(groups):
    if group.seats is None:
      raise ValueError("in a partner pool every policy group names its seats")
    seats = tf.constant(group.seats, tf.int32)                               # [S, 2]
    obs = tree.map_structure(lambda x, seats=seats: tf.gather_nd(x, seats), inputs)
    outputs, new_core = group.network(obs, cores[g])
    group_actions, extras = base_builder.behaviour(outputs, seeds[g])
    group_probs = base_builder.action_probabilities(outputs)                 # [S, A]
    width = group_probs.shape[-1]
    actions += tf.reshape(tf.scatter_nd(seats, group_actions, shape), [-1, num_players])
    probabilities += tf.reshape(tf.scatter_nd(seats, group_probs, tf.concat([shape, [width]], 0)),
                                [-1, num_players, width])
    extras_out.append(extras)
    cores_out.append(new_core)
  return JointPolicyStep(actions, tf.unstack(probabilities, num_players, axis=1),
                         extras_out, cores_out)


class InfluenceStep(NamedTuple):
  """One step of the influence side (see influence_step)."""
  voi: tf.Tensor                          # [E, N(j), N(i)].
  terms: Any                              # reciprocal.reciprocal_step's output.
  partner_influence: Optional[tf.Tensor]  # [E, N] if settings.partner_influence.
  # [E, N(j), N(i)] the influence the reward multiplies, if not voi
  # (settings.own_policy_counterfactual).
  rewarded_voi: Optional[tf.Tensor] = None


def influence_step(settings: InfluenceSettings, state: tf.Tensor, joint_action: tf.Tensor,
                   time_left: tf.Tensor, probabilities: Sequence[tf.Tensor],
                   rec_state: reciprocal.ReciprocalState) -> InfluenceStep:
  """VoI of the sampled joint action, the reciprocal-reward step and, if asked, the
  others' immediate VoI on each player."""
  policy = None
  if settings.estimators.needs_policy or settings.own_policy_counterfactual:
    width = max(p.shape[-1] for p in probabilities)
    policy = tf.stack([tf.pad(p, [[0, 0], [0, width - p.shape[-1]]])
                       for p in probabilities], axis=1)                   # [E, N, A]
  predictions = settings.estimators(state, joint_action, time_left, policy)
  voi = influence_networks.value_of_influence(predictions, settings.gamma,
                                              settings.future_term)
  harm = None
  if reciprocal.get_variant(settings.variant).needs_expected_harm:
    harm = influence_networks.expected_harm(predictions, settings.gamma, settings.future_term)
  partner = (influence_networks.partner_reward_influence(predictions)
             if settings.partner_influence else None)
  rewarded = None
  if settings.own_policy_counterfactual:
    rewarded = influence_networks.value_of_influence(
        influence_networks.against_policy(predictions, policy), settings.gamma,
        settings.future_term)
  return InfluenceStep(voi, reciprocal.reciprocal_step(voi, settings.variant,
                                                       settings.balance_decay, rec_state, harm,
                                                       settings.generosity, rewarded),
                       partner, rewarded)


class JointActor:
  """Acts for all N players of E environments; see the module docstring."""

  def __init__(self, base_builder: base.BaseBuilder, groups: Sequence[PolicyGroup],
               num_players: int, num_envs: int,
               writers: Optional[List[writing.JointTrajectoryWriter]] = None,
               influence: Optional[InfluenceSettings] = None,
               horizon: Optional[int] = None, seed: int = 0, jit_compile: bool = True,
               observation_inputs: Optional[networks_lib.NetworkConfig] = None,
               collective_reward: bool = False):
    self._base = base_builder
    self._collective_reward = collective_reward
    self._groups = list(groups)
    self._num_players = num_players
    self._num_envs = num_envs
    self._writers = writers
    self._influence = influence
    self._horizon = horizon
    # What players observe besides RGB (networks.PlayerObservation), from the network
    # config the builder completed: the previous reward and action, and balances.
    inputs = observation_inputs or networks_lib.NetworkConfig()
    self._augmented = inputs.augmented
    self._balance_observation = inputs.value_balance_inputs > 0
    self._last_step_width = inputs.last_step_inputs
    if self._balance_observation and influence is None:
      raise ValueError("a balance observation needs the influence settings (Reciprocators)")
    self._previous_actions = np.zeros([num_envs, num_players], np.int64)
    self._has_previous = np.zeros(num_envs, bool)   # False on an episode's first step.
    self._seed = tf.Variable([seed, 0], dtype=tf.int64, trainable=False)
    # Per environment, per player: (policy group, batch row of the group's seats);
    # per group, the (copy, slot) of each row, and each copy's rows.
    self._seats = [np.array(group.seats_for(num_envs), np.int64).reshape(-1, 2)
                   for group in self._groups]
    self._slots_of_env = slots_of_copies(
        [[tuple(s) for s in seats] for seats in self._seats], num_envs, num_players)
    self._rows_of_env = [[np.flatnonzero(seats[:, 0] == e) for e in range(num_envs)]
                         for seats in self._seats]
    # Recurrent states and balances live in variables: the step function then takes
    # three plain arrays, and tf.function's per-call input binding stays cheap.
    self._core_vars = [tree.map_structure(
        lambda x: tf.Variable(x, trainable=False), self._initial_core(g, len(seats)))
        for g, seats in enumerate(self._seats)]
    self._rec_vars = reciprocal.ReciprocalState(*(
        tf.Variable(x, trainable=False)
        for x in reciprocal.initial_state([num_envs], num_players)))
    self._recording = np.zeros(num_envs, bool)
    # Which seats' learners get r_rec: ReciprocatorConfig.reciprocal_players' slots,
    # and none of a naive partner's seats. None: every seat.
    self._reciprocal_seats = None
    if influence is not None and (influence.reciprocal_players is not None
                                  or any(g.naive_partner for g in self._groups)):
      self._reciprocal_seats = np.zeros([num_envs, num_players], bool)
      for g, seats in enumerate(self._seats):
        if not self._groups[g].naive_partner:
          self._reciprocal_seats[seats[:, 0], seats[:, 1]] = True
      if influence.reciprocal_players is not None:
        kept = np.zeros(num_players, bool)
        kept[np.asarray(influence.reciprocal_players)] = True
        self._reciprocal_seats &= kept[None, :]
    # When False (before the influence estimators' first fit), new episodes are not
    # written for the policy learners: policies are frozen, as in the paper.
    self.record_policy_data = influence is None
    self._last: Optional[Dict[str, Any]] = None
    self._reward_factor = 1.0
    # With defer_writes, observe and observe_first queue their writes (in order) until
    # flush_writes: the acting loop runs them while a child process steps the
    # substrates (substrates/stepping.py). Everything the next select_actions reads is
    # still updated at once; a queued write holds the values it needs.
    self.defer_writes = False
    self._pending_writes: List[Callable[[], None]] = []
    # autograph=False: the Python control flow here is over static structure only.
    # jit_compile: XLA fuses the many tiny ops of one step; per-op dispatch, not
    # arithmetic, is what an actor step costs on a CPU.
    self._forward = tf.function(self._forward_impl, autograph=False, jit_compile=jit_compile)
    self._forward_concrete = None

  # -- TensorFlow part: one call per environment step. --------------------------

  def _initial_core(self, g: int, rows: int):
    return tree.map_structure(lambda x: x.numpy(), self._groups[g].network.initial_state(rows))

  def _forward_impl(self, observations, last_step, state, time_left):
    """observations [E, N, ...] -> actions [E, N], per-group extras, VoI, r_rec.

    Reads and advances the recurrent states and balances held in variables; the
    extras carry each slot's recurrent state from *before* the step, as Acme's
    actors store it.
    """
    seeds = tf.random.experimental.stateless_split(self._seed, len(self._groups) + 1)
    self._seed.assign(seeds[-1])
    num_envs = tf.shape(observations)[0]
    inputs = observations
    if self._augmented:
      balance = (self._balance_rows(self._rec_vars)    # The balance before this step: B[t-1].
                 if self._balance_observation else tf.zeros([num_envs, self._num_players, 0]))
      inputs = networks_lib.PlayerObservation(observations, last_step, balance)
    cores = [tree.map_structure(lambda v: v.read_value(), c) for c in self._core_vars]
    step = joint_policy_step(self._groups, self._base, inputs, cores, seeds, self._num_players)
    for variables, new_core in zip(self._core_vars, step.cores):
      tree.map_structure(lambda v, x: v.assign(x), variables, new_core)
    result = {"actions": step.actions,
              "extras": [dict(e, core_state=c) for e, c in zip(step.extras, cores)]}
    if self._influence is not None:
      rec_state = reciprocal.ReciprocalState(*(v.read_value() for v in self._rec_vars))
      influence = influence_step(self._influence, state, step.actions, time_left,
                                 step.probabilities, rec_state)
      terms = influence.terms
      for v, x in zip(self._rec_vars, terms.final_state):
        v.assign(x)
      result.update(voi=influence.voi, reciprocal_reward=terms.rewards,
                    lagged_balance=terms.lagged_balance)
      if influence.partner_influence is not None:
        result["partner_influence"] = influence.partner_influence
      if influence.rewarded_voi is not None:
        result["rewarded_voi"] = influence.rewarded_voi
      if self._balance_observation:   # What the next observations carry: B[t].
        result["next_balance"] = self._balance_rows(terms.final_state)
    return result

  def _balance_rows(self, state) -> tf.Tensor:
    return reciprocal.balance_observation(state, self._influence.variant)

  def _last_step_rows(self, rewards: np.ndarray) -> np.ndarray:
    """[E, N, 1 + A] from the rewards [E, N] just received and the previous actions
    ([E, N, 0] when the network does not read them)."""
    if not self._last_step_width:
      return np.zeros(self._previous_actions.shape + (0,), np.float32)
    return networks_lib.last_step_features(rewards, self._previous_actions,
                                           self._last_step_width - 1, self._has_previous[:, None])

  def _player_observations(self, ts, e: int, balance_rows: Optional[np.ndarray],
                           last_step_rows: np.ndarray) -> List[Any]:
    """Every player's observation, as a PlayerObservation when the network reads more."""
    if not self._augmented:
      return ts.observations
    empty = np.zeros(0, np.float32)
    return [networks_lib.PlayerObservation(
        rgb, last_step_rows[e, i], balance_rows[e, i] if balance_rows is not None else empty)
            for i, rgb in enumerate(ts.observations)]

  # -- Python part: environments, adders, episode bookkeeping. ------------------

  def _time_left(self, steps: np.ndarray) -> np.ndarray:
    if self._horizon is None:
      return np.zeros(len(steps), np.float32)
    return ((self._horizon - steps) / self._horizon).astype(np.float32)

  def observe_first(self, e: int, timestep) -> None:
    """Environment e has (re)started: fresh recurrent state, balances, buffers."""
    for g in range(len(self._groups)):
      rows = self._rows_of_env[g][e]
      if not len(rows):
        continue
      fresh = self._initial_core(g, len(rows))   # One row per seat of the group in e.
      indices = tf.constant(rows[:, None], tf.int64)
      tree.map_structure(lambda v, x, indices=indices: v.scatter_nd_update(indices, x),
                         self._core_vars[g], fresh)
    if self._influence is None or self._influence.reset_balance_each_episode:
      for v in self._rec_vars:
        v[e].assign(tf.zeros_like(v[e]))
    self._has_previous[e] = False
    self._recording[e] = self.record_policy_data and self._writers is not None
    if self._writers is not None:
      rows = self._balance_rows(self._rec_vars).numpy() if self._balance_observation else None
      last_step = self._last_step_rows(np.zeros(self._previous_actions.shape, np.float32))
      writer, record = self._writers[e], bool(self._recording[e])
      self._write(lambda: writer.first(
          self._player_observations(timestep, e, rows, last_step), timestep.state,
          self._time_left(np.array([timestep.step]))[0], record_policy=record))

  def _write(self, write: Callable[[], None]) -> None:
    if self.defer_writes:
      self._pending_writes.append(write)
    else:
      write()

  def flush_writes(self) -> None:
    """Runs the queued writes, oldest first (a no-op unless defer_writes)."""
    pending, self._pending_writes = self._pending_writes, []
    for write in pending:
      write()

  def select_actions(self, timesteps: Sequence[Any]) -> np.ndarray:
    """One joint action [E, N] for the E environments' current timesteps."""
    observations = np.stack([np.stack(ts.observations) for ts in timesteps])
    state = np.stack([ts.state for ts in timesteps])
    steps = np.array([ts.step for ts in timesteps])
    time_left = self._time_left(steps)
    last_step = self._last_step_rows(np.stack([ts.rewards for ts in timesteps]))
    if self._forward_concrete is None:
      # Calling the traced function directly skips tf.function's per-call lookup.
      self._forward_concrete = self._forward.get_concrete_function(
          observations, last_step, state, time_left)
    self._last = self._forward_concrete(observations, last_step, state, time_left)
    scale = self._influence.scale if self._influence is not None else None
    self._reward_factor = 1.0 if scale is None else scale.factor()
    return self._last["actions"].numpy()

  @property
  def pairings(self) -> Optional[List[str]]:
    """Per copy, who plays each slot in a partner pool ("R-N": a Reciprocator in slot
    0, a naive partner in slot 1); None without naive partners."""
    if not any(group.naive_partner for group in self._groups):
      return None
    return ["-".join("N" if self._groups[g].naive_partner else "R" for g, _ in slots)
            for slots in self._slots_of_env]

  @property
  def reward_scale(self) -> Optional[reciprocal.ExtrinsicScale]:
    """The running scale of r_rec, if any (its statistics are checkpointed)."""
    return self._influence.scale if self._influence is not None else None

  @property
  def random_state(self) -> tf.Variable:
    """The actor's sampling seed (checkpointed so a resumed run continues its stream)."""
    return self._seed

  def close(self) -> None:
    """Runs the queued writes, then releases the writers while the Reverb server is
    still up (a writer flushes when it is released; with the server gone that waits
    for a timeout)."""
    self.flush_writes()
    for writer in self._writers or []:
      writer.close()
    self._writers = None
    self._recording[:] = False

  def last_reciprocal(self) -> Optional[Dict[str, np.ndarray]]:
    """VoI [E, N, N], reciprocal reward [E, N] and balances of the last step (logs)."""
    if self._influence is None or self._last is None:
      return None
    out = {k: self._last[k].numpy() for k in ("voi", "reciprocal_reward", "lagged_balance",
                                              "partner_influence", "rewarded_voi")
           if k in self._last}
    out["reciprocal_reward"] = (self._reciprocal_reward_raw(out["reciprocal_reward"])
                                * np.float32(self._reward_factor))
    return out

  def _reciprocal_reward_raw(self, r_rec: np.ndarray) -> np.ndarray:
    """[E, N] r_rec of the step before scaling, 0 for the naive learners' seats."""
    if self._reciprocal_seats is None:
      return r_rec
    return np.where(self._reciprocal_seats, r_rec, np.zeros_like(r_rec))

  def observe(self, actions: np.ndarray, next_timesteps: Sequence[Any]) -> List[bool]:
    """Records the step's outcome; returns which environments ended their episode."""
    if self._influence is not None:
      raw = self._reciprocal_reward_raw(self._last["reciprocal_reward"].numpy())
      reciprocal_reward = raw * np.float32(self._reward_factor)   # What the learner sees.
      if self._influence.scale is not None:
        self._influence.scale.update(
            np.stack([ts.rewards for ts in next_timesteps]),
            raw if self._reciprocal_seats is None else raw[self._reciprocal_seats])
    self._previous_actions[:] = actions
    self._has_previous[:] = True   # observe_first clears it where an episode restarts.
    ended = [ts.last() for ts in next_timesteps]
    if self._writers is None:
      return ended
    rewards = np.stack([ts.rewards for ts in next_timesteps])   # [E, N]
    # What depends on state the next step changes is computed now; the rest (tensor
    # reads, slicing, the appends) when the write runs.
    next_last_step = self._last_step_rows(rewards)
    next_time_left = self._time_left(np.array([ts.step for ts in next_timesteps]))
    last = self._last
    shaped = reciprocal_reward if self._influence is not None else None
    self._write(lambda: self._write_step(last, actions, next_timesteps, rewards, shaped,
                                         next_last_step, next_time_left))
    return ended

  def _write_step(self, last: Dict[str, Any], actions: np.ndarray,
                  next_timesteps: Sequence[Any], rewards: np.ndarray,
                  reciprocal_reward: Optional[np.ndarray], next_last_step: np.ndarray,
                  next_time_left: np.ndarray) -> None:
    """Appends one joint step to every copy's writer (observe's write)."""
    shaping = collective_shaping(rewards) if self._collective_reward else None
    partner = (last["partner_influence"].numpy() if "partner_influence" in last
               else None)                                       # [E, N], once per step.
    # Per group, the extras' leaves [E*G, ...] in tree.flatten order (the writer's).
    flat_extras = []
    for g, seats in enumerate(self._seats):
      extras = tree.map_structure(lambda x: x.numpy(), last["extras"][g])
      copies, slots = seats[:, 0], seats[:, 1]    # Row order of the group's batch.
      if self._influence is not None:
        extras[RECIPROCAL_REWARD] = reciprocal_reward[copies, slots]
      if partner is not None:
        extras[PARTNER_INFLUENCE] = partner[copies, slots]
      if shaping is not None:
        extras[COLLECTIVE_SHAPING] = shaping[copies, slots]
      flat_extras.append(tree.flatten(extras))
    next_rows = last["next_balance"].numpy() if self._balance_observation else None
    actions = actions.astype(np.int64)
    for e, ts in enumerate(next_timesteps):
      player_extras = [[leaf[slot] for leaf in flat_extras[g]]
                       for g, slot in self._slots_of_env[e]]
      self._writers[e].step(actions[e], ts.rewards, ts.discount, player_extras,
                            self._player_observations(ts, e, next_rows, next_last_step),
                            ts.last(), ts.state, next_time_left[e])
