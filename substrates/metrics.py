"""Episode metrics that Melting Pot does not report itself.

Coins (ALGORITHM.md section 4): for player i, +1 for any coin it takes, -2 each time
its partner takes i's coin, and the observation MISMATCHED_COIN_COLLECTED_BY_PARTNER
is 1 on the steps where the partner took i's coin. Hence, per step,
coins taken by i = r_i + 2 * m_i, of which m_partner were the partner's coin.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

MISMATCH = "MISMATCHED_COIN_COLLECTED_BY_PARTNER"


class CoinsTally:
  """Accumulates own/other coins per player over one episode of 2-player coins."""

  def __init__(self, num_players: int = 2, mismatch_penalty: float = 2.0):
    if num_players != 2:
      raise ValueError("Melting Pot coins has 2 players")
    self._penalty = mismatch_penalty
    self.own = np.zeros(2)
    self.other = np.zeros(2)

  def add(self, rewards: np.ndarray, signals: Dict[str, np.ndarray]) -> None:
    mismatch = np.asarray(signals[MISMATCH], np.float64)
    taken = np.asarray(rewards, np.float64) + self._penalty * mismatch
    other = mismatch[::-1]              # Partner's coins taken by me = partner's flag.
    self.own += taken - other
    self.other += other

  def summary(self) -> Dict[str, float]:
    total = self.own.sum() + self.other.sum()
    out = {"p_own_coin": float(self.own.sum() / total) if total else float("nan"),
           "own_coins": float(self.own.sum()), "other_coins": float(self.other.sum())}
    for i in range(2):
      out[f"own_coins_p{i}"] = float(self.own[i])
      out[f"other_coins_p{i}"] = float(self.other[i])
    return out


def make_tally(substrate_name: str, num_players: int) -> Optional[CoinsTally]:
  return CoinsTally(num_players) if substrate_name == "coins" else None
