"""Tables and plots of a multi-seed comparison of agents on a Melting Pot substrate.

Input: each run's episodes.csv (one row per episode). Everything is pooled over the
steps of a fifth of the run (records.learning_by_fifth), so the tables read the same
at any budget. The reference a learning curve must beat on coins is a uniformly random
policy, measured on the same substrate by `random_policy_coins`.

Workdirs hold checkpoints (megabytes) and do not outlive the machine they ran on; a
comparison of 3 seeds at 1M steps takes more than one session here. So each report also
archives every run's records (config, episode and progress rows: kilobytes) under
`OUT/runs/`, and a later report, on any machine, reads a run from its archive when its
workdir is gone (`records_source`).
"""

from __future__ import annotations

import math
import os
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from recip_acme.experiments import records

METRICS = ("coins_per_step", "p_own_coin", "collective_return_per_1000_steps")
ARCHIVE_DIR = "runs"
ARCHIVED_FILES = (records.CONFIG_FILE, records.EPISODES_FILE, records.PROGRESS_FILE)


def archive_records(workdir: str, archived: str) -> None:
  """Copies the run's records (ARCHIVED_FILES, not its checkpoints) to `archived`."""
  for name in ARCHIVED_FILES:
    source = os.path.join(workdir, name)
    if os.path.exists(source):
      os.makedirs(os.path.dirname(os.path.join(archived, name)), exist_ok=True)
      shutil.copyfile(source, os.path.join(archived, name))


def archived_path(out: str, workdir: str) -> str:
  """Where the report in `out` archives the records of the run in `workdir`."""
  return os.path.join(out, ARCHIVE_DIR, os.path.basename(os.path.normpath(workdir)))


def records_source(workdir: str, out: str) -> str:
  """Where a run's records are read from: its workdir while that holds episode rows
  (it is the newer), else its copy archived under `out` (the workdir is gone with its
  machine)."""
  if os.path.exists(os.path.join(workdir, records.EPISODES_FILE)):
    return workdir
  return archived_path(out, workdir)


