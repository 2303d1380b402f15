"""The paper's IPD-Rollout and Coins experiments (ALGORITHM.md section 5) on the
batched games: their configurations, per-episode metrics, plots and tables.

`launch/reproduce.py` turns flags into calls of these; `benchmarks/paper_games.py`
times the same configurations. Nothing here reads flags.
"""

from __future__ import annotations

import os
import time
from typing import Optional, Tuple

EXPERIMENTS = ("ipd_r_vs_nl", "ipd_nl_vs_nl", "coins_r_vs_r", "coins_nl_vs_nl",
               "coins_r_vs_nl", "coins3_r")

# What the paper reports (ALGORITHM.md section 5), drawn as reference lines.
PAPER_REFERENCE = {
    "coins_r_vs_r": {"total_reward": 8.0},
}
# Coins pairings are judged against NL vs NL: its mean curve (over the seeds in the
# sibling results folder, when there) is drawn in grey on the same axes.
BASELINE = {"coins_r_vs_r": "coins_nl_vs_nl", "coins_r_vs_nl": "coins_nl_vs_nl"}
TITLES = {
    "p_cooperate_p0": "P(cooperate), player 0", "p_cooperate_p1": "P(cooperate), player 1",
    "p_cooperate_after_c_p0": "player 0: P(C | opponent's last C)",
    "p_cooperate_after_d_p0": "player 0: P(C | opponent's last D)",
    "reciprocal_reward_p0": "reciprocal reward per step, player 0",
    "p_own_coin": "P(own coin), both players",
    "p_own_coin_p0": "P(own coin), player 0", "p_own_coin_p1": "P(own coin), player 1",
    "p_own_coin_p2": "P(own coin), player 2", "reward_p0": "extrinsic reward / episode, player 0",
    "reward_p1": "extrinsic reward / episode, player 1",
    "reward_p2": "extrinsic reward / episode, player 2", "total_reward": "total extrinsic reward / episode",
    "own_coins_p0": "own coins / episode, player 0",
    "other_coins_p0": "other's coins / episode, player 0",
    "policy_entropy_p1": "player 1: policy entropy (mean over states)",
    "logit_gap_c_minus_d_cc_p1": "player 1: logit C - D after CC",
    "grad_norm_least_likely_p1": "player 1: grad norm, least likely action",
    "param_change_p1": "player 1: parameter change per episode",
}
DEFAULT_EPISODES = {"ipd": 400, "coins": 600}
DEFAULT_BATCH = {"ipd": 256, "coins": 128}
PAPER_SCALE_BATCH = 2048
# What --paper_scale changes besides the batch, for Coins: the settings that bring one
# episode at batch 2048 to about 1.5 s here (benchmarks/paper_games.py prints the
# breakdown). IMPALA steps on 256 of the 2048 games (the same 8 steps per episode, one
# pass over the data: results/paper/paper_scale/coins_r_vs_r_games_per_update256), and
# 2 estimator epochs per refit after a 5-epoch first fit: at this batch one epoch is 16
# batches of 4096 drawn from a 3-episode replay of 196,608 rows, so 2 epochs still
# sample every new row about once. From the same warm start, a 2-epoch refit's VoI
# differs from the 5-epoch one's by 0.32-0.42 of its RMS (correlation 0.91-0.95) from
# the 3rd refit on, where two 5-epoch refits that drew other samples differ by
# 0.30-0.33 (0.94-0.96); from scratch 2 epochs are far off (0.23), hence the first
# fit's 5 (results/paper/paper_scale/refit_epochs.csv). IPD keeps its settings: its
# refit is 10 steps.
PAPER_SCALE_COINS = {"games_per_update": 256, "influence_epochs": 2}


def with_paper_scale(name: str, settings: dict, influence_epochs: Optional[int]
                     ) -> Tuple[dict, Optional[int]]:
  """(settings, influence_epochs) with --paper_scale's defaults filled in where the
  launch left them None; what a flag set is kept."""
  scale = dict(PAPER_SCALE_COINS) if name.startswith("coins") else {}
  epochs = scale.pop("influence_epochs", None)
  filled = dict(settings)
  filled.update({k: v for k, v in scale.items() if filled.get(k) is None})
  return filled, influence_epochs or epochs


