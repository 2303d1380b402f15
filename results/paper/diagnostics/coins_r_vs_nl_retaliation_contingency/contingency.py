"""Per 100-episode block: does a partner answer a take of its coin?

For the player whose shaping is in question (player 1: the NL facing R, or an NL facing
another NL), the partner's takes of its coins and its own reward over the 8 steps after
it took the partner's coin, against the same after it took its own coin
(substrates.paper_games.coins_episode_metrics). Their difference is the punishment a
take earns: the only thing that can teach a naive learner to leave the partner's coin.

Run from the project root:
  python results/paper/diagnostics/coins_r_vs_nl_retaliation_contingency/contingency.py
(writes contingency.csv beside this file).
"""
import os

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = ("nl_vs_nl", "r_vs_nl_uniform_w025", "r_vs_nl_uniform_w025_decay075",
        "r_vs_nl_uniform_w1_decay075")

frames = []
for run in RUNS:
  e = pd.read_csv(os.path.join(HERE, run, "seed_0.csv"))
  e["block_start"] = e["episode"] // 100 * 100
  blocks = e.groupby("block_start")
  table = pd.DataFrame({
      "partner_takes_after_take": blocks["partner_takes_after_other_coin_p1"].mean(),
      "partner_takes_after_own": blocks["partner_takes_after_own_coin_p1"].mean(),
      "reward_after_take": blocks["reward_after_other_coin_p1"].mean(),
      "reward_after_own": blocks["reward_after_own_coin_p1"].mean(),
      "p_own_coin_p1": blocks["p_own_coin_p1"].mean(),
      "other_coins_p1": blocks["other_coins_p1"].mean(),
      "reward_p0": blocks["reward_p0"].mean(), "reward_p1": blocks["reward_p1"].mean()})
  table.insert(0, "extra_partner_takes", table.partner_takes_after_take
               - table.partner_takes_after_own)
  table.insert(1, "reward_cost_of_take", table.reward_after_own - table.reward_after_take)
  table.insert(0, "run", run)
  frames.append(table.round(3).reset_index())
out = pd.concat(frames)
out.to_csv(os.path.join(HERE, "contingency.csv"), index=False)
print(out.to_string(index=False))
