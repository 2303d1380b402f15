"""Episode metrics that Melting Pot does not report itself.

Coins (ALGORITHM.md section 4): for player i, +1 for any coin it takes, -2 each time
its partner takes i's coin, and the observation MISMATCHED_COIN_COLLECTED_BY_PARTNER
is 1 on the steps where the partner took i's coin. Hence, per step,
coins taken by i = r_i + 2 * m_i, of which m_partner were the partner's coin.

Given the value of influence the joint actor computed for the step (VoI[j, i]: the
influence of j's action on i's return), the tally also checks the influence estimators
against the one event whose influence is known: when the partner takes i's coin, i loses
2 because of the partner's action, so VoI[partner, i] should be clearly negative on those
steps and near 0 on the others. Estimators that cannot see what an action does (e.g.
egocentric moves on a map too coarse to show the avatars' orientation) show ~0 on both.

Given the shaping the learner saw for the step (w * r_rec per player), it also splits
that shaping by what the player did: took its partner's coin, took its own coin, or
neither. Whether a Reciprocator is pushed away from its partner's coins at all is the
sign and size of the first, next to the game's +1 for any coin.
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
    # Sum and count of VoI[partner, i] on steps where the partner took i's coin, and on
    # all other player-steps.
    self.voi_at_loss = np.zeros(2)
    self.voi_elsewhere = np.zeros(2)
    # Sum and count of w * r_rec per event: [took partner's coin, took own, neither].
    self.shaping_sum = np.zeros(3)
    self.shaping_count = np.zeros(3)

  def add(self, rewards: np.ndarray, signals: Dict[str, np.ndarray],
          voi: Optional[np.ndarray] = None, shaping: Optional[np.ndarray] = None) -> None:
    mismatch = np.asarray(signals[MISMATCH], np.float64)
    taken = np.asarray(rewards, np.float64) + self._penalty * mismatch
    other = mismatch[::-1]              # Partner's coins taken by me = partner's flag.
    self.own += taken - other
    self.other += other
    if voi is not None:
      partner_on_me = np.array([voi[1, 0], voi[0, 1]], np.float64)
      lost = mismatch > 0
      self.voi_at_loss += [partner_on_me[lost].sum(), lost.sum()]
      self.voi_elsewhere += [partner_on_me[~lost].sum(), (~lost).sum()]
    if shaping is not None:
      shaping = np.asarray(shaping, np.float64)
      took_partner = other > 0
      took_own = (taken - other > 0) & ~took_partner
      for k, mask in enumerate((took_partner, took_own, ~(took_partner | took_own))):
        self.shaping_sum[k] += shaping[mask].sum()
        self.shaping_count[k] += mask.sum()

  def summary(self) -> Dict[str, float]:
    total = self.own.sum() + self.other.sum()
    out = {"p_own_coin": float(self.own.sum() / total) if total else float("nan"),
           "own_coins": float(self.own.sum()), "other_coins": float(self.other.sum())}
    for i in range(2):
      out[f"own_coins_p{i}"] = float(self.own[i])
      out[f"other_coins_p{i}"] = float(self.other[i])
    if self.voi_elsewhere[1]:
      out["voi_partner_took_my_coin"] = (float(self.voi_at_loss[0] / self.voi_at_loss[1])
                                         if self.voi_at_loss[1] else float("nan"))
      out["voi_otherwise"] = float(self.voi_elsewhere[0] / self.voi_elsewhere[1])
    if self.shaping_count.sum():
      for k, name in enumerate(_SHAPING_EVENTS):
        out[f"shaping_{name}"] = (float(self.shaping_sum[k] / self.shaping_count[k])
                                  if self.shaping_count[k] else float("nan"))
    return out


_SHAPING_EVENTS = ("took_partner_coin", "took_own_coin", "otherwise")


def has_coin_tally(substrate_name: str) -> bool:
  """Whether episodes of this substrate get a CoinsTally (Melting Pot coins only)."""
  return substrate_name == "coins"


def make_tally(substrate_name: str, num_players: int) -> Optional[CoinsTally]:
  return CoinsTally(num_players) if has_coin_tally(substrate_name) else None