# Policy learning per game (IMPALA), overridable by flags. IPD follows the published
# config (lr 0.005, gamma 0.96, entropy 0.02, a memoryless policy of the memory-1
# state) with one update per episode. Acme's IMPALA shares the torso between policy
# and value; with rewards of this size (r_rec * w reaches +-15) a value loss weight of
# 0.5 drowns the policy gradient in the shared layers (a contextual bandit with +-10
# rewards stays at 60 % correct), hence baseline_cost 0.01.
# The naive learner must stay a learner (#15, results/paper/diagnostics/ipd_saturation):
# as the paper's PPO, actor and critic have their own torsos and the learner sees each
# batch's returns standardised; entropy 0.035 (0.02 let R saturate at D once the NL
# did at C, 0.05 kept NL vs NL at P(C) ~0.1).
IPD_IMPALA = dict(learning_rate=5e-3, entropy_cost=0.035, baseline_cost=0.01, discount=0.96)
IPD_POLICY = dict(updates_per_episode=1, lstm=0, shared_torso=False, normalize_returns=True)
COINS_IMPALA = dict(learning_rate=5e-3, entropy_cost=0.01, baseline_cost=0.01, discount=0.99)
COINS_POLICY = dict(updates_per_episode=8)


IMPALA_SETTINGS = ("learning_rate", "entropy_cost", "baseline_cost", "discount")
# BatchedConfig fields a launch may override (the policy, its updates, the balance).
RUN_SETTINGS = ("updates_per_episode", "games_per_update", "lstm", "shared_torso",
                "normalize_returns", "balance_decay", "policy_sees_balance",
                "jit_compile_acting")


def with_overrides(config, reciprocal_weight: Optional[float] = None, **settings):
  """`config` with the policy settings that were given (None keeps the experiment's);
  `reciprocal_weight` replaces w of every Reciprocator of the pairing."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  unknown = set(settings) - set(IMPALA_SETTINGS) - set(RUN_SETTINGS)
  if unknown:
    raise ValueError(f"unknown settings {', '.join(sorted(unknown))}; valid: "
                     f"{', '.join(IMPALA_SETTINGS + RUN_SETTINGS)}")
  changes = {k: v for k, v in settings.items() if k in RUN_SETTINGS and v is not None}
  impala = {k: v for k, v in settings.items() if k in IMPALA_SETTINGS and v is not None}
  changes["impala"] = dataclasses.replace(config.impala, **impala)
  if reciprocal_weight is not None:
    changes["reciprocal_weights"] = tuple(reciprocal_weight if w else 0.0
                                          for w in config.reciprocal_weights)
  return dataclasses.replace(config, **changes)


def experiment_setup(name: str, batch_size: int, seed: int,
                     influence_epochs: Optional[int] = None,
                     future_term: Optional[bool] = None,
                     future_estimator: Optional[str] = None,
                     counterfactual: Optional[str] = None):
  """(environment, BatchedConfig) for one experiment and seed; None keeps the
  experiment's default of each Coins estimator setting."""
  from recip_acme.agents.impala import config as impala_config  # pylint: disable=g-import-not-at-top
  from recip_acme.agents.reciprocator import batched  # pylint: disable=g-import-not-at-top
  from recip_acme.influence import config as ic  # pylint: disable=g-import-not-at-top
  from substrates import paper_games as games  # pylint: disable=g-import-not-at-top
  if name not in EXPERIMENTS:
    raise ValueError(f"unknown experiment {name!r}; valid: {', '.join(EXPERIMENTS)}")
  if name.startswith("ipd"):
    env = games.BatchedIPD(batch_size)
    weights = (5.0, 0.0) if name == "ipd_r_vs_nl" else (0.0, 0.0)
    # Published IPD setting: lagged_product, w = 5, immediate VoI only, baselines
    # refreshed every 3 episodes from the last episode's data.
    influence = ic.InfluenceConfig(hidden_sizes=(32,), batch_size=4096, epochs=10,
                                   samples_per_epoch=4 * 4096, replay_episodes=1,
                                   refit_every=3, initial_episodes=1, future_term=False)
    return env, batched.BatchedConfig(reciprocal_weights=weights, variant="lagged_product",
                                      influence=influence, seed=seed,
                                      impala=impala_config.ImpalaConfig(**IPD_IMPALA),
                                      **IPD_POLICY)
  num_players = 3 if name == "coins3_r" else 2
  env = games.BatchedCoins(batch_size, num_players=num_players, seed=seed)
  weights = {"coins_r_vs_r": (1.0, 1.0), "coins_nl_vs_nl": (0.0, 0.0),
             "coins_r_vs_nl": (1.0, 0.0), "coins3_r": (1.0, 1.0, 1.0)}[name]
  # Published Coins config: last 3 episodes, refit every 2, 2 initial episodes with
  # frozen policies, batch 4096, Adam 0.01 (lr in InfluenceConfig). It runs 20 epochs of
  # 16 batches per refit; we warm-start each refit and run 5 (influence_epochs).
  # Its future term is model-based (next-state classifiers and a state-value critic,
  # future_estimator="transition"), our default for 2 players. With 3 players V is
  # tabulated over 9^6 = 531,441 states and every step contracts that table for each
  # game and each of the 4 classifiers (81x the rows of the 2-player table), so coins3_r
  # defaults to the return regression of ALGORITHM.md section 1.
  influence = ic.InfluenceConfig(hidden_sizes=(64, 64), batch_size=4096,
                                 epochs=influence_epochs or 5, first_fit_epochs=5,
                                 samples_per_epoch=16 * 4096, replay_episodes=3,
                                 refit_every=2, initial_episodes=2, gamma=0.99,
                                 future_term=True if future_term is None else future_term,
                                 future_estimator=future_estimator or (
                                     "transition" if num_players == 2 else "returns"),
                                 counterfactual=counterfactual or "regression")
  return env, batched.BatchedConfig(reciprocal_weights=weights, variant="balance",
                                    influence=influence, seed=seed,
                                    impala=impala_config.ImpalaConfig(**COINS_IMPALA),
                                    **COINS_POLICY)


