"""One Reverb trajectory writer per environment copy, for every player at once.

Why: with Acme's adders, an environment step of E copies and N players made 2*E*N
Python ``append`` calls, each with its own tree flattening, writer and per-slot
slicing of the extras; that was about half of the actor's time (README, Throughput).
A Reverb append costs per column (~9 us each on coins, 18 columns a step:
`benchmarks/throughput.py --sections writes`), whatever the column holds. So this
writer appends nothing per step: it keeps the episode's completed steps in NumPy
(the last sequence's worth of every player's fields, and the whole episode's states,
actions, rewards and time left), and when an item is due it appends one row whose
cells are whole sequences, ``[T, ...]`` per field, and points each item at that row's
cell (a squeezed one-row reference). The learner samples exactly the ``[T, ...]``
sequences Acme's ``SequenceAdder`` would have written: same length, period and zero
padding at an episode's end, pinned step for step by tests/test_writing.py. The
influence learner's joint experience is one more row per finished episode (the
estimators' state, time left, and every player's actions and rewards), the only place
an episode's states are written. The price is that overlapping sequences (R2D2's;
IMPALA's do not overlap) are stored once per item rather than shared.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, List, Optional, Sequence

import numpy as np
import reverb
import tensorflow as tf
import tree
from acme.adders.reverb import base as adders_base

from recip_acme.agents import base


@dataclasses.dataclass(frozen=True)
class PlayerColumns:
  """Column indices of one player's fields in the flat step tuple."""
  observation: Any     # Structure of the observation, leaves are column indices.
  start_of_episode: int   # START_COLUMN, shared by all players.
  action: int
  reward: int
  discount: int           # DISCOUNT_COLUMN, shared by all players.
  extras: Any          # Structure of the extras, leaves are column indices.
  # The same, flat (the rows are filled every step, so no tree walks there).
  observation_columns: List[int]
  extras_columns: List[int]
  single_array_observation: bool   # The observation is one array (not a structure).


# One column each for all players (the same value for each).
START_COLUMN, DISCOUNT_COLUMN = 0, 1


def _column_layout(observations: Sequence[Any], extras: Sequence[Any]):
  """Column indices: START_COLUMN and DISCOUNT_COLUMN, then per player its fields."""
  players, k = [], DISCOUNT_COLUMN + 1
  for observation, player_extras in zip(observations, extras):
    obs_leaves, extras_leaves = len(tree.flatten(observation)), len(tree.flatten(player_extras))
    obs = tree.unflatten_as(observation, list(range(k, k + obs_leaves)))
    k += obs_leaves
    action, reward = k, k + 1
    k += 2
    ext = tree.unflatten_as(player_extras, list(range(k, k + extras_leaves)))
    k += extras_leaves
    players.append(PlayerColumns(
        obs, START_COLUMN, action, reward, DISCOUNT_COLUMN, ext, tree.flatten(obs),
        tree.flatten(ext), isinstance(observation, np.ndarray)))
  return players, k    # players, number of columns


def joint_experience_signature(state_size: int, action_dtype: Any,
                               num_players: int) -> dict:
  """The joint-experience table's items: one episode, per player action and reward."""
  return {"state": tf.TensorSpec([None, state_size], tf.float32),
          "actions": tuple(tf.TensorSpec([None], action_dtype) for _ in range(num_players)),
          "rewards": tuple(tf.TensorSpec([None], tf.float32) for _ in range(num_players)),
          "time_left": tf.TensorSpec([None], tf.float32)}


