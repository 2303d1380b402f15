"""Focal per-capita return of seeds 4-5's Reciprocators (w = 1) against independent
populations they never met (seed 6's and seed 7's, the only independent populations
with checkpoints left), next to an independent focal player from the other of those two
runs against the same background: both focal players are strangers to the background.

Run from the project root:
  python results/coins_uniform_counterfactual_w1_5seeds/focal.py   (writes focal.csv here)
Another folder laid out the same way (crossplay_i6_i7/ and, per seed, its R cross-play,
R scenarios and stranger-I scenarios folders) is tabulated by naming it and its seeds:
  python .../focal.py FOLDER SEED=BACKGROUND,R_CROSSPLAY,R_SCENARIOS,I_SCENARIOS ...
"""
import os
import sys

import pandas as pd

HERE = (os.path.abspath(sys.argv[1]) if len(sys.argv) > 1
        else os.path.dirname(os.path.abspath(__file__)))
# seed -> (background population, R's cross-play folder, R's scenario folder, the
# stranger independent focal player's scenario folder)
PAIRS = ({int(seed): tuple(spec.split(",")) for seed, spec in
          (a.split("=", 1) for a in sys.argv[2:])} if len(sys.argv) > 2 else
         {4: ("coins_independent_s6", "crossplay_s4", "scenarios_r_focal_s4",
              "scenarios_i7_focal_bg6"),
          5: ("coins_independent_s7", "crossplay_s5", "scenarios_r_focal_s5",
              "scenarios_i6_focal_bg7")})


def _read(path: str) -> pd.DataFrame:
  return pd.read_csv(os.path.join(HERE, path))


rows = []
cross_i = _read("crossplay_i6_i7/crossplay_summary.csv")
for seed, (background, r_cross_dir, r_focal_dir, i_focal_dir) in PAIRS.items():
  cross_r = _read(f"{r_cross_dir}/crossplay_summary.csv")
  r_cell = cross_r[cross_r.agent.str.startswith("coins_reciprocator")
                   & cross_r.background.str.endswith(background)]
  i_cell = cross_i[~cross_i.agent.eq(background)
                   & cross_i.background.str.endswith(background)]
  r_focal = _read(f"{r_focal_dir}/summary.csv").set_index("scenario")
  i_focal = _read(f"{i_focal_dir}/summary.csv").set_index("scenario")
  both = r_focal.join(i_focal, lsuffix="_r", rsuffix="_i")
  rows.append({
      "seed": seed, "background": background,
      "crossplay_r_focal": float(r_cell.focal_per_capita_return.iloc[0]),
      "crossplay_stranger_i_focal": float(i_cell.focal_per_capita_return.iloc[0]),
      "scenarios_r_focal_mean": round(both.focal_per_capita_return_r.mean(), 2),
      "scenarios_stranger_i_focal_mean": round(both.focal_per_capita_return_i.mean(), 2),
      "scenarios_r_higher": int((both.focal_per_capita_return_r
                                 > both.focal_per_capita_return_i).sum()),
      "scenarios": len(both)})
out = pd.DataFrame(rows)
out.to_csv(os.path.join(HERE, "focal.csv"), index=False)
print(out.to_string(index=False))