def episode_row(name: str, episode: int, stats) -> dict:
  import numpy as np  # pylint: disable=g-import-not-at-top
  from substrates import paper_games as games  # pylint: disable=g-import-not-at-top
  rewards, actions = stats["rewards"], stats["actions"]
  row = {"episode": episode, "influence_fitted": bool(stats["influence_fitted"])}
  n = rewards.shape[-1]
  for i in range(n):
    row[f"reward_per_step_p{i}"] = float(rewards[..., i].mean())
    row[f"reciprocal_reward_p{i}"] = float(stats["reciprocal_rewards"][..., i].mean())
  if name.startswith("ipd"):
    for i in range(n):
      row[f"p_cooperate_p{i}"] = float((actions[..., i] == 0).mean())
      # Reciprocity: P(i cooperates | the opponent cooperated / defected one step before).
      opponent_before, mine = actions[:-1, :, 1 - i], actions[1:, :, i]
      for label, opponent_action in (("c", 0), ("d", 1)):
        seen = opponent_before == opponent_action
        row[f"p_cooperate_after_{label}_p{i}"] = (
            float((mine[seen] == 0).mean()) if seen.any() else float("nan"))
    # Saturation (#15): per player, the policy on each memory-1 state and how much a
    # gradient can still change it (BatchedReciprocators.policy_diagnostics).
    for i, d in enumerate(stats.get("policy", [])):
      gap = d["logits"][:, games.COOPERATE] - d["logits"][:, games.DEFECT]
      for state, value in zip(games.BatchedIPD.STATE_NAMES, gap):
        row[f"logit_gap_c_minus_d_{state}_p{i}"] = float(value)
      row[f"policy_entropy_p{i}"] = float(d["entropy"].mean())
      row[f"grad_norm_entropy_p{i}"] = d["grad_norm_entropy"]
      row[f"grad_norm_least_likely_p{i}"] = d["grad_norm_least_likely"]
      row[f"param_change_p{i}"] = d["param_change"]
  else:
    taken = np.stack([info["coins_taken"] for info in stats["info"]])
    row.update(games.coins_episode_metrics(taken, rewards, stats["reciprocal_rewards"],
                                           stats.get("voi"), stats.get("balance"),
                                           stats.get("action_probabilities")))
  return row


