r"""Experiment: Reciprocators vs independent learners on one substrate, several seeds.

Trains every (agent, seed) pair with the same steps and settings (launch.train's
library function, one process each, `--parallel` at a time), then writes under
--out: curves.csv (per-episode rows of every run), summary.csv (per run: first and
last fifth of training), curves.png, and README.md with the exact command.

  python -m launch.compare_agents --substrate=coins --seeds=0,1 --num_steps=120000 \
      --out=results/coins_reciprocator_vs_independent
"""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import flags  # noqa: E402

from launch import cli  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("substrate", "coins", "Melting Pot substrate.")
cli.allow("substrate", cli.name())
flags.DEFINE_list("agents", ["reciprocator", "independent"], "Agents to compare.")
cli.allow("agents", cli.names(("reciprocator", "independent")))
flags.DEFINE_list("seeds", ["0", "1"], "Seeds (the same for every agent).")
cli.allow("seeds", cli.integers(0))
flags.DEFINE_integer("num_steps", 120_000, "Environment steps per run.")
cli.allow("num_steps", cli.above(0, integer=True))
flags.DEFINE_enum("base", "impala", ["impala", "r2d2"], "Wrapped learner.")
flags.DEFINE_integer("episode_step_limit", 0, "If > 0, cut episodes after this many steps.")
cli.allow("episode_step_limit", cli.at_least(0, integer=True))
flags.DEFINE_integer("parallel", 2, "Runs at a time (one per core here).")
cli.allow("parallel", cli.at_least(1, integer=True))
flags.DEFINE_string("runs_dir", "runs/compare", "Where the runs' workdirs go.")
cli.allow("runs_dir", cli.output_dir())
flags.DEFINE_string("out", None, "Output folder under results/.")
cli.allow("out", cli.output_dir())
flags.DEFINE_bool("resume", False, "Reuse finished runs in --runs_dir (re-plot only).")
flags.DEFINE_list("train_flags", [], "Extra launch.train flags for every run, e.g. "
                  "--train_flags=--normalize_reciprocal_reward")
cli.allow("train_flags", cli.any_list())


def _run_command(agent: str, seed: str, workdir: str):
  cmd = [sys.executable, "-m", "launch.train", f"--substrate={FLAGS.substrate}",
         f"--agent={agent}", f"--base={FLAGS.base}", f"--seed={seed}",
         f"--num_steps={FLAGS.num_steps}", f"--workdir={workdir}", "--log_every_seconds=60"]
  return cmd + list(FLAGS.train_flags)


def main(argv):
  del argv
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  out = FLAGS.out or os.path.join("results", f"{FLAGS.substrate}_agents")
  os.makedirs(out, exist_ok=True)
  jobs = []
  for agent in FLAGS.agents:
    for seed in FLAGS.seeds:
      workdir = os.path.join(FLAGS.runs_dir, f"{FLAGS.substrate}_{agent}_s{seed}")
      done = os.path.exists(os.path.join(workdir, "episodes.csv")) and FLAGS.resume
      cmd = _run_command(agent, seed, workdir)
      if FLAGS.episode_step_limit > 0:
        cmd.append(f"--episode_step_limit={FLAGS.episode_step_limit}")
      jobs.append((agent, seed, workdir, None if done else cmd))

  pending = [j for j in jobs if j[3] is not None]
  running = []
  while pending or running:
    while pending and len(running) < FLAGS.parallel:
      agent, seed, workdir, cmd = pending.pop(0)
      os.makedirs(os.path.dirname(workdir) or ".", exist_ok=True)
      log = open(workdir + ".log", "w")
      print("running:", " ".join(cmd), flush=True)
      running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log, workdir))
    proc, log, workdir = running.pop(0)
    if proc.wait() != 0:
      sys.exit(f"error: run failed, see {workdir}.log")
    log.close()

  frames = []
  for agent, seed, workdir, _ in jobs:
    df = pd.read_csv(os.path.join(workdir, "episodes.csv"))
    df["agent"], df["seed"] = agent, int(seed)
    df["total_return"] = df[[c for c in df.columns if c.startswith("return_p")]].sum(axis=1)
    frames.append(df)
  curves = pd.concat(frames, ignore_index=True)
  curves.to_csv(os.path.join(out, "curves.csv"), index=False)

  rows = []
  for (agent, seed), df in curves.groupby(["agent", "seed"]):
    fifth = max(1, len(df) // 5)
    row = {"agent": agent, "seed": seed, "episodes": len(df)}
    for key in ("total_return", "p_own_coin", "mean_reciprocal_reward"):
      if key in df:
        row[f"{key}_first_fifth"] = df[key].iloc[:fifth].mean()
        row[f"{key}_last_fifth"] = df[key].iloc[-fifth:].mean()
    rows.append(row)
  summary = pd.DataFrame(rows)
  summary.to_csv(os.path.join(out, "summary.csv"), index=False)

  metrics = [m for m in ("total_return", "p_own_coin", "mean_reciprocal_reward") if m in curves]
  fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4))
  for ax, metric in zip(list(axes) if len(metrics) > 1 else [axes], metrics):
    for (agent, seed), df in curves.groupby(["agent", "seed"]):
      smooth = df[metric].rolling(5, min_periods=1).mean()
      ax.plot(df["env_steps"], smooth, label=f"{agent} s{seed}",
              color="C0" if agent == "reciprocator" else "C1", alpha=0.5 + 0.5 / (1 + seed))
    ax.set_xlabel("environment steps")
    ax.set_title(metric)
    if metric == "p_own_coin":
      ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.legend(fontsize=7)
  fig.suptitle(f"{FLAGS.substrate}: {' vs '.join(FLAGS.agents)} ({FLAGS.base}), "
               f"{FLAGS.num_steps} steps per run")
  fig.tight_layout()
  fig.savefig(os.path.join(out, "curves.png"), dpi=100)

  command = "python -m launch.compare_agents " + " ".join(a for a in sys.argv[1:])
  with open(os.path.join(out, "README.md"), "w") as f:
    f.write(f"# {FLAGS.substrate}: {' vs '.join(FLAGS.agents)}\n\nMade by:\n\n    {command}\n\n")
    f.write(summary.to_markdown(index=False) if hasattr(summary, "to_markdown") else summary.to_string())
    f.write("\n")
  print(summary.to_string())


if __name__ == "__main__":
  cli.run(main)
