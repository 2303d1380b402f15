r"""Reproduce the paper's IPD-Rollout and Coins experiments with recip_acme's stack.

  python -m launch.reproduce --experiment=ipd_r_vs_nl
  python -m launch.reproduce --experiment=coins_r_vs_r --seeds=0,1,2 --paper_scale

Experiments: ipd_r_vs_nl, ipd_nl_vs_nl, coins_r_vs_r, coins_nl_vs_nl, coins_r_vs_nl,
coins3_r. R = Reciprocator, NL = naive learner (the same Acme IMPALA learner without
the reciprocal reward). Writes under --out (default results/paper/EXPERIMENT):
seed_<k>.csv (one row per episode), curves.png (ours beside the paper's reported
values), README.md (the exact command). --paper_scale uses the paper's batch 2048.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import flags  # noqa: E402

from launch import cli  # noqa: E402

# The experiments (recip_acme.paper.EXPERIMENTS; listed here so that --help needs no TF).
EXPERIMENTS = ("ipd_r_vs_nl", "ipd_nl_vs_nl", "coins_r_vs_r", "coins_nl_vs_nl",
               "coins_r_vs_nl", "coins3_r")
FLAGS = flags.FLAGS
flags.DEFINE_enum("experiment", "ipd_r_vs_nl", EXPERIMENTS, "Which experiment.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
cli.allow("seeds", cli.integers(0))
flags.DEFINE_integer("batch_size", None, "Parallel games (default per game; paper: 2048).")
cli.allow("batch_size", cli.above(0, integer=True))
flags.DEFINE_integer("episodes", None, "Episodes per seed (default per experiment).")
cli.allow("episodes", cli.above(0, integer=True))
flags.DEFINE_bool("paper_scale", False, "Batch 2048 as in the paper; for Coins also "
                  "--games_per_update=256 and --influence_epochs=2 unless given "
                  "(recip_acme/paper.py PAPER_SCALE_COINS says why).")
flags.DEFINE_string("out", None, "Output folder (default results/paper/EXPERIMENT).")
cli.allow("out", cli.output_dir())
flags.DEFINE_bool("claims", False, "Only write results/paper/claims.md: every claim, per "
                  "seed, with its margin and verdict, from the seed CSVs already there.")
flags.DEFINE_bool("replot", False, "Only redraw curves.png and README.md from the seed CSVs "
                  "already in --out (no training).")
# Overrides of the per-experiment defaults (recip_acme.paper; None = keep the default).
flags.DEFINE_float("learning_rate", None, "Policy learning rate (IMPALA).")
cli.allow("learning_rate", cli.above(0))
flags.DEFINE_float("entropy_cost", None, "Policy entropy regularisation.")
cli.allow("entropy_cost", cli.at_least(0))
flags.DEFINE_float("baseline_cost", None, "Weight of IMPALA's value loss.")
cli.allow("baseline_cost", cli.at_least(0))
flags.DEFINE_integer("updates_per_episode", None, "Learner steps per player per episode.")
cli.allow("updates_per_episode", cli.above(0, integer=True))
flags.DEFINE_integer("games_per_update", None, "Games in each learner step (default: the "
                     "whole batch; 256 at --paper_scale: one pass over the episode in 8 "
                     "minibatches instead of 8 full-batch steps).")
cli.allow("games_per_update", cli.above(0, integer=True))
flags.DEFINE_float("discount", None, "Policy discount.")
cli.allow("discount", cli.number(0, maximum=1))
flags.DEFINE_bool("shared_torso", None, "Policy and value share one torso (Acme's "
                  "PolicyValueHead) or each has its own, as the paper's PPO actor and critic.")
flags.DEFINE_bool("normalize_returns", None, "Standardise each batch's discounted returns "
                  "(of the shaped reward) before the learner sees them, as the paper's PPO.")
flags.DEFINE_integer("lstm", None, "LSTM size of the policies; 0 = memoryless.")
cli.allow("lstm", cli.at_least(0, integer=True))
flags.DEFINE_bool("future_term", None, "Coins: include the future (return) term of VoI "
                  "(default yes; IPD uses the immediate term only, as published).")
flags.DEFINE_enum("future_estimator", None, ["returns", "transition"],
                  "Coins: how the future term of VoI is estimated: 'transition' (default for "
                  "2 players; the published Coins code: next-state classifiers and a "
                  "state-value critic) or 'returns' (default for coins3_r; regressed "
                  "Monte-Carlo returns, ALGORITHM.md section 1).")
flags.DEFINE_enum("counterfactual", None, ["regression", "marginal", "marginal_uniform"],
                  "Coins: how VoI's counterfactual is formed (default 'regression', "
                  "ALGORITHM.md; the marginal ones need --future_estimator=returns).")
flags.DEFINE_integer("influence_epochs", None, "Coins: epochs per estimator refit (5; 2 at "
                     "--paper_scale; paper 20).")
cli.allow("influence_epochs", cli.above(0, integer=True))
flags.DEFINE_float("reciprocal_weight", None, "w of every Reciprocator in the pairing.")
cli.allow("reciprocal_weight", cli.at_least(0))
flags.DEFINE_float("balance_decay", None, "Coins: lambda of the influence balance (default "
                   "the estimators' gamma, as the published code): how many steps back a "
                   "partner's influence still counts.")
cli.allow("balance_decay", cli.number(0, maximum=1))
flags.DEFINE_bool("jit_compile_acting", None, "Compile the per-step act function with XLA "
                  "(default: only below 1024 games, where it is faster on this 2-core CPU; "
                  "benchmarks/paper_games.py measures both on yours).")
flags.DEFINE_bool("policy_sees_balance", None, "Reciprocators' policies read their lagged "
                  "influence balance towards each opponent next to the game's observation "
                  "(a project extension; default no).")

def main(argv):
  del argv
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import recip_acme  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from recip_acme import paper  # pylint: disable=g-import-not-at-top
  if FLAGS.claims:
    path = os.path.join("results", "paper", "claims.md")
    with open(path, "w") as f:
      f.write("# The paper's claims, per seed (generated by `python -m launch.reproduce "
              "--claims` from the seed CSVs; criteria in recip_acme/paper.py CLAIMS)\n\n"
              + paper.claims_table(os.path.join("results", "paper"))
              + "\n## Coins: who collects the coins (the decomposition behind the R vs NL "
              "claim)\n\n" + paper.coins_collection_table(os.path.join("results", "paper")))
    print(f"wrote {path}")
    return
  name = FLAGS.experiment
  game = name.split("_")[0].rstrip("3")
  batch_size = (paper.PAPER_SCALE_BATCH if FLAGS.paper_scale
                else FLAGS.batch_size or paper.DEFAULT_BATCH[game])
  settings = {k: FLAGS[k].value for k in paper.IMPALA_SETTINGS + paper.RUN_SETTINGS}
  influence_epochs = FLAGS.influence_epochs
  if FLAGS.paper_scale:   # Its defaults, where no flag was given.
    settings, influence_epochs = paper.with_paper_scale(name, settings, influence_epochs)
  episodes = FLAGS.episodes or paper.DEFAULT_EPISODES[game]
  out_dir = FLAGS.out or os.path.join("results", "paper", name)
  os.makedirs(out_dir, exist_ok=True)
  command = " ".join(a for a in sys.argv[1:] if a not in ("--replot", "--noreplot"))
  if FLAGS.replot:
    paths = [os.path.join(out_dir, f"seed_{s}.csv") for s in FLAGS.seeds]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
      cli.fail(f"--replot: no seed results {', '.join(missing)}; run the experiment first")
    frames = [paper.with_seed(pd.read_csv(p), int(s)) for p, s in zip(paths, FLAGS.seeds)]
    paper.plot(name, frames, out_dir)
    paper.write_readme(name, frames, out_dir, None, command)
    return
  frames, run_start = [], time.time()
  for seed in (int(s) for s in FLAGS.seeds):
    try:
      env, config = paper.experiment_setup(name, batch_size, seed, influence_epochs,
                                           FLAGS.future_term, FLAGS.future_estimator,
                                           FLAGS.counterfactual)
      config = paper.with_overrides(config, FLAGS.reciprocal_weight, **settings)
      config.minibatches(batch_size)
    except ValueError as e:   # Settings that do not go together: one line, nothing run.
      cli.fail(str(e))
    if not frames:   # Every setting the run used, defaults resolved (the first seed's).
      paper.write_settings(out_dir, config, batch_size, episodes)
    df = paper.train_seed(name, env, config, episodes, log=lambda s: print(s, flush=True))
    df.to_csv(os.path.join(out_dir, f"seed_{seed}.csv"), index=False)
    frames.append(df)
  paper.plot(name, frames, out_dir)
  paper.write_readme(name, frames, out_dir, time.time() - run_start, command)


if __name__ == "__main__":
  cli.run(main)
