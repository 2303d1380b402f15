"""Per 100k-step window of each run (pooled over its episodes): coins per step, P(own
coin) and collective return per 1,000 steps, from the episode records in runs/.

Run from the project root:
  python results/coins_uniform_counterfactual_w025/windows.py [FOLDER]
(writes windows.csv beside this file, or in FOLDER from FOLDER/runs).
"""
import glob
import os
import sys

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDER = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else HERE
WINDOW = 100_000

rows = []
for path in sorted(glob.glob(os.path.join(FOLDER, "runs", "*", "episodes.csv"))):
  run = os.path.basename(os.path.dirname(path))
  e = pd.read_csv(path)
  e["window_end"] = ((e["env_steps"] - 1) // WINDOW + 1) * WINDOW
  e["collective"] = e[[c for c in e.columns if c.startswith("return_p")]].sum(axis=1)
  for end, w in e.groupby("window_end"):
    coins = w["own_coins"].sum() + w["other_coins"].sum()
    rows.append({"run": run, "window_end": int(end), "episodes": len(w),
                 "coins_per_step": coins / w["length"].sum(),
                 "p_own_coin": w["own_coins"].sum() / max(coins, 1),
                 "collective_return_per_1000_steps":
                     1000 * w["collective"].sum() / w["length"].sum()})
out = pd.DataFrame(rows).round(4)
out.to_csv(os.path.join(FOLDER, "windows.csv"), index=False)
print(out[out.window_end > 600_000].to_string(index=False))
