r"""Put evaluation results beside Melting Pot 2.0's published baselines.

  python -m launch.compare --results=results/evaluation/summary.csv

Reads launch.evaluate's summary.csv (one or more, comma-separated) and writes to
--out: comparison.csv and comparison.md (per scenario: each baseline's mean focal
per-capita return over its training runs, ours, and the normalised score of Melting
Pot's results notebook), substrate_scores.csv (scores averaged per substrate) and
scores.png (bar plot). Baselines: recip_acme/data/meltingpot-results-2.1.1.csv (see
SOURCE.md there). Rows evaluated with a custom background are listed as excluded,
never scored or ranked.
"""

import os

from absl import app
from absl import flags

from launch import cli

FLAGS = flags.FLAGS
DEFAULT_RESULTS = "results/evaluation/summary.csv"
flags.DEFINE_list("results", None, "summary.csv files written by launch.evaluate "
                  f"(default: {DEFAULT_RESULTS}).")
cli.allow("results", cli.existing_paths())
flags.DEFINE_string("baselines", None, "Published results CSV (default: the shipped copy).")
cli.allow("baselines", cli.existing_path())
flags.DEFINE_string("out", "results/comparison", "Output directory.")
cli.allow("out", cli.output_dir())


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  import pandas as pd  # pylint: disable=g-import-not-at-top
  from recip_acme import baselines  # pylint: disable=g-import-not-at-top
  frames = []
  results = FLAGS.results or [DEFAULT_RESULTS]
  for path in results:
    try:
      frame = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
      cli.fail(f"cannot read --results {path} ({type(e).__name__}); pass a summary.csv "
            "written by launch.evaluate")
    needed = {"scenario", "substrate", "agent", "background", "focal_per_capita_return"}
    if not needed <= set(frame.columns):
      cli.fail(f"{path} is not a launch.evaluate summary (needs columns {sorted(needed)})")
    frames.append(frame)
  ours = pd.concat(frames, ignore_index=True)
  try:
    published = baselines.load_results(FLAGS.baselines or baselines.RESULTS_FILE)
  except (FileNotFoundError, ValueError) as e:
    cli.fail(f"cannot read the baselines: {e}")
  per_scenario, per_substrate, excluded = baselines.compare(ours, published)
  os.makedirs(FLAGS.out, exist_ok=True)
  with open(os.path.join(FLAGS.out, "comparison.md"), "w") as f:
    f.write("# Focal per-capita return beside Melting Pot 2.0's baselines\n\n")
    f.write(f"Baselines: {baselines.source_note()['source']}.\n")
    f.write("Score: (x - min) / (max - min) per scenario over all baselines and runs, best "
            "exploiter only; averaged per substrate.\n\n")
    if len(per_scenario):
      per_scenario.to_csv(os.path.join(FLAGS.out, "comparison.csv"), index=False)
      per_substrate.to_csv(os.path.join(FLAGS.out, "substrate_scores.csv"), index=False)
      baselines.plot_scores(per_substrate, os.path.join(FLAGS.out, "scores.png"))
      f.write("## Per scenario\n\n" + per_scenario.to_markdown(index=False, floatfmt=".3f"))
      f.write("\n\n## Per substrate (normalised score)\n\n")
      f.write(per_substrate.to_markdown(index=False, floatfmt=".3f") + "\n")
      print(per_substrate.round(3).to_string(index=False))
    else:
      f.write("No result could be scored (see the excluded rows).\n")
    if len(excluded):
      f.write("\n## Excluded (not scored, not ranked)\n\n")
      f.write(excluded[["scenario", "agent", "background", "focal_per_capita_return",
                        "reason"]].to_markdown(index=False, floatfmt=".3f") + "\n")
      print(f"{len(excluded)} result rows excluded from scoring (e.g. "
            f"{excluded['reason'].iloc[0]})")
  print(f"wrote {FLAGS.out}/comparison.md")


if __name__ == "__main__":
  cli.run(main)
