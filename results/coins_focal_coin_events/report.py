"""Focal players on coins against stranger independent populations, with the coin events
behind each return: one table per (focal population, background population), and the
same per background model.

    python results/coins_focal_coin_events/report.py --evaluations=DIR

DIR holds one launch.evaluate output folder per pairing (episodes.csv; made with
--stratify, so every focal model meets every background model equally often); the
episodes are copied to evaluations/ here. Writes pairs.csv, by_background_model.csv and
versus_independent.csv beside this file: each focal population against the stranger
independent focal population on the same background (the one pairing per background
whose focal agent is an independent run), overall and per background model. With a
custom background the seven coins scenarios are one setting, so each pairing is
coins_0 only.
"""

import argparse
import glob
import os
import shutil

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ("focal_per_capita_return", "focal_own_coins", "focal_partner_coins", "focal_coins_lost",
           "background_per_capita_return")


def _table(episodes: pd.DataFrame, keys) -> pd.DataFrame:
  grouped = episodes.groupby(keys, sort=True)
  out = grouped[list(COLUMNS)].mean()
  out["focal_return_se"] = grouped["focal_per_capita_return"].std() / np.sqrt(grouped.size())
  out["episodes"] = grouped.size()
  return out.reset_index()


def _versus(table: pd.DataFrame, keys) -> pd.DataFrame:
  """Each focal population minus the independent focal population on the same
  background (and background model), with the standard error of the difference."""
  rows = []
  for key, part in table.groupby(keys):
    reference = part[part["agent"].str.startswith("coins_independent")]
    if len(reference) != 1:
      continue
    ref = reference.iloc[0]
    for _, row in part[part["agent"] != ref["agent"]].iterrows():
      out = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
      out.update(pairing=row["pairing"], agent=row["agent"], independent_focal=ref["agent"],
                 focal_return=row["focal_per_capita_return"],
                 independent_focal_return=ref["focal_per_capita_return"],
                 difference=row["focal_per_capita_return"] - ref["focal_per_capita_return"],
                 difference_se=float(np.hypot(row["focal_return_se"], ref["focal_return_se"])))
      for column in ("focal_own_coins", "focal_partner_coins", "focal_coins_lost"):
        out[column + "_difference"] = row[column] - ref[column]
      rows.append(out)
  return pd.DataFrame(rows)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--evaluations", required=True)
  args = parser.parse_args()
  frames = []
  for path in sorted(glob.glob(os.path.join(args.evaluations, "*", "episodes.csv"))):
    name = os.path.basename(os.path.dirname(path))
    target = os.path.join(HERE, "evaluations", name)
    if os.path.abspath(os.path.dirname(path)) != os.path.abspath(target):
      os.makedirs(target, exist_ok=True)
      shutil.copy(path, os.path.join(target, "episodes.csv"))
    frames.append(pd.read_csv(path).assign(pairing=name))
  episodes = pd.concat(frames, ignore_index=True)
  pairs = _table(episodes, ["pairing", "agent", "background"])
  models = _table(episodes, ["pairing", "agent", "background", "background_players"])
  versus = pd.concat([_versus(pairs, ["background"]),
                      _versus(models, ["background", "background_players"])], ignore_index=True)
  pairs.to_csv(os.path.join(HERE, "pairs.csv"), index=False, float_format="%.4g")
  models.to_csv(os.path.join(HERE, "by_background_model.csv"), index=False, float_format="%.4g")
  versus.to_csv(os.path.join(HERE, "versus_independent.csv"), index=False, float_format="%.4g")
  with pd.option_context("display.width", 250, "display.max_columns", 20):
    for table in (pairs, models, versus):
      print(table.round(2).to_string(index=False))
      print()


if __name__ == "__main__":
  main()
