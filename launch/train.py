r"""Train Reciprocators (or independent learners) on a Melting Pot substrate.

  python -m launch.train                                    # coins, a few minutes
  python -m launch.train --substrate=clean_up --agent=independent --num_steps=200000
  python -m launch.train --workdir=runs/x --resume          # continue a killed run

Every substrate in meltingpot.substrate.SUBSTRATES trains (presets for the paper's
and the common ones; a generic preset for the rest). Output goes to --workdir:
episodes.csv, logs/progress/logs.csv, tensorboard/, checkpoints/run/.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from launch import cli  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("substrate", "coins", "Melting Pot substrate to train on.")
cli.allow("substrate", cli.name())
flags.DEFINE_enum("agent", "reciprocator", ["reciprocator", "independent", "prosocial"],
                  "reciprocator; independent (the naive learner: adapter off); or "
                  "prosocial (each player learns from its environment's mean reward, "
                  "as Melting Pot's *_prosocial baselines).")
flags.DEFINE_enum("base", "impala", ["impala", "r2d2"], "The wrapped Acme TF learner.")
flags.DEFINE_integer("num_steps", 40_000, "Environment steps to train for (all envs).")
cli.allow("num_steps", cli.above(0, integer=True))
flags.DEFINE_integer("seed", 0, "Random seed.")
cli.allow("seed", cli.at_least(0, integer=True))
flags.DEFINE_string("workdir", None, "Run directory (default: runs/SUBSTRATE_AGENT_BASE_sSEED).")
cli.allow("workdir", cli.output_dir())
flags.DEFINE_bool("resume", False, "Continue the run in --workdir from its last checkpoint.")
flags.DEFINE_float("reciprocal_weight", None, "w: weight of the reciprocal reward.")
cli.allow("reciprocal_weight", cli.at_least(0))
flags.DEFINE_float("reciprocal_weight_start", None, "If set, w ramps linearly from this.")
cli.allow("reciprocal_weight_start", cli.at_least(0))
flags.DEFINE_integer("reciprocal_weight_ramp_steps", None, "Steps of that ramp "
                     "(default: the preset's).")
cli.allow("reciprocal_weight_ramp_steps", cli.at_least(0, integer=True))
flags.DEFINE_string("variant", None, "Reciprocal-reward variant (or published name; "
                    "default: the preset's).")
cli.allow("variant", cli.name())
flags.DEFINE_float("balance_decay", None, "lambda; default gamma (published code).")
cli.allow("balance_decay", cli.number(0, maximum=1))
flags.DEFINE_float("generosity", None, "Added to the balance the reciprocal reward "
                   "reads: harm is charged until the partner's net harm exceeds it, paid "
                   "as retaliation beyond (project extension; default: the preset's, 0).")
cli.allow("generosity", cli.number(0))
flags.DEFINE_bool("own_policy_counterfactual", None, "The influence a Reciprocator is "
                  "paid or charged for is measured against its own behaviour policy; the "
                  "balance keeps --counterfactual's (needs marginal_uniform; README, "
                  "project extensions). Default: the preset's, off.")
flags.DEFINE_bool("reset_balance_each_episode", True, "Reset balances every episode.")
flags.DEFINE_bool("normalize_reciprocal_reward", False, "Standardise r_rec per batch.")
flags.DEFINE_bool("value_sees_balance", None, "The value head (IMPALA) also reads the "
                  "player's influence balances; the policy does not (README, project "
                  "extensions). Default: the preset's.")
flags.DEFINE_bool("policy_sees_balance", None, "The policy (and value head; IMPALA) "
                  "reads the player's lagged influence balances, so it can retaliate in "
                  "answer to a take (README, project extensions; exported players act as "
                  "at a zero balance). Default: the preset's.")
flags.DEFINE_bool("subtract_partner_influence", False, "Each player learns from its "
                  "reward minus the others' immediate VoI on it (a zero-mean control "
                  "variate; needs --counterfactual=marginal; README, project extensions).")
flags.DEFINE_enum("counterfactual", None, ["regression", "marginal", "marginal_uniform"],
                  "How VoI's counterfactual is formed: 'marginal' (preset default: the "
                  "joint estimator averaged over j's behaviour policy), "
                  "'marginal_uniform' (averaged over a uniformly random j) or "
                  "'regression' (ALGORITHM.md: a separate estimator blind to j's action).")
flags.DEFINE_enum("reciprocal_scale", None, ["none", "extrinsic", "extrinsic_rms"],
                  "'extrinsic' (preset default) rescales r_rec by a running "
                  "std(r_ext)/mean|r_rec|; 'none' keeps ALGORITHM.md's r_rec.")
flags.DEFINE_integer("reciprocal_scale_steps", None, "Horizon of that running scale, in "
                     "joint steps (default 10000).")
cli.allow("reciprocal_scale_steps", cli.above(0, integer=True))
flags.DEFINE_bool("future_term", None, "Include the future (return) term of VoI; "
                  "--nofuture_term keeps the immediate-reward term only (default: "
                  "the preset's).")
flags.DEFINE_integer("rgb_downsample", None, "Block size for players' RGB (preset: 8).")
cli.allow("rgb_downsample", cli.above(0, integer=True))
flags.DEFINE_enum("rgb_pooling", None, ["mean", "max"], "How a block of players' RGB "
                  "becomes one pixel: mean or max (keeps sprite colours; the coins "
                  "preset's).")
flags.DEFINE_integer("world_downsample", None, "Block size for WORLD.RGB (preset: 8).")
cli.allow("world_downsample", cli.above(0, integer=True))
flags.DEFINE_bool("avatar_locations", None, "Give the influence estimators every avatar's "
                  "position and orientation (Melting Pot's debug observations). Players "
                  "never see them.")
flags.DEFINE_enum("estimator_view", None, ["world", "local"], "The influence estimators' "
                  "state: 'world' (WORLD.RGB) or 'local' (the cells around every avatar in "
                  "its own view; coins preset).")
flags.DEFINE_integer("local_radius", None, "Cells on each side of the avatar in the "
                     "'local' estimator view (default 1).")
cli.allow("local_radius", cli.at_least(0, integer=True))
flags.DEFINE_bool("own_colour_channel", None, "Players' observations get a fourth channel "
                  "marking the cells that hold their own avatar's colour (README, project "
                  "extensions; exported bots compute it too).")
flags.DEFINE_integer("redraw_every", None, "Each copy draws new colours and a new map "
                     "(Melting Pot's own draw) every this many of its episodes; 0: never "
                     "(default). Needs --estimator_view=local.")
cli.allow("redraw_every", cli.at_least(0, integer=True))
flags.DEFINE_integer("episode_step_limit", None, "Cut episodes after this many steps.")
cli.allow("episode_step_limit", cli.above(0, integer=True))
flags.DEFINE_list("conv_channels", None, "Conv torso channels, e.g. 16,32.")
cli.allow("conv_channels", cli.integers(0, strict=True))
flags.DEFINE_list("mlp_sizes", None, "MLP sizes after the torso, e.g. 64.")
cli.allow("mlp_sizes", cli.integers(0, strict=True))
flags.DEFINE_integer("lstm_size", None, "LSTM size.")
cli.allow("lstm_size", cli.above(0, integer=True))
flags.DEFINE_bool("observe_last_step", None, "Players' networks also read their previous "
                  "extrinsic reward and action, as IMPALA's agent does (README, project "
                  "extensions). Default: the preset's.")
flags.DEFINE_integer("unroll_length", None, "IMPALA sequence length.")
cli.allow("unroll_length", cli.at_least(2, integer=True))
flags.DEFINE_float("learning_rate", None, "Policy learning rate of the wrapped learner.")
cli.allow("learning_rate", cli.above(0))
flags.DEFINE_float("entropy_cost", None, "IMPALA entropy regularisation (default 0.01).")
cli.allow("entropy_cost", cli.at_least(0))
flags.DEFINE_float("baseline_cost", None, "IMPALA value-loss weight (default 0.5). Policy "
                   "and value share a torso: with large shaped rewards a smaller weight "
                   "keeps the value loss from drowning the policy gradient.")
cli.allow("baseline_cost", cli.at_least(0))
flags.DEFINE_float("samples_per_insert", None, "IMPALA sample reuse: sequences learned "
                   "from per inserted sequence (1 = Acme's queue, each used once; more "
                   "replays the newest --replay_size sequences).")
cli.allow("samples_per_insert", cli.at_least(1))
flags.DEFINE_integer("replay_size", None, "Sequences kept per policy when "
                     "--samples_per_insert > 1 (default 1000).")
cli.allow("replay_size", cli.above(0, integer=True))
flags.DEFINE_integer("num_envs", None, "Substrate copies stepped together by the actor.")
cli.allow("num_envs", cli.above(0, integer=True))
flags.DEFINE_bool("share_policy", None, "One network for all players.")
flags.DEFINE_list("reciprocal_players", None, "With --agent=reciprocator: only these "
                  "players (e.g. 0) get the reciprocal reward; the others are naive "
                  "learners beside them (the paper's R vs NL). Default: all (self-play).")
cli.allow("reciprocal_players", cli.integers(0))
flags.DEFINE_bool("naive_partners", None, "With --agent=reciprocator: a partner pool. One "
                  "naive learner per slot trains beside the Reciprocators, and the "
                  "substrate copies cycle through self-play and a naive learner in each "
                  "slot (--num_envs a multiple of players + 1; README).")
flags.DEFINE_bool("substrate_process", False, "Step each actor's substrate copies in a "
                  "child process, beside the actor's Reverb writes (one more process and "
                  "core per actor; README, Throughput).")
flags.DEFINE_bool("substrate_split", False, "Step half of each actor's substrate copies in "
                  "its own process and half in a child process, side by side (one more "
                  "process per actor; needs num_envs >= 2; README, Throughput).")
flags.DEFINE_integer("num_actors", 1, "Actors feeding the Reverb server; 1 runs everything "
                     "in one process, K > 1 runs K Ray actors (each with --num_envs substrate "
                     "copies) beside the learner, on a local Ray or --ray_address's cluster.")
cli.allow("num_actors", cli.at_least(1, integer=True))
flags.DEFINE_string("ray_address", None, "Join this Ray cluster (HOST:PORT, or 'auto' on a "
                    "node started with `ray start`); default: start a local Ray on loopback.")
cli.allow("ray_address", cli.host_port("auto"))
flags.DEFINE_string("ray_node_ip", None, "This machine's address as the cluster's nodes "
                    "reach it (default: Ray's choice; loopback for a local Ray).")
cli.allow("ray_node_ip", cli.host())
flags.DEFINE_integer("reverb_port", None, "Fixed port of the learner's Reverb server "
                     "(default: any free port); actors connect to node-ip:port.")
cli.allow("reverb_port", cli.number(1, maximum=65535, integer=True))
flags.DEFINE_list("actor_resources", None, "Ray custom resources each actor needs, "
                  "NAME:AMOUNT,... (e.g. actor_node:1 places actors only on nodes started "
                  "with --resources='{\"actor_node\": N}').")
cli.allow("actor_resources", cli.resources())
flags.DEFINE_float("actor_cpus", 1.0, "CPUs Ray reserves for each actor.")
cli.allow("actor_cpus", cli.above(0))
flags.DEFINE_integer("actor_recycle_steps", None, "With --num_actors > 1: replace each "
                     "actor with a fresh process after it has taken this many env steps, "
                     "which bounds its memory (README, Memory); default: never.")
cli.allow("actor_recycle_steps", cli.above(0, integer=True))
flags.DEFINE_float("checkpoint_minutes", 5.0, "Checkpoint period in minutes.")
cli.allow("checkpoint_minutes", cli.above(0))
flags.DEFINE_integer("checkpoint_every_steps", None, "Also checkpoint every N env steps.")
cli.allow("checkpoint_every_steps", cli.above(0, integer=True))
flags.DEFINE_float("log_every_seconds", 10.0, "Progress line period.")
cli.allow("log_every_seconds", cli.above(0))


def config_from_flags():
  """The run's ExperimentConfig: the preset, then every setting given as a flag."""
  from recip_acme import experiments  # pylint: disable=g-import-not-at-top
  settings = {name: FLAGS[name].value for name in experiments.SETTINGS if name in FLAGS}
  settings["actor_resources"] = cli.parse_resources(FLAGS.actor_resources) or None
  return experiments.configure(FLAGS.substrate, FLAGS.agent, FLAGS.base, **settings)