def baseline_frames(name: str, out_dir: str):
  """The NL vs NL seed CSVs next to out_dir (see BASELINE), or []."""
  import glob  # pylint: disable=g-import-not-at-top
  import pandas as pd  # pylint: disable=g-import-not-at-top
  if name not in BASELINE:
    return []
  folder = os.path.join(os.path.dirname(os.path.abspath(out_dir)), BASELINE[name])
  return [pd.read_csv(p) for p in sorted(glob.glob(os.path.join(folder, "seed_*.csv")))]


def with_seed(df, seed: int):
  """The frame with its seed as the first column (older CSVs have none)."""
  if "seed" not in df.columns:
    df.insert(0, "seed", seed)
  return df


def plot(name: str, frames, out_dir: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  first = frames[0]
  if name.startswith("ipd"):
    metrics = ["p_cooperate_p0", "p_cooperate_p1", "p_cooperate_after_c_p0",
               "p_cooperate_after_d_p0", "reciprocal_reward_p0"]
    # The saturation diagnostics, where the run recorded them (#15).
    metrics += [m for m in ("policy_entropy_p1", "logit_gap_c_minus_d_cc_p1",
                            "grad_norm_least_likely_p1", "param_change_p1")
                if m in first.columns]
  else:
    n = sum(c.startswith("p_own_coin_p") for c in first.columns)
    metrics = ([f"p_own_coin_p{i}" for i in range(n)] + ["total_reward"] +
               [f"reward_p{i}" for i in range(n)] + ["own_coins_p0", "other_coins_p0",
                                                     "reciprocal_reward_p0"])
  columns = min(len(metrics), 5)
  rows = -(-len(metrics) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.3 * rows), squeeze=False)
  for ax in axes.flat[len(metrics):]:
    ax.axis("off")
  baselines = baseline_frames(name, out_dir)   # Read once, drawn on several axes.
  for ax, metric in zip(axes.flat, metrics):
    if metric.startswith("p_own_coin"):
      n = sum(c.startswith("p_own_coin_p") for c in first.columns)
      ax.axhline(1 / n, color="grey", ls=":", lw=1, label="indiscriminate (1/N)")
    for df in frames:
      ax.plot(df["episode"], df[metric].rolling(5, min_periods=1).mean(),
              label=f"seed {int(df['seed'].iloc[0])}")
    if metric.startswith(("grad_norm", "param_change")):
      ax.set_yscale("log")
    baseline = [b for b in baselines if metric in b.columns]
    if baseline and not metric.startswith(("own_", "other_", "reciprocal_")):
      mean = sum(b.set_index("episode")[metric] for b in baseline) / len(baseline)
      ax.plot(mean.index, mean.rolling(5, min_periods=1).mean(), color="grey", lw=1.5,
              label=f"NL vs NL ({len(baseline)} seeds)")
    reference = PAPER_REFERENCE.get(name, {}).get(metric)
    if reference is not None:
      ax.axhline(reference, color="k", ls="--", lw=1, label="paper")
    ax.set_title(TITLES.get(metric, metric), fontsize=9)
    ax.set_xlabel("episode")
    ax.legend(fontsize=7)
  fig.suptitle(name)
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, "curves.png"), dpi=90)


