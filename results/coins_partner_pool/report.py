"""A partner-pool run on coins (--naive_partners), by pairing: what each seat's learner
did in Reciprocator self-play ("R-R") and beside a naive learner ("N-R", "R-N").

    python results/coins_partner_pool/report.py --runs=WORKDIR[,WORKDIR...] [--num_steps=N]
        [--out=DIR]

Writes pairings.csv to DIR (default: beside this file; per run, pairing, fifth and
slot: P(own coin), coins per step, return and coins lost per 1,000 steps;
`records.players_by_fifth` on that pairing's episodes), shaping.csv (per run, pairing
and fifth: the mean weighted r_rec per step on steps that took the partner's coin, took
an own coin, and on every other step, both seats pooled, a naive seat's zeros
included) and copies each run's episodes.csv and config.json to DIR/runs/<name>/. The
fifths are of the run's env steps.
"""

import argparse
import os
import shutil
import sys

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
from recip_acme.experiments import records  # noqa: E402  pylint: disable=g-import-not-at-top


# `records.learning_by_fifth`'s columns: the mean weighted r_rec per step on each kind of
# step, each episode's mean weighted by its count of such steps.
SHAPING = ("shaping_took_partner_coin", "shaping_took_own_coin", "shaping_otherwise")


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--runs", required=True)
  parser.add_argument("--num_steps", type=int, default=1_000_000)
  parser.add_argument("--out", default=HERE)
  args = parser.parse_args()
  frames, shaping = [], []
  for workdir in args.runs.split(","):
    name = os.path.basename(workdir.rstrip("/"))
    target = os.path.join(args.out, "runs", name)
    os.makedirs(target, exist_ok=True)
    for f in (records.EPISODES_FILE, records.CONFIG_FILE):
      if os.path.abspath(os.path.join(workdir, f)) != os.path.abspath(os.path.join(target, f)):
        shutil.copy(os.path.join(workdir, f), os.path.join(target, f))
    episodes = pd.read_csv(os.path.join(target, records.EPISODES_FILE))
    for pairing, part in episodes.groupby("pairing"):
      table = records.players_by_fifth(part.reset_index(drop=True), args.num_steps)
      table.insert(0, "seat", [f"{'RN'[pairing.split('-')[p] == 'N']}{p}" for p in table["player"]])
      table.insert(0, "pairing", pairing)
      table.insert(0, "run", name)
      frames.append(table)
      learned = records.learning_by_fifth(part.reset_index(drop=True), args.num_steps)
      means = learned[["fifth"] + [c for c in SHAPING if c in learned]]
      means.insert(0, "pairing", pairing)
      means.insert(0, "run", name)
      shaping.append(means)
  out = pd.concat(frames, ignore_index=True)
  out.to_csv(os.path.join(args.out, "pairings.csv"), index=False, float_format="%.4g")
  shaping = pd.concat(shaping, ignore_index=True)
  shaping.to_csv(os.path.join(args.out, "shaping.csv"), index=False, float_format="%.4g")
  with pd.option_context("display.width", 200, "display.max_rows", 500):
    print(out.round(4).to_string(index=False))
    print(shaping.round(4).to_string(index=False))


if __name__ == "__main__":
  main()
