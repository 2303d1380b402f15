"""Per seed: is the naive learner shaped, and does R answer its takes? (#15 item 3)

For each run folder given (default: this folder and the same setting without
--policy_sees_balance; the first folder is the one with the input, and gets the
outputs), per seed: the NL's (player 1's) P(own coin) over the last 20
episodes against NL vs NL's on the same seed (both players, as the claims table reads
it, and player 1 alone), both players' reward, and over episodes 500-599 the
contingency of `../coins_r_vs_nl_retaliation_contingency/`: R's extra takes of the NL's
coins in the 8 steps after the NL took R's coin (against after an own-coin take) and
what that costs the NL in reward.

Run from the project root:
  python results/paper/diagnostics/coins_r_vs_nl_policy_sees_balance_w025/shaping.py [FOLDER ...]
(writes shaping.csv and shaping.png into the first folder, by default this one).
"""
import os
import sys

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
PAPER = os.path.join(HERE, "..", "..")
FOLDERS = sys.argv[1:] or [HERE, os.path.join(HERE, "..", "coins_r_vs_nl_uniform_counterfactual_w025")]
LAST = 20


def _gap(frame: pd.DataFrame, a: str, b: str) -> float:
  return (frame[a] - frame[b]).mean() if a in frame and b in frame else float("nan")


rows = []
for folder in FOLDERS:
  for seed in range(8):
    path = os.path.join(folder, f"seed_{seed}.csv")
    if not os.path.exists(path):
      continue
    e = pd.read_csv(path)
    base = pd.read_csv(os.path.join(PAPER, "coins_nl_vs_nl", f"seed_{seed}.csv"))
    block = e[(e.episode >= 500) & (e.episode < 600)]
    rows.append({
        "run": os.path.basename(os.path.normpath(folder)), "seed": seed,
        "nl_p_own_last20": e.p_own_coin_p1.tail(LAST).mean(),
        "nl_vs_nl_p_own_last20": base.p_own_coin.tail(LAST).mean(),
        "nl_vs_nl_p1_p_own_last20": base.p_own_coin_p1.tail(LAST).mean(),
        "r_p_own_last20": e.p_own_coin_p0.tail(LAST).mean(),
        "reward_r_last20": e.reward_p0.tail(LAST).mean(),
        "reward_nl_last20": e.reward_p1.tail(LAST).mean(),
        # Runs from before these columns existed have none: NaN.
        "extra_partner_takes_500_599": _gap(block, "partner_takes_after_other_coin_p1",
                                            "partner_takes_after_own_coin_p1"),
        "reward_cost_of_take_500_599": _gap(block, "reward_after_own_coin_p1",
                                            "reward_after_other_coin_p1"),
        "nl_other_coins_last20": e.other_coins_p1.tail(LAST).mean()})
out = pd.DataFrame(rows)
out.insert(3, "margin_vs_nl_vs_nl", out.nl_p_own_last20 - out.nl_vs_nl_p_own_last20)
out = out.round(3)
OUT = os.path.abspath(FOLDERS[0])
out.to_csv(os.path.join(OUT, "shaping.csv"), index=False)
print(out.to_string(index=False))

# shaping.png: per seed, the NL's P(own) (20-episode mean) with and without R's balance
# as a policy input, against both NL-vs-NL players' (what the claim compares with).
import matplotlib  # noqa: E402  pylint: disable=g-import-not-at-top
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=g-import-not-at-top

seeds = sorted(out.seed.unique())
fig, axes = plt.subplots(1, len(seeds), figsize=(4.2 * len(seeds), 3.4), squeeze=False)
for ax, seed in zip(axes[0], seeds):
  for folder, label in zip(FOLDERS, ("R sees its balance", "R without it")):
    path = os.path.join(folder, f"seed_{seed}.csv")
    if os.path.exists(path):
      ax.plot(pd.read_csv(path).p_own_coin_p1.rolling(LAST).mean(), label=f"NL vs {label}")
  base = pd.read_csv(os.path.join(PAPER, "coins_nl_vs_nl", f"seed_{seed}.csv"))
  ax.plot(base.p_own_coin.rolling(LAST).mean(), color="grey", ls="--", label="NL vs NL (both)")
  ax.axhline(0.5, color="grey", ls=":", lw=1)
  ax.set_title(f"seed {seed}: the NL's P(own coin)", fontsize=9)
  ax.set_xlabel("episode")
axes[0][0].legend(fontsize=7)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "shaping.png"), dpi=100)