class JointTrajectoryWriter:
  """Writes one environment copy's joint steps (see the module docstring).

  ``observation_examples`` and ``extras_examples`` hold one example (any values, the
  right structure, shapes and dtypes) per player.
  Call ``first`` at an episode's start and ``step`` after each environment step; the
  arguments are per player (lists of length N). ``record_policy`` (given at ``first``)
  says whether this episode's player items are written; the joint-experience item is
  written whenever a ``joint_table`` was given.
  """

  def __init__(self, client: reverb.Client, player_tables: Sequence[str],
               layout: base.SequenceLayout, observation_examples: Sequence[Any],
               extras_examples: Sequence[Any],
               action_dtype: Any = np.int64, joint_table: Optional[str] = None,
               state_size: int = 0, max_episode_steps: int = 5000,
               max_in_flight_items: int = 2):
    self._client = client
    self._tables = list(player_tables)
    self._layout = layout
    self._num_players = len(self._tables)
    # A row of sequences fills every column.
    self._players, self._num_columns = _column_layout(
        observation_examples, extras_examples)
    self._joint_table = joint_table
    self._action_dtype = action_dtype
    self._max_episode_steps = max_episode_steps
    self._max_in_flight = max_in_flight_items * self._num_players
    # Every item points at the newest row only.
    self._writer = client.trajectory_writer(num_keep_alive_refs=1)
    # Zeros of every column: Acme's dummy step after the last one, and its padding.
    self._zeros: List[Any] = [None] * self._num_columns
    for p, observation, extras in zip(self._players, observation_examples, extras_examples):
      for col, leaf in zip(p.observation_columns, tree.flatten(observation)):
        self._zeros[col] = np.zeros_like(leaf)
      for col, leaf in zip(p.extras_columns, tree.flatten(extras)):
        self._zeros[col] = np.zeros_like(leaf)
      self._zeros[p.action] = np.zeros((), action_dtype)
      self._zeros[p.reward] = np.float32(0)
    self._zeros[START_COLUMN] = np.bool_(False)
    self._zeros[DISCOUNT_COLUMN] = np.float32(0)
    self._state_zeros = np.zeros(state_size, np.float32)
    self._record_policy = False
    # The episode so far, in NumPy: the newest sequence's worth of completed steps
    # (rows of player columns), how many steps Acme's adder would have appended, and
    # per transition what the joint item needs.
    self._steps: collections.deque = collections.deque(maxlen=layout.sequence_length)
    self._episode_steps = 0
    self._states: List[np.ndarray] = []
    self._times: List[np.float32] = []
    self._actions: List[np.ndarray] = []
    self._rewards: List[np.ndarray] = []
    # The step in progress: its observation columns (written with its outcome), and
    # the estimators' state and time left that belong to its observations.
    self._pending: List[Any] = []
    self._pending_state = self._state_zeros
    self._pending_time = np.float32(0)

  @property
  def zero_step(self) -> tuple:
    """One joint step of zeros, a column each (its padding; benchmarks time it)."""
    return tuple(self._zeros)

  # -- Steps, kept in NumPy. --------------------------------------------------------

  def _hold_observations(self, observations: Sequence[Any], first: bool,
                         state: np.ndarray, time_left: float) -> None:
    """Starts the next step's row: its observation columns, the rest None."""
    row: List[Any] = [None] * self._num_columns
    for p, observation in zip(self._players, observations):
      if p.single_array_observation:
        row[p.observation_columns[0]] = observation
      else:
        for col, leaf in zip(p.observation_columns, tree.flatten(observation)):
          row[col] = leaf
    row[START_COLUMN] = np.bool_(first)
    self._pending = row
    self._pending_state = np.asarray(state, np.float32)
    self._pending_time = np.float32(time_left)

  def _complete(self, actions: Sequence[Any], rewards: Sequence[Any], discount: float,
                extras: Sequence[Sequence[Any]]) -> None:
    """Completes the held observations' step with its outcome."""
    row = self._pending
    row[DISCOUNT_COLUMN] = np.float32(discount)
    for p, action, reward, flat_extras in zip(self._players, actions, rewards, extras):
      row[p.action] = action
      row[p.reward] = np.float32(reward)
      for col, leaf in zip(p.extras_columns, flat_extras):
        row[col] = leaf
    self._add_row(row)
    if self._joint_table is not None:
      self._states.append(self._pending_state)
      self._times.append(self._pending_time)
      self._actions.append(np.asarray(actions, self._action_dtype))
      self._rewards.append(np.asarray(rewards, np.float32))

  def _add_row(self, row: List[Any]) -> None:
    self._steps.append(row)
    self._episode_steps += 1

  def first(self, observations: Sequence[Any], state: np.ndarray, time_left: float,
            record_policy: bool) -> None:
    """An episode begins: each player's first observation (Acme's add_first)."""
    self._clear_episode()
    self._record_policy = record_policy
    self._hold_observations(observations, True, state, time_left)

  def step(self, actions: Sequence[Any], rewards: Sequence[Any], discount: float,
           extras: Sequence[Sequence[Any]], observations: Sequence[Any], last: bool,
           state: np.ndarray, time_left: float) -> None:
    """One environment step (Acme's add): per player the action taken, the flat
    extras (leaves in ``tree.flatten`` order) and what came back; ``state`` and
    ``time_left`` belong to the new observations."""
    self._complete(actions, rewards, discount, extras)
    self._hold_observations(observations, False, state, time_left)
    if self._record_policy:
      self._maybe_create_items()
    if last:
      self._end_episode()

  def _clear_episode(self) -> None:
    self._steps.clear()
    self._episode_steps = 0
    self._states, self._times, self._actions, self._rewards = [], [], [], []

  # -- Items: one append of whole sequences each. -------------------------------------

  def _maybe_create_items(self, force: bool = False) -> None:
    """Acme SequenceAdder._maybe_create_item, for every player (always the layout's full
    sequence length: the end of an episode is zero-padded up to it)."""
    steps, length, period = (self._episode_steps, self._layout.sequence_length,
                             self._layout.period)
    first_write = steps == length
    period_reached = steps > length and (steps - length) % period == 0
    if not (first_write or period_reached or force):
      return
    rows = self._steps    # The newest `length` steps, all complete.
    self._writer.append(tuple(np.stack([row[col] for row in rows])
                              for col in range(self._num_columns)))
    newest = self._writer.history
    cell = lambda col: newest[col][-1]   # noqa: E731  (squeezed: [T, ...])
    for p, table in zip(self._players, self._tables):
      self._writer.create_item(table, 1.0, adders_base.Trajectory(
          observation=tree.map_structure(cell, p.observation),
          action=cell(p.action), reward=cell(p.reward), discount=cell(p.discount),
          start_of_episode=cell(p.start_of_episode),
          extras=tree.map_structure(cell, p.extras)))
    self._writer.flush(self._max_in_flight)

  def _write_joint_item(self) -> None:
    """The episode's transitions for the influence learner. A writer of its own: a
    Reverb column keeps the shape of its first append, and episodes differ in length."""
    episode_length = len(self._states)
    if episode_length > self._max_episode_steps:
      raise ValueError(f"an episode of {episode_length} steps is longer than the writer's "
                       f"max_episode_steps={self._max_episode_steps}")
    actions, rewards = np.stack(self._actions), np.stack(self._rewards)
    n = self._num_players
    writer = self._client.trajectory_writer(num_keep_alive_refs=1)
    try:
      writer.append((np.stack(self._states), np.asarray(self._times, np.float32))
                    + tuple(actions[:, i] for i in range(n)) + tuple(rewards[:, i] for i in range(n)))
      cell = lambda col: writer.history[col][-1]   # noqa: E731
      writer.create_item(self._joint_table, 1.0, {
          "state": cell(0), "time_left": cell(1),
          "actions": tuple(cell(2 + i) for i in range(n)),
          "rewards": tuple(cell(2 + n + i) for i in range(n))})
      writer.flush()
    finally:
      writer.close()

  def _end_episode(self) -> None:
    """Acme's end of episode (dummy step, zero padding, last item), then the joint item."""
    # Acme's dummy step after the last one: the last observations, zeros elsewhere.
    self._add_row([zero if held is None else held
                   for held, zero in zip(self._pending, self._zeros)])
    if self._joint_table is not None:
      self._write_joint_item()
    if self._record_policy:
      length, period = self._layout.sequence_length, self._layout.period
      delta = length - self._episode_steps
      if delta < 0:
        delta = (period + delta) % period
      for _ in range(delta):
        self._add_row(list(self._zeros))
      self._maybe_create_items(force=True)
    self._writer.end_episode(clear_buffers=True)
    self._clear_episode()

  def close(self) -> None:
    """Writes the items still in flight and releases the writer (before the server
    stops; Reverb's close alone drops what is not yet flushed)."""
    self._writer.flush()
    self._writer.close()