def main(argv):
  del argv
  import recip_acme  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from recip_acme import experiments  # pylint: disable=g-import-not-at-top

  workdir = FLAGS.workdir or os.path.join(
      "runs", f"{FLAGS.substrate}_{FLAGS.agent}_{FLAGS.base}_s{FLAGS.seed}")
  try:
    if FLAGS.resume:
      config = experiments.load_run_config(workdir)
      if FLAGS["num_steps"].present:
        config.num_steps = FLAGS.num_steps
      for name in ("ray_address", "ray_node_ip", "reverb_port", "actor_cpus",
                   "actor_recycle_steps", "substrate_process", "substrate_split"):
        # Where and how, not what is learned.
        if FLAGS[name].present:
          setattr(config, name, FLAGS[name].value)
      if FLAGS["actor_resources"].present:
        config.actor_resources = cli.parse_resources(FLAGS.actor_resources)
    else:
      config = config_from_flags()
  except ValueError as e:  # RunError and config validation: one line, exit 2.
    cli.fail(str(e))
  print(f"recip_acme: {config.agent} ({config.base}) on {config.substrate}, "
        f"{config.num_steps} env steps, workdir {os.path.abspath(workdir)}", flush=True)
  try:
    summary = experiments.train(config, workdir, resume=FLAGS.resume)
  except experiments.RunError as e:
    cli.fail(str(e))
  print(f"done: {summary['env_steps']} env steps, {summary['episodes']} episodes, "
        f"checkpoint {summary['checkpoint']}")


if __name__ == "__main__":
  cli.run(main)
