"""Per-seed focal verdicts of the own-colour Reciprocators (hand-written; see STATUS.md).

Reads the coin-events report's pair-level rows (`../coins_focal_coin_events/
versus_independent.csv`, one row per Reciprocator pairing: its focal return minus a
stranger independent focal population's on the same background, with the SE of that
difference) and writes `focal_by_population.csv`: per trained Reciprocator population
(`coins_reciprocator_colour_<population>`: `s1`-`s3` are the seeds of the setting,
`pool_s1` and `w05_s1`-`w05_s3` its variants), the mean difference over the backgrounds it met,
its SE, and where it stands: exploited (below by 2 SE or more), below (within 2 SE),
above (within 2 SE) or ahead (above by 2 SE or more). Why per population: #12's focal
half is a claim about each trained population, and the backgrounds share their control
pairings, so pairings of one population are averaged, not counted as separate seeds.
The SE of a mean over backgrounds treats the pairings as independent (they share the
control's episodes on a background only across populations, never within one). It also
writes `focal_pairings.csv`: per pairing, the focal and control returns, both
populations' P(own) as focal players (own / (own + partner's) coins taken) and the
background's return against each. Pairings re-run with a second evaluation seed
(`evaluations/NAME_seed1/episodes.csv` here, kept out of the coin-events report, which
takes one control per background) are pooled with their first run in
`focal_two_evaluation_seeds.csv` (the difference over both seeds' episodes) and, for a
population whose every pairing has both, `focal_by_population_two_evaluation_seeds.csv`.

    python results/coins_own_colour_channel/focal_summary.py
"""

from __future__ import annotations

import glob
import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
EVENTS = os.path.join(HERE, "..", "coins_focal_coin_events")
VERSUS = os.path.join(EVENTS, "versus_independent.csv")
PAIRS = os.path.join(EVENTS, "pairs.csv")
AGENT_PREFIX = "coins_reciprocator_colour_"


def verdict(difference: float, se: float) -> str:
  """Where a difference from the independent focal return stands against its SE: the sign
  is always kept (a negative difference within 2 SE is 'below', not 'level')."""
  if difference <= -2 * se:
    return "exploited"
  if difference >= 2 * se:
    return "ahead"
  return "below" if difference < 0 else "above"


def _population(agent: str) -> str:
  """A Reciprocator population's short name: its agent name without AGENT_PREFIX."""
  return agent[len(AGENT_PREFIX):]


def _reciprocator_pairings(versus: pd.DataFrame) -> pd.DataFrame:
  """The report's pair-level rows (not per background model) of the own-colour Reciprocators."""
  return versus[versus["agent"].str.startswith(AGENT_PREFIX)
                & versus["background_players"].isna()]


OVER_BACKGROUNDS = ("backgrounds", "pairings", "difference", "difference_se", "verdict")


def _over_backgrounds(part: pd.DataFrame) -> dict:
  """The mean difference of one population's pairings (one per background) and its SE."""
  difference = float(part["difference"].mean())
  se = float(np.sqrt((part["difference_se"] ** 2).sum()) / len(part))
  return dict(zip(OVER_BACKGROUNDS, (len(part), " ".join(sorted(part["pairing"])), difference,
                                     se, verdict(difference, se))))


def by_population(versus: pd.DataFrame) -> pd.DataFrame:
  """One row per Reciprocator population from the pair-level rows of the report."""
  out = []
  for agent, part in _reciprocator_pairings(versus).groupby("agent", sort=True):
    out.append(dict(population=_population(agent), **_over_backgrounds(part),
                    partner_coins_difference=float(part["focal_partner_coins_difference"].mean()),
                    coins_lost_difference=float(part["focal_coins_lost_difference"].mean())))
  return pd.DataFrame(out)


def _p_own(row: pd.Series) -> float:
  return row["focal_own_coins"] / (row["focal_own_coins"] + row["focal_partner_coins"])