def summary_table(name: str, frames) -> str:
  """Per seed: the last 20 episodes' means, and for IPD when the NL first cooperates."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  if name.startswith("ipd"):
    metrics = ["p_cooperate_p0", "p_cooperate_p1", "reward_per_step_p0", "reward_per_step_p1"]
  else:
    n = sum(c.startswith("p_own_coin_p") for c in frames[0].columns)
    metrics = ["total_reward", "p_own_coin"] + [
        f"{m}{i}" for i in range(n) for m in ("p_own_coin_p", "reward_p")]
  rows = []
  for df in frames:
    row = {"seed": str(int(df["seed"].iloc[0])), **{f"{m} (last 20)": df[m].tail(20).mean() for m in metrics}}
    if name.startswith("ipd"):
      # #15's criteria: both players above mutual defection (-2) over episodes 200-400,
      # and the NL first at P(C) >= 0.8 within 200 episodes.
      late = df[(df["episode"] >= 200) & (df["episode"] < 400)]
      for i in (0, 1):
        row[f"reward_per_step_p{i} (episodes 200-399)"] = (
            late[f"reward_per_step_p{i}"].mean() if len(late) else float("nan"))
      reached = df.index[df["p_cooperate_p1"] >= 0.8]
      row["player 1 first P(C) >= 0.8 at episode"] = (
          int(df["episode"][reached[0]]) if len(reached) else "never")
      cooperative = df.index[df["p_cooperate_p1"] > 0.9]
      row["player 1 first P(C) > 0.9 at episode"] = (
          int(df["episode"][cooperative[0]]) if len(cooperative) else "never")
      row["player 1 max P(C)"] = df["p_cooperate_p1"].max()
      both = (df["p_cooperate_p0"] > 0.9) & (df["p_cooperate_p1"] > 0.9)
      row["episodes both P(C) > 0.9"] = int(both.sum())
    rows.append(row)
  return pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f")


def write_settings(out_dir: str, config, batch_size: int, episodes: int) -> None:
  import dataclasses  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  settings = {"batch_size": batch_size, "episodes": episodes, **dataclasses.asdict(config)}
  settings.pop("seed")
  with open(os.path.join(out_dir, "settings.json"), "w") as f:
    json.dump(settings, f, indent=1, default=list)


def write_readme(name: str, frames, out_dir: str, seconds: Optional[float],
                 command: str) -> None:
  """README.md of one experiment's folder: `command` made it (launch.reproduce args)."""
  wall = (f"Wall time: {seconds / 60:.1f} min on this machine." if seconds is not None else
          "Plots and table redrawn from the CSVs (--replot); wall time in ../README.md.")
  with open(os.path.join(out_dir, "README.md"), "w") as f:
    f.write(f"# {name}\n\nMade by:\n\n    python -m launch.reproduce {command}\n\n")
    f.write(f"{wall} Curves: curves.png; one row per episode: seed_<k>.csv; every "
            "setting used: settings.json. What it shows "
            "against the paper: ../README.md.\n\n")
    f.write(summary_table(name, frames) + "\n")


def train_seed(name: str, env, config, episodes: int, log=print):
  """One seed of an experiment: a row per episode (a DataFrame with its seed)."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  from recip_acme.agents.reciprocator import batched  # pylint: disable=g-import-not-at-top
  trainer = batched.BatchedReciprocators(env, config)
  rows, start = [], time.time()
  try:
    for episode in range(episodes):
      stats = trainer.run_episode()
      if name.startswith("ipd"):
        stats["policy"] = trainer.policy_diagnostics(env.all_states())
      rows.append(episode_row(name, episode, stats))
      if episode % 10 == 0 or episode == episodes - 1:
        shown = {k: round(v, 3) for k, v in rows[-1].items() if isinstance(v, float)}
        log(f"{name} seed {config.seed} episode {episode} ({time.time() - start:.0f}s): {shown}")
  finally:
    trainer.close()
  return with_seed(pd.DataFrame(rows), config.seed)


# -- The claims table (results/paper/claims.md): each claim, per seed, with its margin. --

PAPER_COINS_TOTAL = 8.0      # Coins R vs R: total extrinsic reward per episode (paper).
MUTUAL_DEFECTION = -2.0      # IPD reward per step when both defect.
LAST = 20                    # Episodes averaged at the end of a run.


def _seed_frames(folder: str) -> dict:
  """{seed: DataFrame} of a folder's seed_<k>.csv files."""
  import glob  # pylint: disable=g-import-not-at-top
  import pandas as pd  # pylint: disable=g-import-not-at-top
  frames = {}
  for path in sorted(glob.glob(os.path.join(folder, "seed_*.csv"))):
    seed = int(os.path.basename(path)[len("seed_"):-len(".csv")])
    frames[seed] = pd.read_csv(path)
  return frames


def _ipd_r_vs_nl_rows(df) -> dict:
  late = df[(df["episode"] >= 200) & (df["episode"] < 400)]
  worst = min(late["reward_per_step_p0"].mean(), late["reward_per_step_p1"].mean())
  reached = df.index[df["p_cooperate_p1"] >= 0.8]
  first = int(df["episode"][reached[0]]) if len(reached) else None
  return {"measured": f"episodes 200-399: lower player reward/step {worst:.2f}; NL first "
                      f"P(C) >= 0.8 at episode {first if first is not None else 'never'}",
          "margin": f"{worst - MUTUAL_DEFECTION:+.2f} over -2; "
                    + (f"{200 - first} episodes to spare" if first is not None else "never"),
          "passes": worst > MUTUAL_DEFECTION and first is not None and first < 200}


