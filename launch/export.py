r"""Export a training run's players as Melting Pot bots (one TF2 SavedModel each).

  python -m launch.export --workdir=runs/coins_reciprocator_impala_s0 --out=exports/recip

Each model loads with meltingpot.utils.policies.saved_model_policy.SavedModelPolicy,
takes raw Melting Pot observations (our downsampling is inside), reads only permitted
focal observations, and samples its action from the trained policy (IMPALA) or acts
greedily (R2D2). --out also gets manifest.json (substrate, players, roles, source
checkpoint, env steps), which launch.evaluate reads.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from launch import cli  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training run directory (launch.train --workdir).")
cli.allow("workdir", cli.existing_path())
flags.DEFINE_string("out", None, "Directory for the exported models.")
cli.allow("out", cli.output_dir())
flags.DEFINE_string("name", None, "Population name prefix (default: AGENT_WORKDIRNAME).")
cli.allow("name", cli.name())
flags.DEFINE_enum("action_mode", None, ["sample", "greedy"],
                  "How the bot picks actions (default: sample for IMPALA, greedy for R2D2).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.workdir or not FLAGS.out:
    cli.fail("--workdir and --out are required")
  import recip_acme  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from recip_acme import export  # pylint: disable=g-import-not-at-top
  try:
    manifest = export.export_run(FLAGS.workdir, FLAGS.out, FLAGS.name, FLAGS.action_mode)
  except export.ExportError as e:
    cli.fail(str(e))
  for player in manifest.players:
    print(f"{player.name}: {os.path.join(FLAGS.out, player.path)} (role {player.role})")
  print(f"exported {len(manifest.players)} players of {manifest.substrate} "
        f"({manifest.agent}, {manifest.env_steps} env steps) to {FLAGS.out}")


if __name__ == "__main__":
  cli.run(main)
