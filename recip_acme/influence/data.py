"""Joint experience for the influence estimators: targets, batches and a small replay.

The estimators regress, for every step of an episode, each player's reward r_t and
discounted return from the next step on, G_{t+1} = sum_k gamma^k r_{t+1+k}
(Monte-Carlo within the episode). The learner samples uniformly from the joint
experience of the last K episodes; any object with this module's ``JointReplay``
methods can feed it (``EpisodeReplay`` below keeps it in memory for the batched
paper games; the Melting Pot agents use a Reverb table, see the agent's builder).
"""

from __future__ import annotations

import collections
from typing import NamedTuple, Optional, Protocol

import numpy as np


class JointBatch(NamedTuple):
  """A flat batch of joint steps, ``B`` samples.

  state [B, F] float; joint_action [B, N] int; reward [B, N]; next_return [B, N]
  (G_{t+1}); time_left [B] (scaled by the caller; zeros when unused);
  weight [B] (0 for padding, else 1); next_state [B, F], the state at t+1 (for the
  model-based future term), zeros where has_next_state [B] is 0 (the last step); both
  None when the replay was built without them.
  """
  state: np.ndarray
  joint_action: np.ndarray
  reward: np.ndarray
  next_return: np.ndarray
  time_left: np.ndarray
  weight: np.ndarray
  next_state: Optional[np.ndarray] = None
  has_next_state: Optional[np.ndarray] = None


def discounted_next_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
  """G_{t+1} for every t of one episode: ``rewards [T, ...]`` -> ``[T, ...]``.

  G_{T} = 0 (nothing after the last step); G_{t+1} = r_{t+1} + gamma * G_{t+2}.
  """
  rewards = np.asarray(rewards, np.float32)
  out = np.zeros_like(rewards)
  running = np.zeros_like(rewards[0])
  for t in range(rewards.shape[0] - 2, -1, -1):
    running = rewards[t + 1] + gamma * running
    out[t] = running
  return out


class JointReplay(Protocol):
  """What the influence learner needs from a replay of joint experience."""

  def sample(self, batch_size: int) -> JointBatch:
    ...

  def num_samples(self) -> int:
    ...

  def episodes_added(self) -> int:
    ...


class EpisodeReplay:
  """The last `max_episodes` episodes of joint experience, in memory.

  Episodes may carry a batch axis (``[T, B, ...]``, batched games: B parallel
  episodes count as one "episode" of the batch, as in the paper's K and k).

  ``with_next_state``: samples also carry each step's next state (the model-based
  future term needs it). Rows keep only the offset to their next step's row, so the
  states are stored once, and replays without it gather nothing more per sample.
  """

  def __init__(self, max_episodes: int, gamma: float, seed: Optional[int] = None,
               with_next_state: bool = False):
    if max_episodes < 1:
      raise ValueError(f"max_episodes must be >= 1; got {max_episodes}")
    self._episodes: collections.deque[JointBatch] = collections.deque(maxlen=max_episodes)
    self._next_offsets: collections.deque[np.ndarray] = collections.deque(maxlen=max_episodes)
    self._gamma = gamma
    self._rng = np.random.default_rng(seed)
    self._with_next_state = with_next_state
    self._added = 0
    self._flat: Optional[JointBatch] = None
    self._flat_next_offsets: Optional[np.ndarray] = None

  def add_episode(self, state: np.ndarray, joint_action: np.ndarray, reward: np.ndarray,
                  time_left: Optional[np.ndarray] = None) -> None:
    """Adds one episode, time-major: state [T, (B,) F], joint_action/reward [T, (B,) N];
    its return targets G_{t+1} are computed here."""
    state = np.asarray(state, np.float32)
    joint_action = np.asarray(joint_action)
    reward = np.asarray(reward, np.float32)
    next_return = discounted_next_returns(reward, self._gamma).astype(np.float32)
    num_steps = reward.shape[0]
    if (state.shape[0] != num_steps or joint_action.shape != reward.shape
        or next_return.shape != reward.shape):
      raise ValueError(f"episode arrays disagree: state {state.shape}, joint_action "
                       f"{joint_action.shape}, reward {reward.shape}, "
                       f"next_return {next_return.shape}")
    if time_left is None:
      time_left = np.zeros(reward.shape[:-1], np.float32)
    num_players = reward.shape[-1]
    # Rows are time-major: step t+1 of the same game is one step's rows further on.
    # The last step has no next state (offset 0).
    next_offsets = np.full(reward.shape[:-1], reward[0, ..., 0].size, np.int64)
    next_offsets[-1] = 0
    flat = JointBatch(
        state=state.reshape(-1, state.shape[-1]),
        joint_action=joint_action.reshape(-1, num_players).astype(np.int32),
        reward=reward.reshape(-1, num_players),
        next_return=next_return.reshape(-1, num_players),
        time_left=np.broadcast_to(np.asarray(time_left, np.float32),
                                  reward.shape[:-1]).reshape(-1),
        weight=np.ones(reward[..., 0].size, np.float32))
    self._episodes.append(flat)
    self._next_offsets.append(next_offsets.reshape(-1))
    self._added += 1
    self._flat = None

  def _all(self) -> JointBatch:
    if self._flat is None:
      self._flat = JointBatch(*(None if parts[0] is None else np.concatenate(parts)
                                for parts in zip(*self._episodes)))
      self._flat_next_offsets = np.concatenate(self._next_offsets)
    return self._flat

  def sample(self, batch_size: int) -> JointBatch:
    if not self._episodes:
      raise RuntimeError("the joint replay is empty: add an episode before fitting")
    data = self._all()
    idx = self._rng.integers(0, data.weight.shape[0], size=batch_size)
    batch = JointBatch(*(None if x is None else x[idx] for x in data))
    if not self._with_next_state:
      return batch
    offsets = self._flat_next_offsets[idx]
    has_next = (offsets > 0).astype(np.float32)
    return batch._replace(next_state=data.state[idx + offsets] * has_next[:, None],
                          has_next_state=has_next)

  def num_samples(self) -> int:
    return int(sum(e.weight.shape[0] for e in self._episodes))

  def episodes_added(self) -> int:
    return self._added