def _ipd_nl_vs_nl_rows(df) -> dict:
  cooperation = max(df["p_cooperate_p0"].tail(LAST).mean(), df["p_cooperate_p1"].tail(LAST).mean())
  reward = max(df["reward_per_step_p0"].tail(LAST).mean(), df["reward_per_step_p1"].tail(LAST).mean())
  return {"measured": f"last {LAST}: higher P(C) {cooperation:.3f}, higher reward/step {reward:.2f}",
          "margin": f"{0.1 - cooperation:+.3f} under P(C) 0.1",
          "passes": cooperation <= 0.1}


def _coins_r_vs_r_rows(df, baseline) -> dict:
  total = df["total_reward"].tail(LAST).mean()
  own = df["p_own_coin"].tail(LAST).mean()
  base, which, _ = baseline
  return {"measured": f"last {LAST}: total reward {total:.1f}, P(own) {own:.3f} "
                      f"(NL vs NL, {which}: {base:.3f})",
          "margin": f"{total - PAPER_COINS_TOTAL:+.1f} over the paper's 8; P(own) "
                    f"{own - base:+.3f} over NL vs NL",
          "passes": total >= PAPER_COINS_TOTAL and own > base}


def _coins_nl_vs_nl_rows(df) -> dict:
  total = df["total_reward"].tail(LAST).mean()
  own = df["p_own_coin"].tail(LAST).mean()
  return {"measured": f"last {LAST}: total reward {total:.1f}, P(own) {own:.3f}",
          "margin": f"P(own) {own - 0.5:+.3f} from 1/2",
          "passes": abs(own - 0.5) <= 0.05}


def _coins_r_vs_nl_rows(df, baseline) -> dict:
  nl_own = df["p_own_coin_p1"].tail(LAST).mean()       # Player 1 is the naive learner.
  base, which, base_frame = baseline
  rewards = [df[f"reward_p{i}"].tail(LAST).mean() for i in (0, 1)]
  same_episodes = ""
  if base_frame is not None:
    # The NL vs NL baseline drifts above 1/2 (README): the shaping relative to it over
    # the same episodes, per 100 episodes, against the same player slot's P(own).
    column = "p_own_coin_p1" if "p_own_coin_p1" in base_frame else "p_own_coin"
    gap = (df["p_own_coin_p1"] - base_frame[column]).dropna()
    same_episodes = ("; NL's P(own) minus the same player's in NL vs NL, per 100 "
                     "episodes: ") + ", ".join(
        f"{gap[i:i + 100].mean():+.3f}" for i in range(0, len(gap), 100))
  return {"measured": f"last {LAST}: NL's P(own) {nl_own:.3f} (NL vs NL, {which}: "
                      f"{base:.3f}); reward R {rewards[0]:+.1f}, NL {rewards[1]:+.1f}"
                      + same_episodes,
          "margin": f"NL's P(own) {nl_own - base:+.3f} over NL vs NL; lower reward "
                    f"{min(rewards):+.1f} over 0",
          "passes": nl_own > base and min(rewards) > 0}


def _baseline_own(results_dir: str, scale: str, name: str, seed: int):
  """(NL vs NL's P(own) over its last episodes, which runs, the run's frame or None).

  The baseline is taken at the claim's own scale when NL vs NL was run there (its same
  seed, else the mean of its seeds), since the baseline's drift above 1/2 depends on the
  batch size; otherwise at the default scale, and the label says so.
  """
  folders = [(scale, "")] + ([("", "default scale, ")] if scale else [])
  for folder, prefix in folders:
    frames = _seed_frames(os.path.join(results_dir, folder, BASELINE[name]))
    if not frames:
      continue
    own = {s: df["p_own_coin"].tail(LAST).mean() for s, df in frames.items()}
    if seed in own:
      return own[seed], f"{prefix}same seed", frames[seed]
    return (sum(own.values()) / len(own),
            f"{prefix}mean of seeds {','.join(map(str, sorted(own)))}", None)
  raise ValueError(f"claim {name} needs {BASELINE[name]} results under {results_dir}")


