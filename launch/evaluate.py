r"""Evaluate exported agents on Melting Pot scenarios, or populations against each other.

  # Official scenarios (needs Melting Pot's bot assets; see README):
  python -m launch.evaluate --agents=exports/recip --scenario=coins --episodes=10
  # A custom background population in the scenario's background slots:
  python -m launch.evaluate --agents=exports/recip --scenario=coins_0 \
      --background=exports/indep
  # Cross-play between populations of one substrate:
  python -m launch.evaluate --crossplay --agents=exports/recip,exports/indep

--scenario takes scenario names and/or substrate names (= all of that substrate's
scenarios). --agents takes export directories (launch.export) or training workdirs
(exported on first use into WORKDIR/export). Writes to --out: episodes.csv (one row
per episode), summary.csv, summary_by_player.csv and summary.md; with --crossplay also crossplay_matrix.csv
and crossplay.png. Rows with a custom background are marked "custom:NAME" and are
never comparable with Melting Pot's published results.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from launch import cli  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("scenario", None, "Scenario names, or substrate names for all their scenarios.")
cli.allow("scenario", cli.names())
flags.DEFINE_list("agents", None, "Export directories or training workdirs (comma-separated).")
cli.allow("agents", cli.existing_paths())
flags.DEFINE_list("players", None, "Keep only these trained players (indices) of each "
                  "--agents population, e.g. 0 for the Reciprocator of a run with "
                  "--reciprocal_players=0. Default: all.")
cli.allow("players", cli.integers(0))
flags.DEFINE_list("background_players", None, "The same for the --background population: "
                  "with one model on each side, every episode plays the same pairing "
                  "(a stratified comparison). Default: all.")
cli.allow("background_players", cli.integers(0))
flags.DEFINE_bool("stratify", False, "With --background: play every model of --agents "
                  "against every model of the background, --episodes each, instead of "
                  "sampling models per episode (a balanced mean, and per-pairing cells "
                  "in summary_by_player.csv).")
flags.DEFINE_string("background", None, "A population to put in the background slots "
                    "instead of Melting Pot's bots (results marked 'custom background').")
cli.allow("background", cli.existing_path())
flags.DEFINE_integer("episodes", 5, "Episodes per scenario (per pairing with --crossplay).")
cli.allow("episodes", cli.above(0, integer=True))
flags.DEFINE_string("video_dir", None, "Write episode videos under this directory.")
cli.allow("video_dir", cli.output_dir())
flags.DEFINE_bool("crossplay", False, "Every --agents population against every other.")
flags.DEFINE_float("focal_fraction", 0.5, "Cross-play: share of the players that are focal.")
cli.allow("focal_fraction", cli.number(0, strict=True, maximum=1))
flags.DEFINE_string("out", "results/evaluation", "Output directory.")
cli.allow("out", cli.output_dir())
flags.DEFINE_integer("seed", 0, "Seeds Python's RNG (population sampling, bot keys).")
cli.allow("seed", cli.at_least(0, integer=True))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.agents:
    cli.fail("--agents is required (export directories or training workdirs)")
  if FLAGS.episodes <= 0:
    cli.fail(f"--episodes must be > 0; got {FLAGS.episodes}")
  if FLAGS.crossplay and (FLAGS.scenario or FLAGS.background):
    cli.fail("--crossplay runs on the populations' substrate; drop --scenario/--background")
  if FLAGS.stratify and not FLAGS.background:
    cli.fail("--stratify needs --background (the official bots are not ours to pick)")
  if FLAGS.background_players and not FLAGS.background:
    cli.fail("--background_players needs --background (the official bots are not ours to pick)")
  if not FLAGS.crossplay and not FLAGS.scenario:
    cli.fail("--scenario is required (or pass --crossplay)")
  if not FLAGS.crossplay and len(FLAGS.agents) != 1:
    cli.fail("--agents takes one population unless --crossplay")
  import random  # pylint: disable=g-import-not-at-top
  random.seed(FLAGS.seed)
  import recip_acme  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from substrates import assets  # pylint: disable=g-import-not-at-top
  from recip_acme import evaluation  # pylint: disable=g-import-not-at-top
  from recip_acme import export  # pylint: disable=g-import-not-at-top
  import pandas as pd  # pylint: disable=g-import-not-at-top
  try:
    players = [int(p) for p in FLAGS.players] if FLAGS.players else None
    populations = [evaluation.load_population(d, players=players) for d in FLAGS.agents]
    if FLAGS.crossplay:
      episodes = evaluation.crossplay(populations, FLAGS.episodes, FLAGS.focal_fraction)
      matrix = evaluation.crossplay_matrix(episodes)
      os.makedirs(FLAGS.out, exist_ok=True)
      matrix.to_csv(os.path.join(FLAGS.out, "crossplay_matrix.csv"))
      evaluation.plot_crossplay(matrix, os.path.join(FLAGS.out, "crossplay.png"),
                                f"cross-play on {episodes['substrate'].iloc[0]}")
      paths = evaluation.write_results(episodes, FLAGS.out, prefix="crossplay_")
      print(matrix.round(3).to_string())
    else:
      scenarios = evaluation.resolve_scenarios(FLAGS.scenario)
      background_players = ([int(p) for p in FLAGS.background_players]
                            if FLAGS.background_players else None)
      background = (evaluation.load_population(FLAGS.background, players=background_players)
                    if FLAGS.background else None)
      if background is None:   # Fail before any episode if a bot is missing.
        assets.require_scenario_assets(scenarios)
      pairings = ([(populations[0], background)] if not FLAGS.stratify else
                  evaluation.model_pairings(populations[0], background))
      frames = []
      for name in scenarios:
        for focal, others in pairings:
          frames.append(evaluation.evaluate_on_scenario(
              focal, name, FLAGS.episodes, others, FLAGS.video_dir))
          row = frames[-1]
          who = (f"focal {row['focal_players'].iloc[0]}, background "
                 f"{row['background_players'].iloc[0]}" if FLAGS.stratify else
                 f"background: {row['background'].iloc[0]}")
          print(f"{name}: focal per-capita return {row['focal_per_capita_return'].mean():.3f} "
                f"over {len(row)} episodes ({who})", flush=True)
      paths = evaluation.write_results(pd.concat(frames, ignore_index=True), FLAGS.out)
  except (assets.UnknownNameError, assets.MissingBotAssetsError, export.ExportError) as e:
    cli.fail(str(e))
  print("wrote " + ", ".join(paths.values()))


if __name__ == "__main__":
  cli.run(main)
