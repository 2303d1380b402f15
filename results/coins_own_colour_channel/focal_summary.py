"""Per-seed focal verdicts of the own-colour Reciprocators (hand-written; see STATUS.md).

Reads the coin-events report's pair-level rows (`../coins_focal_coin_events/
versus_independent.csv`, one row per Reciprocator pairing: its focal return minus a
stranger independent focal population's on the same background, with the SE of that
difference) and writes `focal_by_seed.csv`: per Reciprocator seed, the mean difference over
the backgrounds it met, its SE, and where it stands: exploited (below by 2 SE or more), below
(within 2 SE), above (within 2 SE) or ahead (above by 2 SE or more). Why per seed: #12's focal half is a claim about each trained
population, and the backgrounds share their control pairings, so pairings of one seed are
averaged, not counted as separate seeds. The SE of a mean over backgrounds treats the
pairings as independent (they share the control's episodes on a background only across
seeds, never within one).

    python results/coins_own_colour_channel/focal_summary.py
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
VERSUS = os.path.join(HERE, "..", "coins_focal_coin_events", "versus_independent.csv")
AGENT_PREFIX = "coins_reciprocator_colour_s"


def verdict(difference: float, se: float) -> str:
  """Where a difference from the independent focal return stands against its SE: the sign
  is always kept (a negative difference within 2 SE is 'below', not 'level')."""
  if difference <= -2 * se:
    return "exploited"
  if difference >= 2 * se:
    return "ahead"
  return "below" if difference < 0 else "above"


def by_seed(versus: pd.DataFrame) -> pd.DataFrame:
  """One row per Reciprocator seed from the pair-level rows of the report."""
  rows = versus[versus["agent"].str.startswith(AGENT_PREFIX)
                & versus["background_players"].isna()]
  out = []
  for agent, part in rows.groupby("agent", sort=True):
    difference = float(part["difference"].mean())
    se = float(np.sqrt((part["difference_se"] ** 2).sum()) / len(part))
    out.append(dict(seed=int(agent[len(AGENT_PREFIX):]), backgrounds=len(part),
                    pairings=" ".join(sorted(part["pairing"])), difference=difference,
                    difference_se=se, verdict=verdict(difference, se),
                    partner_coins_difference=float(part["focal_partner_coins_difference"].mean()),
                    coins_lost_difference=float(part["focal_coins_lost_difference"].mean())))
  return pd.DataFrame(out)


def main() -> None:
  table = by_seed(pd.read_csv(VERSUS))
  table.to_csv(os.path.join(HERE, "focal_by_seed.csv"), index=False, float_format="%.4g")
  print(table.round(2).to_string(index=False))


if __name__ == "__main__":
  main()