# claim -> (experiment folder, its rule, needs the NL vs NL baseline, seeds needed to pass)
CLAIMS = {
    "IPD R vs NL: the NL is shaped to cooperate (first P(C) >= 0.8 within 200 episodes) "
    "and both players stay above mutual defection over episodes 200-399":
        ("ipd_r_vs_nl", _ipd_r_vs_nl_rows, False, 3),
    "IPD NL vs NL ends in mutual defection (P(C) <= 0.1 in the last 20 episodes)":
        ("ipd_nl_vs_nl", _ipd_nl_vs_nl_rows, False, None),
    "Coins R vs R: about 8 total reward per episode (>= 8) and P(own) above NL vs NL":
        ("coins_r_vs_r", _coins_r_vs_r_rows, True, None),
    "Coins NL vs NL: P(own) near 1/2 (within 0.05)":
        ("coins_nl_vs_nl", _coins_nl_vs_nl_rows, False, None),
    "Coins R vs NL: the NL's P(own) rises above NL vs NL's, and both earn positive reward":
        ("coins_r_vs_nl", _coins_r_vs_nl_rows, True, None),
}


COINS_PAIRINGS = (("coins_nl_vs_nl", ("NL", "NL")), ("coins_r_vs_r", ("R", "R")),
                  ("coins_r_vs_nl", ("R", "NL")))


def coins_collection_table(results_dir: str, block: int = 100) -> str:
  """Markdown: per Coins pairing, seed and player, the coins it collected per episode
  (any colour) and the coins of its colour its opponent took, per `block` episodes.

  Why: the R vs NL claim needs R to shape the NL through the rewards it leaves it. How
  many coins each side collects, and how many of R's coins the NL takes, is the
  measured decomposition of both players' rewards (a coin is +1 to its taker and -2 to
  its owner when taken by the other).
  """
  import pandas as pd  # pylint: disable=g-import-not-at-top
  rows = []
  for name, kinds in COINS_PAIRINGS:
    for seed, df in _seed_frames(os.path.join(results_dir, name)).items():
      blocks = df["episode"] // block
      for i, kind in enumerate(kinds):
        collected = (df[f"own_coins_p{i}"] + df[f"other_coins_p{i}"]).groupby(blocks).mean()
        taken = df[f"other_coins_p{1 - i}"].groupby(blocks).mean()
        rows.append({"pairing": name, "seed": seed, "player": f"p{i} ({kind})",
                     "coins collected per episode": ", ".join(f"{v:.1f}" for v in collected),
                     "own-colour coins the opponent took": ", ".join(f"{v:.1f}" for v in taken)})
  if not rows:
    return ""
  return (f"Per {block} episodes, in order (means over the block's episodes):\n\n"
          + pd.DataFrame(rows).to_markdown(index=False) + "\n")


def claims_table(results_dir: str) -> str:
  """Markdown: per claim and seed, what was measured, the margin, pass or fail, and the
  claim's verdict (every seed, or the number the claim names). Reads the seed CSVs
  that `launch.reproduce` wrote under `results_dir` (and under its paper_scale/)."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  sections = []
  for scale in ("", "paper_scale"):
    rows = []
    for claim, (name, rule, needs_baseline, needed) in CLAIMS.items():
      frames = _seed_frames(os.path.join(results_dir, scale, name))
      if not frames:
        continue
      results = {seed: rule(df, _baseline_own(results_dir, scale, name, seed)) if needs_baseline
                 else rule(df) for seed, df in frames.items()}
      passed = sum(r["passes"] for r in results.values())
      # A claim over "k of n seeds" asks all of fewer seeds (paper scale runs one).
      needed_here = min(needed, len(results)) if needed else len(results)
      verdict = (f"{'PASSES' if passed >= needed_here else 'FAILS'} ({passed} of "
                 f"{len(results)} seeds; needs {needed_here})")
      for seed, r in results.items():
        rows.append({"claim": claim, "seed": seed, "measured": r["measured"],
                     "margin": r["margin"], "seed passes": "yes" if r["passes"] else "no",
                     "claim verdict": verdict})
    if rows:
      title = ("Paper scale (batch 2048)" if scale else
               "Default scale (`launch.reproduce` defaults)")
      sections.append(f"## {title}\n\n" + pd.DataFrame(rows).to_markdown(index=False))
  return "\n\n".join(sections) + "\n"
