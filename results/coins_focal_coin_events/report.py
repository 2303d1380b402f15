"""Focal players on coins against stranger independent populations, with the coin events
behind each return: one table per (focal population, background population), and the
same per background model.

    python results/coins_focal_coin_events/report.py --evaluations=DIR

DIR holds one launch.evaluate output folder per pairing (episodes.csv); the folders are
copied to evaluations/ here. Writes pairs.csv and by_background_model.csv beside this
file. With a custom background the seven coins scenarios are one setting, so each
pairing is 20 episodes of coins_0.
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
  pairs.to_csv(os.path.join(HERE, "pairs.csv"), index=False, float_format="%.4g")
  models.to_csv(os.path.join(HERE, "by_background_model.csv"), index=False, float_format="%.4g")
  with pd.option_context("display.width", 250, "display.max_columns", 20):
    print(pairs.round(2).to_string(index=False))
    print()
    print(models.round(2).to_string(index=False))


if __name__ == "__main__":
  main()
