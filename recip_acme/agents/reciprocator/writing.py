"""One Reverb trajectory writer per environment copy, for every player at once.

Why: with Acme's adders, an environment step of E copies and N players made 2*E*N
Python ``append`` calls, each with its own tree flattening, writer and per-slot
slicing of the extras; that was about half of the actor's time (README, Throughput).
Here each copy appends the joint step once, as one flat tuple of columns with a
column per player and field: the observations are held until the actions, rewards
and extras that complete their step arrive (Acme's adders' two appends per step, a
partial one and the one that completes it, cost 1.6x one append of the same columns:
`benchmarks/throughput.py --sections writes`); the start-of-episode flag and the
discount, the same for every player, are one column each, since an append costs per
column. Items are then cut per player from the
same history, exactly as Acme's ``SequenceAdder`` cuts them (same length, period and
zero padding at an episode's end, pinned step for step by tests/test_writing.py), so
the wrapped learner samples what it always sampled. The influence learner's joint
experience is one more item per finished episode over the same columns (the players'
action and reward columns, and two joint ones: the estimators' state and time left),
so nothing of an episode is written twice.
"""

from __future__ import annotations

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
  # The same, flat (the appends run every step, so no tree walks there).
  observation_columns: List[int]
  extras_columns: List[int]
  single_array_observation: bool   # The observation is one array (not a structure).


# One column each for all players (the same value for each; an append costs per column).
START_COLUMN, DISCOUNT_COLUMN = 0, 1


