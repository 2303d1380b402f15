"""Reciprocator (player 0) beside a naive learner (player 1) on coins, against the
independent pair of the same seed: per player and fifth, and the last fifth's margins.

    python results/coins_reciprocator_beside_naive/report.py --runs=DIR --seeds=1,2,3 \
        [--independent=results/coins_preset_all_seeds/runs] [--num_steps=1000000] [--out=DIR]

DIR holds coins_reciprocator_beside_naive_sS (launch.train --reciprocal_players=0);
the independent pairs are read from --independent/coins_independent_sS. Writes
players.csv (every fifth), last_fifth.csv and players.png to --out (default: beside
this file), and copies each mixed run's records (config, episode and progress rows) to
its runs/.
"""

import argparse
import os
import shutil
import sys

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from recip_acme import comparison  # noqa: E402
from recip_acme.experiments import records  # noqa: E402

MIXED = "coins_reciprocator_beside_naive_s{}"
RECORDS = ("config.json", "episodes.csv", os.path.join("logs", "progress", "logs.csv"))


def _table(episodes: pd.DataFrame, num_steps: int, run: str, seed: int) -> pd.DataFrame:
  t = records.players_by_fifth(episodes, num_steps)
  coins = t["coins_per_step"] * t["steps"]
  t["p_own_coin_se"] = comparison.p_own_coin_standard_error(t["p_own_coin"], coins)
  t.insert(0, "run", run)
  t.insert(0, "seed", seed)
  return t


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--runs", required=True)
  parser.add_argument("--seeds", default="1,2,3")
  parser.add_argument("--independent", default=os.path.join(HERE, "..", "coins_preset_all_seeds", "runs"))
  parser.add_argument("--num_steps", type=int, default=1_000_000)
  parser.add_argument("--out", default=HERE)
  args = parser.parse_args()
  out_dir = args.out
  seeds = [int(s) for s in args.seeds.split(",")]
  frames, scale_rows = [], []
  for seed in seeds:
    mixed_dir = os.path.join(args.runs, MIXED.format(seed))
    if os.path.abspath(mixed_dir) != os.path.abspath(os.path.join(out_dir, "runs", MIXED.format(seed))):
      for name in RECORDS:
        if os.path.exists(os.path.join(mixed_dir, name)):
          target = os.path.join(out_dir, "runs", MIXED.format(seed), name)
          os.makedirs(os.path.dirname(target), exist_ok=True)
          shutil.copy(os.path.join(mixed_dir, name), target)
    mixed = pd.read_csv(os.path.join(mixed_dir, "episodes.csv"))
    pair = pd.read_csv(os.path.join(args.independent, f"coins_independent_s{seed}", "episodes.csv"))
    frames += [_table(mixed, args.num_steps, "beside_naive", seed),
               _table(pair, args.num_steps, "independent_pair", seed)]
    # Only player 0 gets r_rec; the rows average |w r_rec| over both players.
    scale = records.reward_scale_by_fifth(mixed, args.num_steps)
    scale_rows.append({"seed": seed, **{f"reciprocator_scale_fifth{k + 1}": 2 * r
                                        for k, r in enumerate(scale["ratio"])}})
  table = pd.concat(frames, ignore_index=True)
  table.to_csv(os.path.join(out_dir, "players.csv"), index=False, float_format="%.5g")
  last = table[table["fifth"] == 5].set_index(["seed", "run", "player"])
  rows = []
  for seed in seeds:
    r, nl = last.loc[(seed, "beside_naive", 0)], last.loc[(seed, "beside_naive", 1)]
    i0, i1 = last.loc[(seed, "independent_pair", 0)], last.loc[(seed, "independent_pair", 1)]
    pair_own = (i0["p_own_coin"] * i0["coins_per_step"] + i1["p_own_coin"] * i1["coins_per_step"]) / (
        i0["coins_per_step"] + i1["coins_per_step"])
    rows.append({
        "seed": seed,
        "naive_p_own_beside_r": nl["p_own_coin"], "naive_p_own_se": nl["p_own_coin_se"],
        "independent_pair_p_own": pair_own,
        "naive_p_own_margin": nl["p_own_coin"] - pair_own,
        "naive_p_own_margin_same_slot": nl["p_own_coin"] - i1["p_own_coin"],
        "r_p_own": r["p_own_coin"],
        "r_return_per_1000": r["return_per_1000_steps"],
        "naive_return_per_1000": nl["return_per_1000_steps"],
        # Against the same slot of the independent pair (slots can differ by map).
        "r_return_margin_same_slot": r["return_per_1000_steps"] - i0["return_per_1000_steps"],
        "naive_return_margin_same_slot": nl["return_per_1000_steps"] - i1["return_per_1000_steps"],
        "collective_per_1000": r["return_per_1000_steps"] + nl["return_per_1000_steps"],
        "independent_collective_per_1000": i0["return_per_1000_steps"] + i1["return_per_1000_steps"],
        "r_coins_lost_per_1000": r["coins_lost_per_1000_steps"],
        "naive_coins_lost_per_1000": nl["coins_lost_per_1000_steps"],
        "r_coins_per_step": r["coins_per_step"], "naive_coins_per_step": nl["coins_per_step"]})
  out = pd.DataFrame(rows).merge(pd.DataFrame(scale_rows), on="seed")
  out.to_csv(os.path.join(out_dir, "last_fifth.csv"), index=False, float_format="%.5g")
  print(out.T.to_string(float_format=lambda x: f"{x:.4f}"))
  _plot(table, seeds, out_dir)


def _plot(table: pd.DataFrame, seeds, out_dir: str):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  metrics = [("p_own_coin", "P(own coin) of the player's takes"),
             ("return_per_1000_steps", "return per 1,000 steps"),
             ("coins_lost_per_1000_steps", "own coins lost per 1,000 steps")]
  fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
  styles = comparison.SEED_LINE_STYLES
  labels = {("beside_naive", 0): ("Reciprocator (beside a naive learner)", "tab:red"),
            ("beside_naive", 1): ("naive learner (beside a Reciprocator)", "tab:blue"),
            ("independent_pair", 0): ("independent pair, player 0", "tab:gray"),
            ("independent_pair", 1): ("independent pair, player 1", "k")}
  for ax, (metric, title) in zip(axes, metrics):
    for n, seed in enumerate(seeds):
      for (run, player), (label, colour) in labels.items():
        part = table[(table["seed"] == seed) & (table["run"] == run) & (table["player"] == player)]
        ax.plot(part["fifth"], part[metric], styles[n % len(styles)], color=colour,
                label=f"{label}, seed {seed}" if metric == "p_own_coin" else None)
    ax.set_xlabel("fifth of 1M env steps")
    ax.set_title(title)
  axes[0].axhline(0.5, color="k", lw=0.5)
  fig.legend(loc="lower center", ncol=4, fontsize=7)
  fig.tight_layout(rect=(0, 0.14, 1, 1))
  fig.savefig(os.path.join(out_dir, "players.png"), dpi=90)


if __name__ == "__main__":
  main()
