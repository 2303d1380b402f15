"""Focal per-capita return against the independent population, per seed: cross-play
(R focal vs I background, I focal vs I background) and the coins_0-6 scenarios with the
independent population as custom background (R focal vs I focal), from the evaluation
tables beside this file (seed 3's independent-focal rows) and, for seeds 1-2, from
../coins_centered_owed_harm_w15/scenarios_i_focal_s* (the same independent populations).

Run from the project root:
  python results/coins_uniform_counterfactual_w025/focal.py
(writes focal.csv beside this file). Another comparison against the same independent
populations (crossplay_sN/ and scenarios_r_focal_sN/ in its folder) is tabulated the same
way by naming its folder and, per seed, where its independent-focal rows are (relative to
that folder):
  python results/coins_uniform_counterfactual_w025/focal.py FOLDER 1=PATH 2=PATH 3=PATH
"""
import os
import sys

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDER = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else HERE
I_FOCAL = ({int(seed): path for seed, path in (a.split("=", 1) for a in sys.argv[2:])}
           if len(sys.argv) > 2 else
           {1: "../coins_centered_owed_harm_w15/scenarios_i_focal_s1",
            2: "../coins_centered_owed_harm_w15/scenarios_i_focal_s2",
            3: "scenarios_i_focal_s3"})


def _read(path: str) -> pd.DataFrame:
  return pd.read_csv(os.path.join(FOLDER, path))


rows = []
for seed, i_focal_dir in I_FOCAL.items():
  cross = _read(f"crossplay_s{seed}/crossplay_summary.csv")
  independent = cross.agent.str.startswith("coins_independent")
  i_background = cross.background.str.contains("independent")
  r_focal = _read(f"scenarios_r_focal_s{seed}/summary.csv").set_index("scenario")
  i_focal = _read(f"{i_focal_dir}/summary.csv").set_index("scenario")
  both = r_focal.join(i_focal, lsuffix="_r", rsuffix="_i")
  rows.append({
      "seed": seed,
      "crossplay_r_focal_vs_i": cross[~independent & i_background].focal_per_capita_return.item(),
      "crossplay_i_focal_vs_i": cross[independent & i_background].focal_per_capita_return.item(),
      "scenarios_r_focal_mean": both.focal_per_capita_return_r.mean(),
      "scenarios_i_focal_mean": both.focal_per_capita_return_i.mean(),
      "scenarios_r_higher": int((both.focal_per_capita_return_r
                                 > both.focal_per_capita_return_i).sum()),
      "scenarios": len(both),
      "scenario_std_min": both[["focal_per_capita_return_std_r",
                                "focal_per_capita_return_std_i"]].min().min(),
      "scenario_std_max": both[["focal_per_capita_return_std_r",
                                "focal_per_capita_return_std_i"]].max().max()})
out = pd.DataFrame(rows).round(2)
out.to_csv(os.path.join(FOLDER, "focal.csv"), index=False)
print(out.to_string(index=False))