def random_policy_coins(steps: int, seeds: Sequence[int] = (0,),
                        copies: int = 1) -> Dict[str, float]:
  """Coins per step and P(own coin) of uniformly random players on Melting Pot coins:
  the level below which a coins learner has learned nothing.

  Coins per step depends on the map's size, which Melting Pot draws from Python's
  `random` when a copy is built: for each seed, the `copies` maps a training run with
  that seed plays (melting_pot.seeded_copies) get steps / (seeds x copies) steps each.
  """
  from substrates import melting_pot  # pylint: disable=g-import-not-at-top
  from substrates import metrics  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  tally, total_return, done = metrics.CoinsTally(), 0.0, 0
  share = max(1, steps // (len(seeds) * copies))
  for seed in seeds:
    envs = melting_pot.seeded_copies("coins", melting_pot.AdapterConfig(), copies, seed)
    try:
      for env in envs:
        ts = env.reset()
        for _ in range(share):
          ts = env.step(rng.integers(0, env.num_actions[0], env.num_players))
          tally.add(ts.rewards, ts.signals)
          total_return += float(ts.rewards.sum())
          done += 1
          if ts.last():
            ts = env.reset()
    finally:
      for env in envs:
        env.close()
  steps = done
  summary = tally.summary()
  coins = summary["own_coins"] + summary["other_coins"]
  return {"agent": "random policy", "steps": steps, "coins_per_step": coins / steps,
          "p_own_coin": summary["p_own_coin"],
          "collective_return_per_1000_steps": 1000.0 * total_return / steps}


def only_pairing(episodes: pd.DataFrame, pairing: Optional[str]) -> pd.DataFrame:
  """A partner-pool run's episodes of one pairing (all rows of any other run)."""
  if pairing is None or "pairing" not in episodes:
    return episodes
  kept = episodes[episodes["pairing"] == pairing]
  if kept.empty:
    raise ValueError(f"no episode of pairing {pairing!r}; this run has "
                     f"{', '.join(sorted(map(str, episodes['pairing'].unique())))}")
  return kept.reset_index(drop=True)


def by_fifth(runs: Sequence[Tuple[str, int, pd.DataFrame]], num_steps: int) -> pd.DataFrame:
  """One row per (agent, seed, fifth): the learning metrics and the reward scale."""
  frames = []
  for agent, seed, episodes in runs:
    table = records.learning_by_fifth(episodes, num_steps)
    if "abs_weighted_reciprocal_reward" in episodes and agent == "reciprocator":
      scale = records.reward_scale_by_fifth(episodes, num_steps)
      table["abs_weighted_reciprocal_reward"] = scale["mean_abs_weighted_reciprocal_reward"]
      table["reward_scale_ratio"] = scale["ratio"]
    table.insert(0, "seed", seed)
    table.insert(0, "agent", agent)
    frames.append(table)
  return pd.concat(frames, ignore_index=True)


def p_own_coin_standard_error(p_own_coin: np.ndarray, coins: np.ndarray) -> np.ndarray:
  """Binomial standard error of a P(own coin) pooled over `coins` coins: how far a
  fifth's P(own) moves by chance alone, which is what a margin of 0.01 must be read
  against (a fifth of a 1M-step coins run holds ~14k coins: ~0.004)."""
  p = np.asarray(p_own_coin, dtype=float)
  return np.sqrt(p * (1.0 - p) / np.maximum(np.asarray(coins, dtype=float), 1.0))


def margins(fifths: pd.DataFrame, agent: str, baseline: str) -> pd.DataFrame:
  """Per seed, last fifth: `agent` minus `baseline` on every metric (seed k vs seed k).
  With the fifth's steps in the table, also the P(own coin) margin's standard error
  (the two runs' binomial errors combined): a margin reads in units of it."""
  last = fifths[fifths["fifth"] == 5].set_index(["agent", "seed"])
  rows = []
  for seed in sorted(set(last.loc[agent].index) & set(last.loc[baseline].index)):
    row = {"seed": seed}
    for metric in METRICS:
      if metric in last:
        a, b = last.loc[(agent, seed), metric], last.loc[(baseline, seed), metric]
        row[f"{metric}_{agent}"], row[f"{metric}_{baseline}"] = a, b
        row[f"{metric}_margin"] = a - b
    if {"p_own_coin", "coins_per_step", "steps"} <= set(last.columns):
      errors = [p_own_coin_standard_error(last.loc[(who, seed), "p_own_coin"],
                                          last.loc[(who, seed), "coins_per_step"]
                                          * last.loc[(who, seed), "steps"])
                for who in (agent, baseline)]
      row["p_own_coin_margin_se"] = float(np.hypot(*errors))
    rows.append(row)
  return pd.DataFrame(rows)


def sign_test_p(ahead: int, seeds: int) -> float:
  """P(at least `ahead` of `seeds` fair coin flips come up heads): how often chance
  alone puts an agent ahead in that many seeds (3 of 3: 0.125)."""
  return sum(math.comb(seeds, k) for k in range(ahead, seeds + 1)) / 2.0 ** seeds


def seeds_ahead(margin_table: pd.DataFrame) -> pd.DataFrame:
  """Per metric, over the seeds of `margins`: in how many the agent is ahead (margin >
  0), the mean margin and its standard error across seeds, and the one-sided sign-test
  p-value of that many seeds ahead if ahead and behind were equally likely. This is
  the line a multi-seed claim ("ahead in 3 of 3") is read from, with its weight."""
  rows = []
  for metric in METRICS:
    column = f"{metric}_margin"
    if column not in margin_table:
      continue
    values = margin_table[column].to_numpy(dtype=float)
    ahead, n = int((values > 0).sum()), len(values)
    rows.append({"metric": metric, "seeds": n, "seeds_ahead": ahead,
                 "mean_margin": float(values.mean()) if n else np.nan,
                 "margin_se_across_seeds": (float(values.std(ddof=1) / np.sqrt(n))
                                            if n > 1 else np.nan),
                 "sign_test_p": sign_test_p(ahead, n) if n else np.nan})
  return pd.DataFrame(rows)


def seed_mean_curves(curve_table: pd.DataFrame, metric: str, points: int = 200) -> pd.DataFrame:
  """Per agent, the mean of its seeds' `metric` curves on a common grid of env steps
  (each run interpolated at the grid; the grid spans the steps every seed has reached),
  so that many seeds read as one line per agent. Agents with one seed are left out."""
  frames = []
  for agent, table in curve_table.dropna(subset=[metric]).groupby("agent", sort=False):
    runs = [run.sort_values("env_steps") for _, run in table.groupby("seed")]
    if len(runs) < 2:
      continue
    start = max(run["env_steps"].iloc[0] for run in runs)
    stop = min(run["env_steps"].iloc[-1] for run in runs)
    if stop <= start:
      continue
    grid = np.linspace(start, stop, points)
    values = np.stack([np.interp(grid, run["env_steps"], run[metric]) for run in runs])
    frames.append(pd.DataFrame({"agent": agent, "seeds": len(runs), "env_steps": grid,
                                metric: values.mean(axis=0)}))
  return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def curves(runs: Sequence[Tuple[str, int, pd.DataFrame]], window_steps: int) -> pd.DataFrame:
  """Per run, the metrics pooled over a trailing window of `window_steps` env steps,
  evaluated at each episode's end (what the plot draws)."""
  frames: List[pd.DataFrame] = []
  for agent, seed, episodes in runs:
    e = episodes.sort_values("env_steps").reset_index(drop=True)
    length = e["length"].astype(float)
    cum = {"length": length.cumsum(), "total": records.collective_return(e).cumsum()}
    if "own_coins" in e:
      cum["own"] = e["own_coins"].cumsum()
      cum["coins"] = (e["own_coins"] + e["other_coins"]).cumsum()
    if "abs_weighted_reciprocal_reward" in e:
      cum["rec"] = (e["abs_weighted_reciprocal_reward"] * length).cumsum()
    start = np.searchsorted(e["env_steps"].to_numpy(), e["env_steps"].to_numpy() - window_steps)
    window = {k: v.to_numpy() - np.where(start > 0, v.to_numpy()[np.maximum(start - 1, 0)], 0.0)
              for k, v in cum.items()}
    out = pd.DataFrame({"agent": agent, "seed": seed, "env_steps": e["env_steps"],
                        "collective_return_per_1000_steps":
                            1000.0 * window["total"] / window["length"]})
    if "coins" in window:
      out["coins_per_step"] = window["coins"] / window["length"]
      out["p_own_coin"] = window["own"] / np.maximum(window["coins"], 1.0)
    if "rec" in window and agent == "reciprocator":
      out["abs_weighted_reciprocal_reward"] = window["rec"] / window["length"]
    frames.append(out)
  return pd.concat(frames, ignore_index=True)


SEED_LINE_STYLES = ("-", "--", ":", "-.")


def plot(curve_table: pd.DataFrame, path: str, title: str, reference: Dict[str, float] = None):
  """One panel per metric, one line per run: agents by colour, seeds by line style, so
  that two seeds of one agent can be told apart (the legend names both). With more
  seeds than line styles the runs are drawn thin and each agent's seed mean
  (`seed_mean_curves`) thick, since a style would name two seeds."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  panels = [m for m in (*METRICS, "abs_weighted_reciprocal_reward") if m in curve_table]
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
  colours = {}
  styles = {}
  many_seeds = curve_table["seed"].nunique() > len(SEED_LINE_STYLES)
  for ax, metric in zip(axes[0], panels):
    for (agent, seed), run in curve_table.groupby(["agent", "seed"]):
      if run[metric].isna().all():
        continue
      colour = colours.setdefault(agent, f"C{len(colours)}")
      if many_seeds:
        ax.plot(run["env_steps"], run[metric], color=colour, alpha=0.3, lw=0.7)
        continue
      style = styles.setdefault(seed, SEED_LINE_STYLES[len(styles) % len(SEED_LINE_STYLES)])
      ax.plot(run["env_steps"], run[metric], color=colour, ls=style, alpha=0.8, lw=1,
              label=f"{agent} seed {seed}")
    if many_seeds:
      mean = seed_mean_curves(curve_table, metric)
      for agent, line in (mean.groupby("agent", sort=False) if len(mean) else ()):
        seeds = sorted(curve_table.loc[curve_table["agent"] == agent, "seed"].unique())
        ax.plot(line["env_steps"], line[metric], color=colours.get(agent, "k"), lw=2,
                label=f"{agent}, mean of seeds {', '.join(str(s) for s in seeds)}")
    if reference is not None and metric in reference:
      ax.axhline(reference[metric], color="grey", ls="--", lw=1, label="random policy")
    if metric == "p_own_coin":
      ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_title(metric.replace("_", " "), fontsize=9)
    ax.set_xlabel("environment steps")
  axes[0][0].legend(fontsize=6)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def report(runs: Sequence[Tuple[str, int, str]], substrate: str, agents: Sequence[str],
           base: str, num_steps: int, out: str, window_steps: int,
           random_reference_steps: int, command: str,
           pairing: Optional[str] = None) -> pd.DataFrame:
  """The per-fifth table, curves, plot, margins and README.md of a set of runs
  (agent, seed, workdir) in `out`; returns the fifths. Unfinished runs are tabulated
  as they stand and named in the README. `command` is what made it. A run is read from
  `records_source`, and its records archived under `out` for the next report. With
  `pairing`, a partner-pool run (ReciprocatorConfig.naive_partners) counts only its
  episodes of that pairing (e.g. "R-R", its self-play); other runs count whole."""
  from recip_acme import run_queue  # pylint: disable=g-import-not-at-top
  resolved = []
  for a, s, w in runs:
    source, archived = records_source(w, out), archived_path(out, w)
    if source == w and os.path.abspath(w) != os.path.abspath(archived):
      archive_records(w, archived)   # The workdir holds episode rows (records_source).
    resolved.append((a, s, source))
  runs = resolved
  reached = {(a, s): run_queue.steps_reached(w) for a, s, w in runs}
  episodes = [(a, s, only_pairing(pd.read_csv(os.path.join(w, records.EPISODES_FILE)), pairing))
              for a, s, w in runs if os.path.exists(os.path.join(w, records.EPISODES_FILE))]
  if not episodes:
    raise ValueError(f"no run in {os.path.dirname(runs[0][2]) if runs else '?'} has episodes yet")
  os.makedirs(out, exist_ok=True)
  fifths = by_fifth(episodes, num_steps)
  fifths.insert(2, "run_steps_reached", [reached[(a, s)] for a, s in
                                         zip(fifths["agent"], fifths["seed"])])
  fifths.to_csv(os.path.join(out, "fifths.csv"), index=False)
  curve_table = curves(episodes, window_steps)
  curve_table.to_csv(os.path.join(out, "curves.csv"), index=False)
  reference = None
  seeds = sorted({s for _, s, _ in runs})
  if substrate == "coins" and random_reference_steps:
    from recip_acme import experiments  # pylint: disable=g-import-not-at-top
    copies = experiments.default_config("coins").reciprocator.num_envs
    reference = random_policy_coins(random_reference_steps, seeds, copies)
  title = (f"{substrate}: {' vs '.join(agents)} ({base}), {num_steps} "
           f"steps per run, {window_steps}-step trailing window")
  plot(curve_table, os.path.join(out, "curves.png"), title, reference)
  with open(os.path.join(out, "README.md"), "w") as f:
    f.write(f"# {substrate}: {' vs '.join(agents)}\n\nMade by (from the project "
            f"root):\n\n    {command}\n\nPer run and fifth of the run (pooled over its steps; "
            "`fifths.csv`):\n\n")
    if pairing is not None:
      f.write(f"Partner-pool runs count only their episodes of pairing {pairing}; the "
              "fifths are of each run's own env steps.\n\n")
    f.write(fifths.to_markdown(index=False, floatfmt=".4f") + "\n")
    short = [f"{a} seed {s} ({n} steps)" for (a, s), n in reached.items() if n < num_steps]
    if short:
      f.write(f"\n**Unfinished** at the time of this table: {', '.join(short)} of "
              f"{num_steps}; their later fifths are empty or partial. The same command "
              "with --resume continues them.\n")
    if reference is not None:
      f.write(f"\nUniformly random players ({reference['steps']} steps on the runs' maps): "
              f"coins per step "
              f"{reference['coins_per_step']:.4f}, P(own coin) {reference['p_own_coin']:.3f}, "
              f"collective return per 1,000 steps "
              f"{reference['collective_return_per_1000_steps']:.2f}.\n")
    if len(agents) == 2:
      table = margins(fifths, *agents)
      table.to_csv(os.path.join(out, "margins.csv"), index=False)
      f.write(f"\nLast fifth, {agents[0]} minus {agents[1]}, seed by seed "
              "(`margins.csv`):\n\n" + table.to_markdown(index=False, floatfmt=".4f") + "\n")
      summary = seeds_ahead(table)
      summary.to_csv(os.path.join(out, "seeds_ahead.csv"), index=False)
      f.write(f"\nOver the seeds (`seeds_ahead.csv`): in how many {agents[0]} is ahead, "
              "the mean margin and its standard error across seeds, and the one-sided "
              "sign-test p-value of that count:\n\n"
              + summary.to_markdown(index=False, floatfmt=".4g") + "\n")
  return fifths
