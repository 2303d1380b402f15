"""Melting Pot 2.0's published baselines, and the normalised score of its results notebook.

The figures are DeepMind's `meltingpot-results-2.1.1` table (copy and source in
`recip_acme/data/`): focal per-capita return per scenario, baseline ("mapla") and
training run. The notebook scores a scenario as

    (x - min) / (max - min)

where min and max run over every baseline row (all runs) of that scenario after keeping
only the best exploiter (of exploiter_acb / exploiter_opre, the one with the higher mean
on that scenario), then averages scores per substrate. We score our own mean focal
per-capita return with the same min and max. Results with a custom background are never
scored: their background is not Melting Pot's.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

import pandas as pd

DATA_DIR = os.path.join(os.path.dirname(__file__), "data")
RESULTS_FILE = os.path.join(DATA_DIR, "meltingpot-results-2.1.1.csv")
EXPLOITERS = ("exploiter_acb", "exploiter_opre")
EXPLOITER = "exploiter"
BASELINE_ORDER = ("acb", "acb_prosocial", "opre", "opre_prosocial", "vmpo", "random", EXPLOITER)
REQUIRED_COLUMNS = ("scenario", "substrate", "mapla", "training_run", "focal_per_capita_return")


def load_results(path: str = RESULTS_FILE) -> pd.DataFrame:
  """The published per-run table, with its columns checked."""
  df = pd.read_csv(path)
  missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
  if missing:
    raise ValueError(f"{path} lacks columns {missing}; expected {list(REQUIRED_COLUMNS)}")
  return df


def keep_best_exploiter(results: pd.DataFrame) -> pd.DataFrame:
  """Per scenario, keeps the exploiter with the higher mean and names it 'exploiter'."""
  is_exploiter = results["mapla"].isin(EXPLOITERS)
  exploiters = results[is_exploiter]
  means = exploiters.groupby(["scenario", "mapla"])["focal_per_capita_return"].mean()
  best = means.groupby(level="scenario").idxmax().map(lambda index: index[1])
  keep = exploiters["mapla"] == exploiters["scenario"].map(best)
  chosen = exploiters[keep].assign(mapla=EXPLOITER)
  return pd.concat([results[~is_exploiter], chosen], ignore_index=True)


def scenario_bounds(results: pd.DataFrame) -> pd.DataFrame:
  """min and max focal per-capita return per scenario over all baselines and runs."""
  table = keep_best_exploiter(results)
  return table.groupby(["scenario", "substrate"])["focal_per_capita_return"].agg(
      ["min", "max"]).reset_index()


def baseline_means(results: pd.DataFrame) -> pd.DataFrame:
  """scenario x baseline: mean focal per-capita return over training runs."""
  table = keep_best_exploiter(results)
  means = table.pivot_table(index="scenario", columns="mapla",
                            values="focal_per_capita_return", aggfunc="mean")
  return means[[c for c in BASELINE_ORDER if c in means.columns]]


def normalise(values: pd.Series, bounds: pd.DataFrame) -> pd.Series:
  """(x - min) / (max - min) per scenario; `values` is indexed by scenario."""
  b = bounds.set_index("scenario").reindex(values.index)
  return (values - b["min"]) / (b["max"] - b["min"])


def compare(ours: pd.DataFrame, results: Optional[pd.DataFrame] = None
            ) -> Tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
  """Our summary (launch.evaluate's summary.csv) beside the published baselines.

  Returns (per-scenario table, per-substrate normalised scores, excluded rows). Only
  official-background rows of scenarios in the published table are scored; the rest
  are returned as excluded, with the reason.
  """
  results = load_results() if results is None else results
  bounds = scenario_bounds(results)
  means = baseline_means(results)
  official = ours["background"] == "official"
  known = ours["scenario"].isin(means.index)
  reasons = pd.Series("", index=ours.index)
  reasons[~official] = "custom background: not comparable with the published results"
  reasons[official & ~known] = "scenario not in the published results"
  excluded = ours[reasons != ""].assign(reason=reasons[reasons != ""])
  scored = ours[reasons == ""]

  scenario_rows = []
  for agent, rows in scored.groupby("agent"):
    x = rows.set_index("scenario")["focal_per_capita_return"]
    table = means.reindex(x.index).copy()
    table.insert(0, "agent", agent)
    table.insert(1, "substrate", rows.set_index("scenario")["substrate"])
    table["ours"] = x
    for column in [c for c in BASELINE_ORDER if c in means.columns] + ["ours"]:
      table[f"{column}_score"] = normalise(table[column], bounds)
    scenario_rows.append(table.reset_index())
  if not scenario_rows:
    return pd.DataFrame(), pd.DataFrame(), excluded
  per_scenario = pd.concat(scenario_rows, ignore_index=True)
  score_columns = [c for c in per_scenario.columns if c.endswith("_score")]
  per_substrate = per_scenario.groupby(["agent", "substrate"])[score_columns].mean().reset_index()
  per_substrate["scenarios"] = per_scenario.groupby(["agent", "substrate"]).size().values
  return per_scenario, per_substrate, excluded


def plot_scores(per_substrate: pd.DataFrame, path: str) -> None:
  """Bar plot of the per-substrate normalised score: ours beside every baseline."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  columns = [c for c in per_substrate.columns if c.endswith("_score")]
  labels = [f"{r.agent}\n{r.substrate}" for r in per_substrate.itertuples()]
  width = 0.8 / len(columns)
  fig, ax = plt.subplots(figsize=(max(6, 2.5 * len(labels) + 3), 4))
  x = np.arange(len(labels))
  for k, column in enumerate(columns):
    name = column[:-len("_score")]
    ax.bar(x + k * width, per_substrate[column], width,
           label=name, color="k" if name == "ours" else None)
  ax.set_xticks(x + 0.4 - width / 2, labels, fontsize=8)
  ax.set_ylabel("normalised score (Melting Pot notebook)")
  ax.axhline(0, color="grey", lw=0.5)
  ax.legend(fontsize=7, ncol=4)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def source_note() -> Dict[str, str]:
  return {"file": os.path.relpath(RESULTS_FILE, os.path.dirname(DATA_DIR)),
          "source": "DeepMind Melting Pot 2.0 results (meltingpot-results-2.1.1), "
                    "Agapiou et al. arXiv 2211.13746; see recip_acme/data/SOURCE.md"}


def substrate_baselines(substrate: str, results: Optional[pd.DataFrame] = None
                        ) -> pd.DataFrame:
  """Every scenario of `substrate`: its description, number of focal players and each
  baseline's mean focal per-capita return.

  Why: on a substrate where our learners earn nothing (clean_up), this says whether
  Melting Pot's own selfish baselines, trained for ~1e9 steps, earn anything when no
  background player provides the public good.
  """
  from meltingpot.configs import scenarios as scenario_configs  # pylint: disable=g-import-not-at-top
  results = load_results() if results is None else results
  means = baseline_means(results[results["substrate"] == substrate])
  if means.empty:
    raise ValueError(f"no published results for substrate {substrate!r}")
  configs = scenario_configs.SCENARIO_CONFIGS
  info = pd.DataFrame({
      "description": [configs[s].description for s in means.index],
      "focal_players": [sum(configs[s].is_focal) for s in means.index]}, index=means.index)
  return info.join(means)
