"""P(own coin) of trained self-play pairs in fresh coins copies, per model pairing.

    python results/coins_colour_memorisation/tabulate.py

Reads evaluations/*.csv here (launch.evaluate episodes, a run against itself with
--stratify; STATUS.md has the commands) and writes fresh_copies.csv: per evaluation and
(focal model, background model) pairing, the focal player's own and partner's coins and
P(own) = own / (own + partner's), with the pooled row of each evaluation.
"""

import glob
import os

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
  rows = []
  for path in sorted(glob.glob(os.path.join(HERE, "evaluations", "*.csv"))):
    name = os.path.splitext(os.path.basename(path))[0]
    episodes = pd.read_csv(path)
    parts = list(episodes.groupby(["focal_players", "background_players"]))
    parts.append((("all", "all"), episodes))
    for (focal, background), part in parts:
      own, partner = part["focal_own_coins"].sum(), part["focal_partner_coins"].sum()
      rows.append(dict(evaluation=name, focal=focal.rsplit("_", 1)[-1],
                       background=background.rsplit("_", 1)[-1], episodes=len(part),
                       own_coins=own, partner_coins=partner,
                       p_own_coin=own / (own + partner)))
  out = pd.DataFrame(rows)
  out.to_csv(os.path.join(HERE, "fresh_copies.csv"), index=False, float_format="%.4g")
  print(out.round(3).to_string(index=False))


if __name__ == "__main__":
  main()
