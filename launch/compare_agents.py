r"""Experiment: Reciprocators vs independent learners on one substrate, several seeds.

Trains every (agent, seed) pair with the same steps and settings (launch.train, one
process each, `--parallel` at a time). With --resume the same command continues killed
runs (launch.train --resume) and reuses finished ones, so a comparison longer than a
session is run by repeating it. Writes under --out: fifths.csv (per run and fifth:
coins per step, P(own coin), collective return per 1,000 steps, reciprocal-reward
scale), runs/ (each run's config and episode and progress rows, which a later report
reads when the workdir is gone: a finished run archived there is not trained again, on
this machine or another), margins.csv (per seed, first agent minus second, last fifth), curves.csv and
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
cli.allow("agents", cli.names(("reciprocator", "independent", "prosocial")))
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
flags.DEFINE_string("pairing", None, "Partner-pool runs (--naive_partners): count only "
                    "their episodes of this pairing, e.g. R-R (self-play).")
cli.allow("pairing", cli.name())
flags.DEFINE_integer("window_steps", 50_000, "Trailing window of the plotted curves.")
cli.allow("window_steps", cli.above(0, integer=True))


def main(argv):
  del argv
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
    to_train = []
    for run in runs:
      source = comparison.records_source(run.workdir, out)
      if source != run.workdir and run_queue.steps_reached(source) >= run.num_steps:
        print(f"reusing: {run.name}, finished, from its archived records in {source}")
      else:
        to_train.append(run)
    try:
      run_queue.run_all(to_train, FLAGS.parallel, FLAGS.resume)
    except run_queue.RunQueueError as e:
      cli.fail(str(e))
  command = "python -m launch.compare_agents " + " ".join(sys.argv[1:])
  try:
    fifths = comparison.report(
        [(agent, seed, run.workdir) for (agent, seed), run in zip(pairs, runs)],
        FLAGS.substrate, FLAGS.agents, FLAGS.base, FLAGS.num_steps, out,
        FLAGS.window_steps, FLAGS.random_reference_steps, command, FLAGS.pairing)
  except ValueError as e:
    cli.fail(str(e))
  print(fifths.round(4).to_string(index=False))
  print(f"wrote {out}/fifths.csv, curves.csv, curves.png, README.md")


if __name__ == "__main__":
  cli.run(main)
