"""The paper's two games as batched NumPy environments (ALGORITHM.md section 4).

Both step a whole batch of independent games at once (no Python loop per game) and
have a fixed horizon of 32 steps, after which every game of the batch ends.

IPD: memory-1 iterated prisoner's dilemma. Actions C = 0, D = 1. Payoffs (row,
column): CC (-1, -1), CD (-3, 0), DC (0, -3), DD (-2, -2). Each player observes a
one-hot of 5 states from its own point of view: start, then (mine, theirs) in
CC, CD, DC, DD order.

Coins: N players (2 or 3) on a 3x3 torus, one coin per player always present.
Actions right, left, down, up, stay. After all moves, every player standing on a
coin takes it: +1 for any coin; the coin's owner gets -N/(N-1) for each *other*
player that takes it. Taken coins respawn at a uniformly random cell. Each player
observes 2N one-hot 3x3 planes, egocentric: own position, the others' positions
(in player order after itself), own coin, the others' coins (same order).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

EPISODE_LENGTH = 32

IPD_PAYOFFS = np.array([[[-1., -1.], [-3., 0.]],
                        [[0., -3.], [-2., -2.]]], np.float32)  # [a0, a1] -> (r0, r1)
COOPERATE, DEFECT = 0, 1

# Coins moves as (row, column) offsets.
MOVES = np.array([[0, 1], [0, -1], [1, 0], [-1, 0], [0, 0]], np.int64)
MOVE_NAMES = ("right", "left", "down", "up", "stay")


class BatchedStep(NamedTuple):
  """observations [B, N, ...] (per player); state [B, F] (global, for the estimators);
  rewards [B, N]; done: whether this step ended the episode (all games at once);
  step: steps taken in the episode; info: game-specific arrays."""
  observations: np.ndarray
  state: np.ndarray
  rewards: np.ndarray
  done: bool
  step: int
  info: dict


class BatchedIPD:
  """`batch_size` memory-1 IPD games between two players."""

  num_players = 2
  num_actions = 2
  observation_size = 5
  state_size = 5
  # The memory-1 states in one-hot order: start, then (my last action, theirs).
  STATE_NAMES = ("start", "cc", "cd", "dc", "dd")

  def __init__(self, batch_size: int, episode_length: int = EPISODE_LENGTH):
    self.batch_size = batch_size
    self.episode_length = episode_length
    self._step = 0
    self._previous = None

  @staticmethod
  def observe(previous: Optional[np.ndarray], batch_size: int) -> np.ndarray:
    """[B, 2, 5] one-hots; `previous` is the last joint action [B, 2] or None."""
    obs = np.zeros((batch_size, 2, 5), np.float32)
    if previous is None:
      obs[:, :, 0] = 1.0
      return obs
    mine, theirs = previous[:, 0], previous[:, 1]
    obs[np.arange(batch_size), 0, 1 + 2 * mine + theirs] = 1.0
    obs[np.arange(batch_size), 1, 1 + 2 * theirs + mine] = 1.0
    return obs

  @classmethod
  def all_states(cls) -> np.ndarray:
    """[5, 5]: one observation of each memory-1 state, in STATE_NAMES order."""
    return np.eye(len(cls.STATE_NAMES), dtype=np.float32)

  def reset(self) -> BatchedStep:
    self._step = 0
    self._previous = None
    obs = self.observe(None, self.batch_size)
    return BatchedStep(obs, obs[:, 0], np.zeros((self.batch_size, 2), np.float32), False, 0, {})

  def step(self, actions: np.ndarray) -> BatchedStep:
    actions = np.asarray(actions, np.int64)
    rewards = IPD_PAYOFFS[actions[:, 0], actions[:, 1]]
    self._previous = actions
    self._step += 1
    obs = self.observe(actions, self.batch_size)
    return BatchedStep(obs, obs[:, 0], rewards, self._step >= self.episode_length,
                       self._step, {"cooperated": actions == COOPERATE})


class BatchedCoins:
  """`batch_size` Coins games between `num_players` players on a torus grid."""

  num_actions = 5

  def __init__(self, batch_size: int, num_players: int = 2, grid_size: int = 3,
               episode_length: int = EPISODE_LENGTH, seed: Optional[int] = None):
    if num_players < 2:
      raise ValueError(f"Coins needs at least 2 players; got {num_players}")
    self.batch_size = batch_size
    self.num_players = num_players
    self.grid_size = grid_size
    self.episode_length = episode_length
    self.penalty = num_players / (num_players - 1)
    self.observation_size = 2 * num_players * grid_size * grid_size
    self.state_size = self.observation_size
    # The state (player 0's planes) is 2N one-hot factors of G*G cells: what the
    # model-based future term of VoI (recip_acme.influence.transition) enumerates.
    self.state_factors = (grid_size * grid_size,) * (2 * num_players)
    self._rng = np.random.default_rng(seed)
    self._step = 0
    self.agents = np.zeros((batch_size, num_players, 2), np.int64)
    self.coins = np.zeros((batch_size, num_players, 2), np.int64)
    # Player i's view lists players in the order i, i+1, ..., i-1.
    self._order = np.array([[(i + k) % num_players for k in range(num_players)]
                            for i in range(num_players)])

  def _random_cells(self, shape) -> np.ndarray:
    return self._rng.integers(0, self.grid_size, size=tuple(shape) + (2,))

  def set_state(self, agents: np.ndarray, coins: np.ndarray) -> BatchedStep:
    """Places agents and coins [B, N, 2] by hand (for tests and evaluation)."""
    self.agents = np.array(agents, np.int64) % self.grid_size
    self.coins = np.array(coins, np.int64) % self.grid_size
    self._step = 0
    return self._output(np.zeros((self.batch_size, self.num_players), np.float32), False, {})

  def planes(self, viewer: int) -> np.ndarray:
    """[B, 2N, G, G]: viewer-ordered agent planes then coin planes."""
    b, n, g = self.batch_size, self.num_players, self.grid_size
    out = np.zeros((b, 2 * n, g, g), np.float32)
    rows = np.arange(b)
    for k, player in enumerate(self._order[viewer]):
      out[rows, k, self.agents[:, player, 0], self.agents[:, player, 1]] = 1.0
      out[rows, n + k, self.coins[:, player, 0], self.coins[:, player, 1]] = 1.0
    return out

  def _output(self, rewards, done, info) -> BatchedStep:
    obs = np.stack([self.planes(i).reshape(self.batch_size, -1)
                    for i in range(self.num_players)], axis=1)
    return BatchedStep(obs, obs[:, 0], rewards, done, self._step, info)

  def reset(self) -> BatchedStep:
    self.agents = self._random_cells((self.batch_size, self.num_players))
    self.coins = self._random_cells((self.batch_size, self.num_players))
    self._step = 0
    return self._output(np.zeros((self.batch_size, self.num_players), np.float32), False, {})

  def step(self, actions: np.ndarray) -> BatchedStep:
    actions = np.asarray(actions, np.int64)
    self.agents = (self.agents + MOVES[actions]) % self.grid_size
    # taken[b, i, c]: player i stands on coin c after moving.
    taken = np.all(self.agents[:, :, None, :] == self.coins[:, None, :, :], axis=-1)
    rewards = taken.sum(axis=2).astype(np.float32)                  # +1 per coin taken.
    others = taken & ~np.eye(self.num_players, dtype=bool)[None]    # i took c's coin, i != c.
    rewards -= self.penalty * others.sum(axis=1)                    # Owner c pays per taker.
    collected = taken.any(axis=1)                                   # [B, N] coin c was taken.
    fresh = self._random_cells((self.batch_size, self.num_players))
    self.coins = np.where(collected[..., None], fresh, self.coins)
    self._step += 1
    info = {"coins_taken": taken.astype(np.int64)}                   # [B, taker, owner]
    return self._output(rewards, self._step >= self.episode_length, info)


def coins_episode_metrics(coins_taken: np.ndarray, rewards: np.ndarray,
                          reciprocal_rewards: Optional[np.ndarray] = None,
                          voi: Optional[np.ndarray] = None,
                          balance: Optional[np.ndarray] = None,
                          action_probabilities: Optional[np.ndarray] = None,
                          window: int = 8) -> dict:
  """Per-episode Coins metrics from stacked [T, B, N, N] takes and [T, B, N] rewards.

  Returns per player i (averaged over the batch): own and other coins taken, and
  P(own coin) = own / total over all players; plus total extrinsic reward. With the
  [T, B, N] reciprocal rewards of the same steps: player i's mean r_rec on the steps it
  took its own coin, the opponent's coin, and no coin (NaN where there was none), i.e.
  what the reciprocal reward pays for collecting, which the extrinsic reward alone
  cannot say.

  With two players and the [T, B, N(j), N(i)] VoI and [T, B, N(i), N(j)] lagged
  balances of the same steps, what r_rec is made of at the events that matter for
  retaliation (#15): player i's estimated VoI on its partner when i took the partner's
  coin (`voi_on_partner_at_other_coin`), the partner's estimated VoI on i when the
  partner took i's coin (`partner_voi_at_lost_coin`), and i's balance towards the
  partner at i's takes of the partner's coin (`balance_at_other_coin`). With the
  [T, B, N] probabilities each player's policy gave the action it took: that
  probability at i's takes of the partner's coin (`action_probability_at_other_coin`):
  a near-certain take is one the counterfactual estimator already expects, so its VoI
  is small whatever its extrinsic effect.

  With two players, what a take of the partner's coin costs the taker later, which is
  all that can shape a naive learner (#15): over the `window` steps after i took the
  partner's coin, and after i took its own, the partner's takes of i's coins
  (`partner_takes_after_{other,own}_coin`) and i's own extrinsic reward
  (`reward_after_{other,own}_coin`). Only events with a full window left count, so the
  two sides compare equal spans. A partner whose takes do not rise after i's take does
  not punish it, whatever its reciprocal reward says.
  """
  per_game = coins_taken.sum(axis=0)                                # [B, taker, owner]
  n = per_game.shape[-1]
  own = np.einsum("bii->bi", per_game)                              # [B, N]
  total = per_game.sum(axis=2)                                      # [B, N]
  out = {"total_reward": float(rewards.sum(axis=(0, 2)).mean()),
         "p_own_coin": float(own.sum() / max(total.sum(), 1))}
  for i in range(n):
    out[f"own_coins_p{i}"] = float(own[:, i].mean())
    out[f"other_coins_p{i}"] = float((total[:, i] - own[:, i]).mean())
    out[f"reward_p{i}"] = float(rewards[..., i].sum(axis=0).mean())
    out[f"p_own_coin_p{i}"] = float(own[:, i].sum() / max(total[:, i].sum(), 1))
  own_steps = np.einsum("tbii->tbi", coins_taken)                  # [T, B, taker]
  took_own, took_other = own_steps > 0, (coins_taken.sum(axis=3) - own_steps) > 0
  if reciprocal_rewards is not None:
    for i in range(n):
      for label, mask in (("own", took_own[..., i]), ("other", took_other[..., i]),
                          ("none", ~(took_own[..., i] | took_other[..., i]))):
        out[f"reciprocal_reward_at_{label}_coin_p{i}"] = _event_mean(
            reciprocal_rewards[..., i][mask])
  if voi is not None and balance is not None and n == 2:
    for i in range(n):
      j = 1 - i
      out[f"voi_on_partner_at_other_coin_p{i}"] = _event_mean(voi[:, :, i, j][took_other[..., i]])
      out[f"partner_voi_at_lost_coin_p{i}"] = _event_mean(voi[:, :, j, i][took_other[..., j]])
      out[f"balance_at_other_coin_p{i}"] = _event_mean(balance[:, :, i, j][took_other[..., i]])
  if n == 2:
    out.update(_after_take_metrics(took_own, took_other, rewards, window))
  if action_probabilities is not None:
    for i in range(n):
      out[f"action_probability_at_other_coin_p{i}"] = _event_mean(
          action_probabilities[..., i][took_other[..., i]])
  return out


def _event_mean(x: np.ndarray) -> float:
  """The mean of the selected events, NaN where there were none."""
  return float(x.mean()) if x.size else float("nan")


def _after_take_metrics(took_own: np.ndarray, took_other: np.ndarray,
                        rewards: np.ndarray, window: int) -> dict:
  """Two-player sums over the `window` steps after each take (see coins_episode_metrics)."""
  steps = took_own.shape[0]
  out = {}
  if steps <= window:
    return out

  def following(x: np.ndarray) -> np.ndarray:
    # [T - window, B]: x summed over steps t+1 .. t+window, for each t with a full window.
    running = np.concatenate([np.zeros_like(x[:1]), np.cumsum(x, axis=0)])
    return running[window + 1:] - running[1:steps - window + 1]

  for i in range(2):
    lost = following(took_other[..., 1 - i].astype(np.float64))
    later_reward = following(rewards[..., i].astype(np.float64))
    for label, took in (("other", took_other[..., i]), ("own", took_own[..., i])):
      events = took[:steps - window]
      out[f"partner_takes_after_{label}_coin_p{i}"] = _event_mean(lost[events])
      out[f"reward_after_{label}_coin_p{i}"] = _event_mean(later_reward[events])
  return out
