r"""Is the reciprocal reward on the game's scale? Trains Reciprocators at the defaults and
prints, per fifth of each run, mean |w * r_rec| and std(r_ext) per player-step and their
ratio (target: between 0.1 and 10 in every fifth).

  python -m launch.reward_scale                          # coins, PD in the matrix, clean_up
  python -m launch.reward_scale --resume                 # continue killed runs, re-tabulate

Runs go to --runs_dir/SUBSTRATE (launch.train at its defaults, --num_steps each,
--parallel at a time); a killed run is continued with launch.train --resume, a finished
one is reused. Output in --out: scale.csv, scale.png, README.md (with this command).
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import flags  # noqa: E402

from launch import cli  # noqa: E402

FLAGS = flags.FLAGS
DEFAULT_SUBSTRATES = ["coins", "prisoners_dilemma_in_the_matrix__repeated", "clean_up"]
flags.DEFINE_list("substrates", DEFAULT_SUBSTRATES, "Substrates to train on.")
cli.allow("substrates", cli.names())
flags.DEFINE_integer("num_steps", 200_000, "Environment steps per run.")
cli.allow("num_steps", cli.above(0, integer=True))
flags.DEFINE_integer("seed", 0, "Seed of every run.")
cli.allow("seed", cli.at_least(0, integer=True))
flags.DEFINE_integer("parallel", 2, "Runs at a time.")
cli.allow("parallel", cli.at_least(1, integer=True))
flags.DEFINE_string("runs_dir", "runs/reward_scale", "Where the runs' workdirs go.")
cli.allow("runs_dir", cli.output_dir())
flags.DEFINE_string("out", "results/reward_scale", "Output folder.")
cli.allow("out", cli.output_dir())
flags.DEFINE_bool("resume", False, "Continue unfinished runs in --runs_dir; reuse finished ones.")
flags.DEFINE_list("train_flags", [], "Extra launch.train flags for every run.")
cli.allow("train_flags", cli.any_list())

LOW, HIGH = 0.1, 10.0


def _published_reference(substrate: str) -> str:
  """Markdown: Melting Pot 2.0's baselines on `substrate`'s scenarios. Written where the
  game paid nothing in a fifth, to show whether trained selfish learners earn anything
  there without a background that provides the public good."""
  from recip_acme import baselines  # pylint: disable=g-import-not-at-top
  try:
    table = baselines.substrate_baselines(substrate)
  except ValueError:
    return ""
  return (f"\n## Published reference: Melting Pot 2.0 baselines on {substrate}\n\n"
          "The game paid nothing in some fifths above. Mean focal per-capita return per "
          "scenario and baseline (trained for ~1e9 steps; "
          "recip_acme/data/):\n\n"
          + table.to_markdown(floatfmt=".2f") + "\n")


def _setting() -> str:
  """What the runs were: the presets, or the presets changed by --train_flags (the title
  of the table and plot must not call a changed setting the defaults)."""
  if not FLAGS.train_flags:
    return "the defaults"
  return "the defaults with " + " ".join(FLAGS.train_flags)


def main(argv):
  del argv
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import matplotlib  # pylint: disable=g-import-not-at-top
  from recip_acme.experiments import records  # pylint: disable=g-import-not-at-top
  from recip_acme import run_queue  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  start = time.time()
  jobs = [(s, os.path.join(FLAGS.runs_dir, s)) for s in FLAGS.substrates]
  runs = [run_queue.Run(name=s, workdir=w, num_steps=FLAGS.num_steps,
                        train_flags=[f"--substrate={s}", "--agent=reciprocator",
                                     f"--seed={FLAGS.seed}", *FLAGS.train_flags])
          for s, w in jobs]
  try:
    run_queue.run_all(runs, FLAGS.parallel, FLAGS.resume)
  except run_queue.RunQueueError as e:
    cli.fail(str(e))

  tables = []
  for substrate, workdir in jobs:
    episodes = pd.read_csv(os.path.join(workdir, "episodes.csv"))
    table = records.reward_scale_by_fifth(episodes, FLAGS.num_steps)
    table.insert(0, "substrate", substrate)
    tables.append(table)
  table = pd.concat(tables, ignore_index=True)
  table["in_target"] = table["ratio"].between(LOW, HIGH)
  table["note"] = ""
  table.loc[table["extrinsic_reward_std"] == 0, "note"] = "the game paid nothing in this fifth"
  table.loc[table["episodes"] == 0, "note"] = "no episode ended in this fifth"
  os.makedirs(FLAGS.out, exist_ok=True)
  table.to_csv(os.path.join(FLAGS.out, "scale.csv"), index=False)
  print(table.round(4).to_string(index=False))

  fig, ax = plt.subplots(figsize=(7, 4))
  for substrate, part in table.groupby("substrate", sort=False):
    ax.plot(part["fifth"], part["ratio"], marker="o", label=substrate)
  ax.axhspan(LOW, HIGH, color="green", alpha=0.08, label="target 0.1-10")
  ax.set_yscale("log")
  ax.set_xlabel("fifth of the run")
  ax.set_ylabel("mean |w r_rec| / std(r_ext), per player-step")
  ax.set_title(f"Reciprocal reward scale at {_setting()} ({FLAGS.num_steps} steps per run)")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(os.path.join(FLAGS.out, "scale.png"), dpi=110)

  ok = bool(table["in_target"].all())
  verdicts = []
  for substrate, part in table.groupby("substrate", sort=False):
    good = int(part["in_target"].sum())
    verdicts.append(f"{substrate}: {'met' if good == len(part) else 'NOT met'} "
                    f"({good} of {len(part)} fifths in target)")
  command = "python -m launch.reward_scale " + " ".join(
      f"--{name}={','.join(v) if isinstance(v, list) else v}"
      for name, v in (("substrates", FLAGS.substrates), ("num_steps", FLAGS.num_steps),
                      ("seed", FLAGS.seed), ("runs_dir", FLAGS.runs_dir), ("out", FLAGS.out))
  ) + (" --train_flags=" + ",".join(FLAGS.train_flags) if FLAGS.train_flags else "")
  with open(os.path.join(FLAGS.out, "README.md"), "w") as f:
    f.write(f"# Reciprocal reward scale at {_setting()}\n\n")
    f.write(f"Command (from the project root):\n\n    {command}\n\n")
    f.write("Per fifth of each run (episodes assigned by the step they end at): mean |w r_rec| "
            "and the standard deviation of the extrinsic reward, both per player and step, "
            f"and their ratio. Target: {LOW} <= ratio <= {HIGH} in every fifth.\n\n"
            + "".join(f"- **{v}**\n" for v in verdicts) + "\n"
            "`episodes_with_game_reward`: episodes in which any player got a non-zero "
            "extrinsic reward.\n\n")
    f.write(table.to_markdown(index=False, floatfmt=".4g") + "\n")
    for substrate in table.loc[table["extrinsic_reward_std"] == 0, "substrate"].unique():
      f.write(_published_reference(substrate))
  print("; ".join(verdicts))
  print(f"target {'met' if ok else 'NOT met'}; wrote {FLAGS.out}/scale.csv, scale.png, README.md "
        f"({time.time() - start:.0f} s)")


if __name__ == "__main__":
  cli.run(main)