def _column_layout(observations: Sequence[Any], extras: Sequence[Any]):
  """Column indices: START_COLUMN and DISCOUNT_COLUMN, per player its fields, then the
  joint state and time left."""
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
  return players, k, k + 1, k + 2    # players, state column, time-left column, width


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
    self._tables = list(player_tables)
    self._layout = layout
    self._num_players = len(self._tables)
    self._players, self._state_col, self._time_col, self._width = _column_layout(
        observation_examples, extras_examples)
    self._joint_table = joint_table
    self._max_episode_steps = max_episode_steps
    self._max_in_flight = max_in_flight_items * self._num_players
    # The joint item spans a whole episode, so the columns it reads keep that many
    # refs; the rest keep one sequence's worth. (The writer's own setting must be the
    # longest: it also sizes the Python-side history of every column.)
    short_refs = layout.sequence_length + 1
    long_refs = max(max_episode_steps + 2, short_refs) if joint_table is not None else short_refs
    self._writer = client.trajectory_writer(num_keep_alive_refs=long_refs)
    if long_refs > short_refs:
      short_columns = {START_COLUMN, DISCOUNT_COLUMN}
      for p in self._players:
        short_columns.update(p.observation_columns + p.extras_columns)
      for column in sorted(short_columns):
        self._writer.configure((column,), num_keep_alive_refs=short_refs,
                               max_chunk_length=None)
    # Zeros of every column: Acme's dummy step after the last one, and its padding.
    self._zeros: List[Any] = [None] * self._width
    for p, observation, extras in zip(self._players, observation_examples, extras_examples):
      for col, leaf in zip(p.observation_columns, tree.flatten(observation)):
        self._zeros[col] = np.zeros_like(leaf)
      for col, leaf in zip(p.extras_columns, tree.flatten(extras)):
        self._zeros[col] = np.zeros_like(leaf)
      self._zeros[p.action] = np.zeros((), action_dtype)
      self._zeros[p.reward] = np.float32(0)
    self._zeros[START_COLUMN] = np.bool_(False)
    self._zeros[DISCOUNT_COLUMN] = np.float32(0)
    self._zeros[self._state_col] = np.zeros(state_size, np.float32)
    self._zeros[self._time_col] = np.float32(0)
    self._record_policy = False
    self._open = False
    # The observation columns of the step in progress (set by `first` and `step`,
    # written with the step's outcome).
    self._pending: List[Any] = []

  @property
  def zero_step(self) -> tuple:
    """One joint step of zeros, a column each (its padding; benchmarks time it)."""
    return tuple(self._zeros)

  @property
  def observation_columns(self) -> List[int]:
    """The columns a step's observations set (the rest come with its outcome)."""
    columns = [self._state_col, self._time_col, START_COLUMN]
    for p in self._players:
      columns += p.observation_columns
    return sorted(columns)

  # -- Appends. -------------------------------------------------------------------

  def _hold_observations(self, observations: Sequence[Any], first: bool,
                         state: np.ndarray, time_left: float) -> None:
    """Starts the next step's row: its observation columns, the rest None."""
    row: List[Any] = [None] * self._width
    start = np.bool_(first)
    for p, observation in zip(self._players, observations):
      if p.single_array_observation:
        row[p.observation_columns[0]] = observation
      else:
        for col, leaf in zip(p.observation_columns, tree.flatten(observation)):
          row[col] = leaf
    row[START_COLUMN] = start
    row[self._state_col] = np.asarray(state, np.float32)
    row[self._time_col] = np.float32(time_left)
    self._pending = row

  def _complete(self, actions: Sequence[Any], rewards: Sequence[Any], discount: float,
                extras: Sequence[Sequence[Any]]) -> None:
    """Appends the held observations with the outcome of their step."""
    row = self._pending
    row[DISCOUNT_COLUMN] = np.float32(discount)
    for p, action, reward, flat_extras in zip(self._players, actions, rewards, extras):
      row[p.action] = action
      row[p.reward] = np.float32(reward)
      for col, leaf in zip(p.extras_columns, flat_extras):
        row[col] = leaf
    self._writer.append(tuple(row))

  def first(self, observations: Sequence[Any], state: np.ndarray, time_left: float,
            record_policy: bool) -> None:
    """An episode begins: each player's first observation (Acme's add_first)."""
    if self._open:
      self._writer.end_episode(clear_buffers=True)
    self._record_policy = record_policy
    self._open = True
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

  # -- Items. ---------------------------------------------------------------------

  def _player_trajectory(self, history, p: PlayerColumns, rows: slice):
    column = lambda col: history[col][rows]   # noqa: E731
    return adders_base.Trajectory(
        observation=tree.map_structure(column, p.observation),
        action=column(p.action), reward=column(p.reward), discount=column(p.discount),
        start_of_episode=column(p.start_of_episode),
        extras=tree.map_structure(column, p.extras))

  def _maybe_create_items(self, force: bool = False) -> None:
    """Acme SequenceAdder._maybe_create_item, for every player (always the layout's full
    sequence length: the end of an episode is zero-padded up to it)."""
    steps, length, period = (self._writer.episode_steps, self._layout.sequence_length,
                             self._layout.period)
    first_write = steps == length
    period_reached = steps > length and (steps - length) % period == 0
    if not (first_write or period_reached or force):
      return
    rows = slice(-length, None)   # Every appended step is complete.
    history = self._writer.history
    for p, table in zip(self._players, self._tables):
      self._writer.create_item(table, 1.0, self._player_trajectory(history, p, rows))
    self._writer.flush(self._max_in_flight)

  def _end_episode(self) -> None:
    """Acme's end of episode (dummy step, zero padding, last item), then the joint item."""
    # Acme's dummy step after the last one: the last observations, zeros elsewhere.
    self._writer.append(tuple(zero if held is None else held
                              for held, zero in zip(self._pending, self._zeros)))
    episode_length = self._writer.episode_steps - 1    # Transitions; the dummy step is extra.
    if self._joint_table is not None:
      if episode_length > self._max_episode_steps:
        raise ValueError(f"an episode of {episode_length} steps is longer than the writer's "
                         f"max_episode_steps={self._max_episode_steps}")
      history = self._writer.history
      rows = slice(-episode_length - 1, -1)
      self._writer.create_item(self._joint_table, 1.0, {
          "state": history[self._state_col][rows],
          "actions": tuple(history[p.action][rows] for p in self._players),
          "rewards": tuple(history[p.reward][rows] for p in self._players),
          "time_left": history[self._time_col][rows]})
    if self._record_policy:
      length, period = self._layout.sequence_length, self._layout.period
      delta = length - self._writer.episode_steps
      if delta < 0:
        delta = (period + delta) % period
      for _ in range(delta):
        self._writer.append(tuple(self._zeros))
      self._maybe_create_items(force=True)
    self._writer.end_episode(clear_buffers=True)
    self._open = False

  def close(self) -> None:
    """Flushes what is pending and releases the writer (before the server stops)."""
    self._writer.close()
