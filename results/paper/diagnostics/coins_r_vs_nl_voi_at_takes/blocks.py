"""Per 100-episode block means of the R-vs-NL Coins rows that say what r_rec is made of.

Run from the project root: python results/paper/diagnostics/coins_r_vs_nl_voi_at_takes/blocks.py
(writes blocks.csv beside this file; player 0 is R, player 1 the NL).
"""
import os

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = {"R_own": "own_coins_p0", "R_other": "other_coins_p0", "NL_own": "own_coins_p1",
           "NL_other": "other_coins_p1", "R_reward": "reward_p0", "NL_reward": "reward_p1",
           "R_rrec_at_R_takes_NL_coin": "reciprocal_reward_at_other_coin_p0",
           "R_voi_on_NL_at_R_takes": "voi_on_partner_at_other_coin_p0",
           "NL_voi_on_R_at_NL_takes": "partner_voi_at_lost_coin_p0",
           "R_balance_at_R_takes": "balance_at_other_coin_p0",
           "R_p_take_at_R_takes": "action_probability_at_other_coin_p0",
           "NL_p_take_at_NL_takes": "action_probability_at_other_coin_p1"}

frames = []
for name in sorted(os.listdir(HERE)):
  if name.startswith("seed_") and name.endswith(".csv"):
    e = pd.read_csv(os.path.join(HERE, name))
    e["block_start"] = e["episode"] // 100 * 100
    table = e.groupby("block_start")[list(COLUMNS.values())].mean().rename(
        columns={v: k for k, v in COLUMNS.items()}).round(3).reset_index()
    table.insert(0, "seed", int(name[5:-4]))
    frames.append(table)
out = pd.concat(frames)
out.to_csv(os.path.join(HERE, "blocks.csv"), index=False)
print(out.to_markdown(index=False))