def by_pairing(versus: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
  """One row per Reciprocator pairing, beside its control pairing on the same background."""
  out = []
  for _, row in _reciprocator_pairings(versus).iterrows():
    focal = pairs[pairs["pairing"] == row["pairing"]].iloc[0]
    control = pairs[(pairs["agent"] == row["independent_focal"])
                    & (pairs["background"] == row["background"])].iloc[0]
    out.append(dict(pairing=row["pairing"], population=_population(row["agent"]),
                    control=control["pairing"], focal_return=focal["focal_per_capita_return"],
                    focal_return_se=focal["focal_return_se"],
                    control_return=control["focal_per_capita_return"],
                    control_return_se=control["focal_return_se"],
                    difference=row["difference"], difference_se=row["difference_se"],
                    focal_p_own=_p_own(focal), control_p_own=_p_own(control),
                    own_coins_difference=row["focal_own_coins_difference"],
                    partner_coins_difference=row["focal_partner_coins_difference"],
                    coins_lost_difference=row["focal_coins_lost_difference"],
                    background_return_vs_focal=focal["background_per_capita_return"],
                    background_return_vs_control=control["background_per_capita_return"],
                    episodes=int(focal["episodes"])))
  return pd.DataFrame(out).sort_values("pairing")


def _episodes(pairing: str) -> pd.DataFrame:
  """A pairing's episodes from both evaluation seeds (the first from the coin-events report)."""
  first = pd.read_csv(os.path.join(EVENTS, "evaluations", pairing, "episodes.csv"))
  second = pd.read_csv(os.path.join(HERE, "evaluations", pairing + "_seed1", "episodes.csv"))
  return pd.concat([first, second], ignore_index=True)


def over_evaluation_seeds(pairings: pd.DataFrame) -> pd.DataFrame:
  """Pairings whose focal and control pairings both have a second evaluation seed, pooled."""
  second = {os.path.basename(os.path.dirname(path))[:-len("_seed1")]
            for path in glob.glob(os.path.join(HERE, "evaluations", "*_seed1", "episodes.csv"))}
  out = []
  for _, row in pairings.iterrows():
    if row["pairing"] not in second or row["control"] not in second:
      continue
    focal = _episodes(row["pairing"])["focal_per_capita_return"]
    control = _episodes(row["control"])["focal_per_capita_return"]
    se = float(np.hypot(focal.std() / np.sqrt(len(focal)), control.std() / np.sqrt(len(control))))
    difference = float(focal.mean() - control.mean())
    out.append(dict(pairing=row["pairing"], population=row["population"],
                    control=row["control"], episodes=len(focal),
                    focal_return=float(focal.mean()), control_return=float(control.mean()),
                    difference=difference, difference_se=se, verdict=verdict(difference, se)))
  return pd.DataFrame(out)


def by_population_over_evaluation_seeds(pairings: pd.DataFrame,
                                        pooled: pd.DataFrame) -> pd.DataFrame:
  """`by_population` over both evaluation seeds, for populations whose every pairing has both."""
  out = []
  for population, part in pairings.groupby("population", sort=True):
    both = pooled[pooled["population"] == population] if len(pooled) else pooled
    if len(both) == len(part):
      out.append(dict(population=population, **_over_backgrounds(both)))
  return pd.DataFrame(out, columns=("population",) + OVER_BACKGROUNDS)


def main() -> None:
  versus = pd.read_csv(VERSUS)
  pairings = by_pairing(versus, pd.read_csv(PAIRS))
  pairings.to_csv(os.path.join(HERE, "focal_pairings.csv"), index=False, float_format="%.4g")
  with pd.option_context("display.width", 250, "display.max_columns", 20):
    print(pairings.round(3).to_string(index=False))
  print()
  pooled = over_evaluation_seeds(pairings)
  pooled.to_csv(os.path.join(HERE, "focal_two_evaluation_seeds.csv"), index=False,
                float_format="%.4g")
  print(pooled.round(2).to_string(index=False))
  print()
  for name, table in (("focal_by_population.csv", by_population(versus)),
                      ("focal_by_population_two_evaluation_seeds.csv",
                       by_population_over_evaluation_seeds(pairings, pooled))):
    table.to_csv(os.path.join(HERE, name), index=False, float_format="%.4g")
    print(table.round(2).to_string(index=False))
    print()


if __name__ == "__main__":
  main()
