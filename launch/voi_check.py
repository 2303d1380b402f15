r"""Can the influence estimators see a known influence on Melting Pot coins?

When the partner takes player i's coin, i loses 2 because of the partner's action, so
with uniformly random players VoI[partner, i] should be about -2 * (1 - 1/7) there and
about 0 elsewhere. This experiment plays uniformly random players, fits the project's
own estimators (immediate-reward term, marginal counterfactual, as in training) on
several views of the state, and prints, on held-out episodes, the mean VoI[partner, i]
on the steps the partner took i's coin and on all other steps.

  python -m launch.voi_check                      # ~15 min here
  python -m launch.voi_check --train_steps=200000 --epochs=40

State views: `world` (WORLD.RGB downsampled, the estimators' state on other
substrates), `world+avatars` (+ every avatar's cell and orientation), `views` (every
player's whole 11 x 11 view), `views+avatars`, `local` (the 3 x 3 cells around each
avatar in its own view, where an egocentric move always lands on the same cell: the
coins preset's state), `local+avatars`. Output in --out: voi_check.csv, README.md with
this command.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import flags  # noqa: E402

from launch import cli  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("train_steps", 60_000, "Random-play steps to fit on.")
cli.allow("train_steps", cli.above(0, integer=True))
flags.DEFINE_integer("test_steps", 20_000, "Held-out random-play steps.")
cli.allow("test_steps", cli.above(0, integer=True))
flags.DEFINE_integer("epochs", 20, "Passes over the training steps.")
cli.allow("epochs", cli.above(0, integer=True))
flags.DEFINE_integer("batch_size", 1024, "Samples per gradient step.")
cli.allow("batch_size", cli.above(0, integer=True))
flags.DEFINE_list("views", list(("world", "world+avatars", "views", "views+avatars", "local",
                                 "local+avatars")),
                  "State views to compare.")
cli.allow("views", cli.names(("world", "world+avatars", "views", "views+avatars", "local",
                              "local+avatars")))
flags.DEFINE_integer("seed", 0, "Seed of the play and of the fits.")
cli.allow("seed", cli.at_least(0, integer=True))
flags.DEFINE_string("out", "results/voi_check", "Output folder.")
cli.allow("out", cli.output_dir())


def main(argv):
  del argv
  import sys  # pylint: disable=g-import-not-at-top
  import pandas as pd  # pylint: disable=g-import-not-at-top
  from recip_acme import influence_check  # pylint: disable=g-import-not-at-top

  train = influence_check.play_random(FLAGS.train_steps, seed=FLAGS.seed)
  test = influence_check.play_random(FLAGS.test_steps, seed=FLAGS.seed + 1000)
  rows = []
  for view in FLAGS.views:
    row = influence_check.fit_and_check(train, test, view, epochs=FLAGS.epochs,
                                        batch_size=FLAGS.batch_size, seed=FLAGS.seed)
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    rows.append(row)
  table = pd.DataFrame(rows)
  os.makedirs(FLAGS.out, exist_ok=True)
  table.to_csv(os.path.join(FLAGS.out, "voi_check.csv"), index=False)
  command = "python -m launch.voi_check " + " ".join(sys.argv[1:])
  with open(os.path.join(FLAGS.out, "README.md"), "w") as f:
    f.write("# Do the influence estimators see a known influence on coins?\n\n"
            f"Made by (from the project root):\n\n    {command}\n\n"
            f"Uniformly random players, {FLAGS.train_steps} steps to fit on, "
            f"{FLAGS.test_steps} held-out steps (other episodes). Ideal: VoI[partner, i] "
            f"= -2 x (1 - 1/7) = {-2 * 6 / 7:.3f} on the steps the partner took i's coin, "
            "0 elsewhere. `predicted_reward_on_losses`: the joint estimator's r_i on those "
            "steps, beside the actual `reward_on_losses`.\n\n")
    f.write(table.to_markdown(index=False, floatfmt=".4f") + "\n")
  print(f"wrote {FLAGS.out}/voi_check.csv, README.md")


if __name__ == "__main__":
  cli.run(main)
