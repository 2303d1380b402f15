r"""Experiment: Reciprocators vs independent learners on one substrate, several seeds.

Trains every (agent, seed) pair with the same steps and settings (launch.train, one
process each, `--parallel` at a time). With --resume the same command continues killed
runs (launch.train --resume) and reuses finished ones, so a comparison longer than a
session is run by repeating it. Writes under --out: fifths.csv (per run and fifth:
coins per step, P(own coin), collective return per 1,000 steps, reciprocal-reward
scale), margins.csv (per seed, first agent minus second, last fifth), curves.csv and
curves.png (trailing-window curves), README.md with the exact command.

  python -m launch.compare_agents --substrate=coins --seeds=1,2,3 --num_steps=1000000 \
      --out=results/coins_reciprocator_vs_independent --resume
"""

import os
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
flags.DEFINE_bool("resume", False, "Continue unfinished runs in --runs_dir; reuse finished ones.")
flags.DEFINE_list("train_flags", [], "Extra launch.train flags for every run, e.g. "
                  "--train_flags=--normalize_reciprocal_reward")
cli.allow("train_flags", cli.any_list())


flags.DEFINE_bool("report_only", False, "Tabulate the runs as they are now (unfinished "
                  "ones included, with the steps they reached); train nothing.")
flags.DEFINE_integer("random_reference_steps", 20_000, "Steps of a uniformly random policy "
                     "measured as the reference on coins (0: none).")
cli.allow("random_reference_steps", cli.at_least(0, integer=True))
flags.DEFINE_integer("window_steps", 50_000, "Trailing window of the plotted curves.")
cli.allow("window_steps", cli.above(0, integer=True))


def main(argv):
  del argv
  import pandas as pd  # pylint: disable=g-import-not-at-top
  from recip_acme import comparison  # pylint: disable=g-import-not-at-top
  from recip_acme import run_queue  # pylint: disable=g-import-not-at-top

  out = FLAGS.out or os.path.join("results", f"{FLAGS.substrate}_agents")
  extra = [f"--episode_step_limit={FLAGS.episode_step_limit}"] if FLAGS.episode_step_limit else []
  # Seed-major order: with --parallel=2 the two agents of a seed run side by side, so a
  # comparison cut short still has whole pairs.
  pairs = [(agent, int(seed)) for seed in FLAGS.seeds for agent in FLAGS.agents]
  runs = [run_queue.Run(
      name=f"{agent} seed {seed}", num_steps=FLAGS.num_steps,
      workdir=os.path.join(FLAGS.runs_dir, f"{FLAGS.substrate}_{agent}_s{seed}"),
      train_flags=[f"--substrate={FLAGS.substrate}", f"--agent={agent}", f"--base={FLAGS.base}",
                   f"--seed={seed}", *extra, *FLAGS.train_flags]) for agent, seed in pairs]
  if not FLAGS.report_only:
    try:
      run_queue.run_all(runs, FLAGS.parallel, FLAGS.resume)
    except run_queue.RunQueueError as e:
      cli.fail(str(e))
  reached = {(a, s): run_queue.steps_reached(r.workdir) for (a, s), r in zip(pairs, runs)}
  episodes = [(agent, seed, pd.read_csv(os.path.join(run.workdir, "episodes.csv")))
              for (agent, seed), run in zip(pairs, runs)
              if os.path.exists(os.path.join(run.workdir, "episodes.csv"))]
  if not episodes:
    cli.fail(f"no run in {FLAGS.runs_dir} has episodes yet")
  os.makedirs(out, exist_ok=True)
  fifths = comparison.by_fifth(episodes, FLAGS.num_steps)
  fifths.insert(2, "run_steps_reached", [reached[(a, s)] for a, s in
                                         zip(fifths["agent"], fifths["seed"])])
  fifths.to_csv(os.path.join(out, "fifths.csv"), index=False)
  curve_table = comparison.curves(episodes, FLAGS.window_steps)
  curve_table.to_csv(os.path.join(out, "curves.csv"), index=False)
  reference = None
  if FLAGS.substrate == "coins" and FLAGS.random_reference_steps:
    from recip_acme import experiments  # pylint: disable=g-import-not-at-top
    copies = experiments.default_config("coins").reciprocator.num_envs
    reference = comparison.random_policy_coins(FLAGS.random_reference_steps,
                                               [int(s) for s in FLAGS.seeds], copies)
  title = (f"{FLAGS.substrate}: {' vs '.join(FLAGS.agents)} ({FLAGS.base}), {FLAGS.num_steps} "
           f"steps per run, {FLAGS.window_steps}-step trailing window")
  comparison.plot(curve_table, os.path.join(out, "curves.png"), title, reference)

  command = "python -m launch.compare_agents " + " ".join(sys.argv[1:])
  with open(os.path.join(out, "README.md"), "w") as f:
    f.write(f"# {FLAGS.substrate}: {' vs '.join(FLAGS.agents)}\n\nMade by (from the project "
            f"root):\n\n    {command}\n\nPer run and fifth of the run (pooled over its steps; "
            "`fifths.csv`):\n\n")
    f.write(fifths.to_markdown(index=False, floatfmt=".4f") + "\n")
    short = [f"{a} seed {s} ({n} steps)" for (a, s), n in reached.items() if n < FLAGS.num_steps]
    if short:
      f.write(f"\n**Unfinished** at the time of this table: {', '.join(short)} of "
              f"{FLAGS.num_steps}; their later fifths are empty or partial. The same command "
              "with --resume continues them.\n")
    if reference is not None:
      f.write(f"\nUniformly random players ({reference['steps']} steps on the runs' maps): "
              f"coins per step "
              f"{reference['coins_per_step']:.4f}, P(own coin) {reference['p_own_coin']:.3f}, "
              f"collective return per 1,000 steps "
              f"{reference['collective_return_per_1000_steps']:.2f}.\n")
    if len(FLAGS.agents) == 2:
      table = comparison.margins(fifths, *FLAGS.agents)
      table.to_csv(os.path.join(out, "margins.csv"), index=False)
      f.write(f"\nLast fifth, {FLAGS.agents[0]} minus {FLAGS.agents[1]}, seed by seed "
              "(`margins.csv`):\n\n" + table.to_markdown(index=False, floatfmt=".4f") + "\n")
  print(fifths.round(4).to_string(index=False))
  print(f"wrote {out}/fifths.csv, curves.csv, curves.png, README.md")


if __name__ == "__main__":
  cli.run(main)
