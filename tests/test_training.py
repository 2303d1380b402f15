"""The ReciprocatorBuilder stack on Melting Pot: adapter, baselines, presets, resume, CLI."""

import dataclasses
import glob
import os
import signal
import subprocess
import sys
import time

import dm_env
import numpy as np
import pytest
import tensorflow as tf

from recip_acme import experiments
from recip_acme.agents.reciprocator import acting
from recip_acme.agents.reciprocator import builder as builder_lib
from substrates import melting_pot

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _small(substrate="coins", agent="reciprocator", base="impala", **overrides):
  config = experiments.default_config(substrate, agent, base, **overrides)
  config.impala.sequence_length = 3
  config.impala.batch_size = 2
  config.r2d2.burn_in_length, config.r2d2.trace_length = 1, 2
  config.r2d2.batch_size, config.r2d2.min_replay_size = 2, 4
  config.reciprocator.num_envs = 1
  config.reciprocator.influence.batch_size = 64
  config.reciprocator.influence.epochs = 1
  config.reciprocator.influence.samples_per_epoch = 128
  config.learner_period = 1
  config.log_every_seconds = 1e9
  return config


def stepped_actor(agent, num_steps: int, rewards=None):
  """Steps the joint actor on env 0 of `agent`; yields (timestep, last_reciprocal())
  after each step and observes the step when the caller resumes. `rewards(k)`, if
  given, replaces the game's rewards of step k = 1..num_steps (known values to find
  again in the learners' samples)."""
  env, actor = agent.envs[0], agent.actor
  actor.record_policy_data = True
  timestep = env.reset()
  actor.observe_first(0, timestep)
  for k in range(1, num_steps + 1):
    actions = actor.select_actions([timestep])
    timestep = env.step(actions[0])
    if rewards is not None:
      timestep = timestep._replace(rewards=np.asarray(rewards(k), np.float32))
    yield timestep, actor.last_reciprocal()
    actor.observe(actions, [timestep])


def assert_learners_sample(agent, expected) -> None:
  """Every reward that learner i samples (before an episode's end) is one of
  expected[i]: the sampled form of what the actor wrote for player i."""
  for i, learner in enumerate(agent.learner.learners):     # One per player on coins.
    sample = next(learner._iterator)
    seen = sample.data.reward.numpy()[sample.data.discount.numpy() > 0]
    assert seen.size
    gaps = np.abs(seen[:, None] - np.array(expected[i])[None]).min(axis=1)
    assert gaps.max() < 1e-4, (i, seen, expected[i])


def _write_known_sequence(agent, rewards, reciprocal_rewards):
  """Player 0 of env 0 writes one length-3 sequence with known rewards and r_rec."""
  adder = agent.builder.base.make_adder(agent.client, builder_lib.policy_table(0))
  env = agent.envs[0]
  network = agent.networks.groups[0].network
  observation = np.zeros(env.rgb_shape, np.uint8)
  core = tf.nest.map_structure(lambda x: x.numpy()[0], network.initial_state(1))
  adder.add_first(dm_env.restart(observation))
  for t, r in enumerate(rewards):
    extras = {"core_state": core}
    if agent.builder.base.name == "impala":
      extras["logits"] = np.zeros(env.num_actions[0], np.float32)
    if reciprocal_rewards is not None:
      extras[acting.RECIPROCAL_REWARD] = np.float32(reciprocal_rewards[t])
    step = dm_env.transition if t < len(rewards) - 1 else dm_env.truncation
    adder.add(np.int64(1), step(np.float32(r), observation, np.float32(1.0)), extras)


def test_shaped_reward_reaches_the_learner():
  agent = experiments.build_agent(_small())
  try:
    agent.builder.reciprocal_weight.assign(0.5)
    # Two sequences so that a batch of 2 is ready.
    _write_known_sequence(agent, [1.0, -2.0, 0.0, 3.0, 0.0, 1.0], [4.0, 2.0, -6.0, 1.0, 0.0, 8.0])
    learner = agent.learner.learners[0]
    sample = next(learner._iterator)  # Exactly what IMPALALearner._step reads.
    rewards = np.sort(sample.data.reward.numpy()[:, :3].reshape(-1))
    extrinsic = np.array([1.0, -2.0, 0.0, 3.0, 0.0, 1.0])
    shaping = np.array([4.0, 2.0, -6.0, 1.0, 0.0, 8.0])
    np.testing.assert_allclose(rewards, np.sort(extrinsic + 0.5 * shaping))
  finally:
    agent.close()


def test_independent_agent_sees_extrinsic_rewards_only():
  agent = experiments.build_agent(_small(agent="independent"))
  try:
    assert agent.learner.influence_learner is None
    assert agent.networks.estimators is None
    tables = agent.client.server_info()
    assert builder_lib.JOINT_TABLE not in tables
    _write_known_sequence(agent, [1.0, -2.0, 0.0, 3.0, 0.0, 1.0], None)
    sample = next(agent.learner.learners[0]._iterator)
    assert acting.RECIPROCAL_REWARD not in sample.data.extras
    np.testing.assert_allclose(np.sort(sample.data.reward.numpy()[:, :3].reshape(-1)),
                               np.sort([1.0, -2.0, 0.0, 3.0, 0.0, 1.0]))
  finally:
    agent.close()


@pytest.mark.parametrize("substrate", [
    "coins", "prisoners_dilemma_in_the_matrix__repeated", "chicken_in_the_matrix__repeated",
    "stag_hunt_in_the_matrix__repeated", "clean_up", "commons_harvest__open"])
def test_short_run_on_each_preset(tmp_path, substrate):
  config = _small(substrate, num_steps=300)
  config.adapter = melting_pot.AdapterConfig(
      rgb_downsample=config.adapter.rgb_downsample,
      world_downsample=config.adapter.world_downsample, episode_step_limit=100)
  summary = experiments.train(config, str(tmp_path), verbose=False)
  assert summary["env_steps"] == 300
  assert summary["episodes"] == 3
  assert summary["influence_fits"] >= 1            # Estimators fitted from episodes...
  assert summary["policy_learner_steps"] > 0       # ...and then policies learned.
  rows = open(tmp_path / "episodes.csv").read().splitlines()
  assert len(rows) == 4 and "mean_reciprocal_reward" in rows[0]
  if substrate == "coins":
    assert "p_own_coin" in rows[0]


def test_r2d2_base_trains_through_the_same_adapter(tmp_path):
  config = _small(base="r2d2", num_steps=300)
  config.adapter = melting_pot.AdapterConfig(episode_step_limit=100)
  summary = experiments.train(config, str(tmp_path), verbose=False)
  assert summary["influence_fits"] >= 1 and summary["policy_learner_steps"] > 0
  agent = experiments.build_agent(_small(base="r2d2"))
  try:
    # The R2D2 dataset is shaped by the same transform as IMPALA's.
    agent.builder.reciprocal_weight.assign(2.0)
    for _ in range(3):
      _write_known_sequence(agent, [1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    sample = next(agent.learner.learners[0]._iterator)
    np.testing.assert_allclose(sample.data.reward.numpy()[:, :2], 3.0)
  finally:
    agent.close()


def _checkpoint_policy_fingerprint(path):
  reader = tf.train.load_checkpoint(path)
  return float(sum(np.abs(reader.get_tensor(k)).astype(np.float64).sum()
                   for k in reader.get_variable_to_shape_map()
                   if k.startswith("group") and "_network/" in k
                   and k.endswith("VARIABLE_VALUE") and "OPTIMIZER_SLOT" not in k))


def test_resume_after_kill_continues_counters_and_parameters(tmp_path):
  workdir = tmp_path / "run"
  # Short episodes: the estimators fit and the policy learners step before the kill.
  cmd = [sys.executable, "-m", "launch.train", f"--workdir={workdir}", "--num_steps=100000",
         "--checkpoint_every_steps=600", "--num_envs=1", "--log_every_seconds=1000",
         "--episode_step_limit=100"]
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 300
    while time.time() < deadline and len(glob.glob(str(workdir / "checkpoints/run/ckpt-*.index"))) < 2:
      time.sleep(1)
    assert proc.poll() is None, "training exited early"
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  latest = tf.train.latest_checkpoint(str(workdir / "checkpoints/run"))
  assert latest is not None
  from acme.tf import savers
  from acme.utils import counting
  saved_counter = counting.Counter()
  tf.train.Checkpoint(counter=savers.SaveableAdapter(saved_counter)).restore(latest).expect_partial()
  saved_steps = int(saved_counter.get_counts()["env_steps"])
  assert saved_steps >= 600

  saved_learner_steps = int(tf.train.load_checkpoint(latest).get_tensor(
      "policy_learner_steps/.ATTRIBUTES/VARIABLE_VALUE").sum())
  assert saved_learner_steps > 0
  saved_fingerprint = _checkpoint_policy_fingerprint(latest)  # Before it is rotated away.

  config = experiments.load_run_config(str(workdir))
  config.num_steps = saved_steps + 600
  summary = experiments.train(config, str(workdir), resume=True, verbose=False)
  assert summary["resumed_env_steps"] == saved_steps
  assert summary["resumed_policy_fingerprint"] == pytest.approx(saved_fingerprint, rel=1e-9)
  assert summary["env_steps"] >= saved_steps + 600
  # The new server's replay starts empty; the learners must step again once it refills
  # (not wait until it has seen as many items as the whole run before the kill).
  assert summary["policy_learner_steps"] > saved_learner_steps


def test_fresh_start_refuses_to_overwrite_a_run(tmp_path):
  config = _small(num_steps=20)
  experiments.train(config, str(tmp_path), verbose=False)
  before = sorted(os.listdir(tmp_path / "checkpoints" / "run"))
  with pytest.raises(experiments.RunError, match="--resume"):
    experiments.train(config, str(tmp_path), verbose=False)
  assert sorted(os.listdir(tmp_path / "checkpoints" / "run")) == before


def test_unreadable_checkpoint_is_one_clear_error(tmp_path):
  config = _small(num_steps=20)
  experiments.train(config, str(tmp_path), verbose=False)
  for f in glob.glob(str(tmp_path / "checkpoints/run/ckpt-*.data-*")):
    with open(f, "wb") as out:
      out.write(b"corrupted")
  with pytest.raises(experiments.RunError, match="unreadable or mismatched checkpoint"):
    experiments.train(experiments.load_run_config(str(tmp_path)), str(tmp_path), resume=True,
                   verbose=False)


@pytest.mark.parametrize("args,expected", [
    (["--substrate=coin"], "unknown substrate 'coin'; close matches: coins"),
    (["--num_steps=-5"], "flag --num_steps=-5: out of range; allowed: an integer > 0"),
    (["--variant=grudge"], "unknown reciprocal reward variant 'grudge'; valid: balance"),
    (["--base=dqn"], "value should be one of <impala|r2d2>"),
    (["--base=r2d2", "--baseline_cost=0.1"], "baseline_cost: IMPALA settings; the base learner is r2d2"),
    (["--entropy_cost=-1"], "flag --entropy_cost=-1.0: out of range; allowed: a finite number >= 0"),
])
def test_bad_flags_exit_nonzero_with_one_clear_line(args, expected):
  result = subprocess.run([sys.executable, "-m", "launch.train", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert result.returncode != 0
  assert expected in result.stderr
  assert "Traceback" not in result.stderr


def test_learner_and_influence_flags_reach_the_run_config():
  from launch import train as train_cli
  train_cli.FLAGS(["train", "--nofuture_term", "--baseline_cost=0.01", "--entropy_cost=0.02",
                   "--learning_rate=3e-4"])
  try:
    config = train_cli.config_from_flags()
  finally:
    train_cli.FLAGS.unparse_flags()
  assert config.reciprocator.influence.future_term is False
  assert (config.impala.baseline_cost, config.impala.entropy_cost) == (0.01, 0.02)
  assert config.impala.learning_rate == config.r2d2.learning_rate == 3e-4
  # Round trip through the run's config.json (what --resume and export read).
  again = experiments.config_from_dict(experiments.config_to_dict(config))
  assert again.reciprocator.influence.future_term is False


def test_substrate_maps_follow_the_run_seed():
  """Melting Pot draws coins' map size and colours from Python's `random` at build:
  the same seed gives the same maps (paired R vs independent runs, resumes). Spawn
  points are drawn inside the game and may differ, so the test compares the walls."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  config = experiments.default_config("coins", "independent")
  # The world view (the coins preset's estimators see local cells only).
  config.adapter = dataclasses.replace(config.adapter, estimator_view="world")

  def walls(seed):
    envs = experiments.make_envs(config, 3, seed)  # pylint: disable=protected-access
    try:
      out = []
      for env in envs:
        cells = int(np.prod(env.world_shape[:2]))
        world = env.reset().state[:3 * cells].reshape(cells, 3)
        out.append(np.all(world == world[0], axis=1))   # The corner cell is a wall.
      return out
    finally:
      for env in envs:
        env.close()

  seven, again, eight = walls(7), walls(7), walls(8)
  for a, b in zip(seven, again):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, b) for a, b in zip(seven, eight))


def test_time_left_input_follows_the_episode_cut():
  """Melting Pot episodes end at random, so the estimators' time-left input needs the
  adapter's fixed cut: with one, the horizon reaches the estimators and the actor counts
  down to it; without one, asking for it is a clear configuration error."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  config = _small()
  config.reciprocator.influence.use_time_left = True
  with pytest.raises(experiments.RunError, match="episode_step_limit"):
    config.validate()
  config.adapter = dataclasses.replace(config.adapter, episode_step_limit=40)
  agent = experiments.build_agent(config)
  try:
    assert agent.builder.spec.horizon == 40
    assert agent.networks.estimators.use_time_left
    np.testing.assert_allclose(agent.actor._time_left(np.array([0, 10, 40])),  # pylint: disable=protected-access
                               [1.0, 0.75, 0.0])
  finally:
    agent.close()


def test_every_train_flag_is_a_setting_and_every_setting_reaches_the_config():
  """launch.train passes its flags to experiments.configure by name: a flag without a
  route, or a setting that changes nothing, would be silently ignored."""
  from launch import train as train_cli
  run_flags = {f.name for f in train_cli.FLAGS.get_flags_for_module(train_cli)}
  assert run_flags - {"substrate", "agent", "base", "workdir", "resume"} <= set(
      experiments.SETTINGS)
  values = {"num_steps": 123, "seed": 5, "substrate_process": True, "substrate_split": True,
            "num_actors": 3, "ray_address": "auto",
            "ray_node_ip": "127.0.0.2", "reverb_port": 9000, "actor_resources": {"n": 1.0},
            "actor_cpus": 0.5, "actor_recycle_steps": 800, "checkpoint_minutes": 2.0,
            "checkpoint_every_steps": 77,
            "log_every_seconds": 3.0, "learner_period": 4, "variant": "balance",
            "balance_decay": 0.5, "generosity": 1.5, "own_policy_counterfactual": True,
            "reset_balance_each_episode": False,
            "normalize_reciprocal_reward": True, "value_sees_balance": True,
            "policy_sees_balance": True,
            "reciprocal_scale": "none", "reciprocal_scale_steps": 99,
            "reciprocal_weight": 0.123, "reciprocal_weight_start": 0.01,
            "reciprocal_weight_ramp_steps": 50, "num_envs": 3, "share_policy": True,
            "subtract_partner_influence": True, "reciprocal_players": ["0"],
            "naive_partners": True,
            "future_term": True,   # The coins preset's is False.
            "counterfactual": "regression", "rgb_downsample": 4,
            "rgb_pooling": "mean",   # The coins preset's is max.
            "world_downsample": 4, "episode_step_limit": 33, "avatar_locations": True,
            "estimator_view": "world", "local_radius": 2, "own_colour_channel": True,
            "redraw_every": 2, "conv_channels": ["3"],
            "mlp_sizes": ["5"], "lstm_size": 7, "observe_last_step": True,
            "entropy_cost": 0.123, "baseline_cost": 0.321, "samples_per_insert": 2.0,
            "replay_size": 55, "unroll_length": 9, "learning_rate": 1.23e-4}
  assert set(values) == set(experiments.SETTINGS)
  preset = experiments.config_to_dict(experiments.configure("coins"))
  flat = lambda d, p="": ({f"{p}{k}": v for k, v in d.items() if not isinstance(v, dict)} |
                          {x: y for k, v in d.items() if isinstance(v, dict)
                           for x, y in flat(v, f"{p}{k}.").items()})
  for name, value in values.items():
    # Actor recycling is only valid with separate actor processes; the control variate
    # with the behaviour marginal (the coins preset's counterfactual is marginal_uniform).
    extra = ({"num_actors": 2} if name == "actor_recycle_steps" else
             {"counterfactual": "marginal"} if name == "subtract_partner_influence" else {})
    before = (flat(experiments.config_to_dict(experiments.configure("coins", **extra)))
              if extra else flat(preset))
    after = flat(experiments.config_to_dict(
        experiments.configure("coins", **extra, **{name: value})))
    changed = [k for k in after if after[k] != before.get(k)]
    if name == "variant":   # The preset's variant already; it must still be accepted.
      continue
    assert changed, f"setting {name} changed nothing"
  with pytest.raises(experiments.RunError, match="unknown settings grudge"):
    experiments.configure("coins", grudge=1)


def test_a_preset_chooses_the_reciprocal_reward_and_flags_left_unset_keep_it(monkeypatch):
  """variant, future_term and w's ramp come from the substrate's preset (what works
  depends on its reward density), so launch.train's flags for them default to None."""
  from recip_acme import presets
  chosen = dataclasses.replace(presets.PRESETS["coins"], variant="centered_owed_harm",
                               counterfactual="marginal",
                               future_term=False, reciprocal_weight_start=0.0,
                               reciprocal_weight_ramp_steps=100)
  monkeypatch.setitem(presets.PRESETS, "coins", chosen)
  unset = dict(variant=None, future_term=None, reciprocal_weight_start=None,
               reciprocal_weight_ramp_steps=None)
  recip = experiments.configure("coins", **unset).reciprocator
  assert (recip.variant, recip.influence.future_term) == ("centered_owed_harm", False)
  assert (recip.reciprocal_weight_start, recip.reciprocal_weight_ramp_steps) == (0.0, 100)
  recip = experiments.configure("coins", **{**unset, "variant": "balance",
                                            "future_term": True}).reciprocator
  assert (recip.variant, recip.influence.future_term) == ("balance", True)
  flags_default = subprocess.run(
      [sys.executable, "-c", "from absl import flags; import launch.train; "
       "flags.FLAGS(['x']); print([flags.FLAGS[n].default for n in ('variant', "
       "'future_term', 'reciprocal_weight_start', 'reciprocal_weight_ramp_steps')])"],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert flags_default.stdout.strip() == "[None, None, None, None]", flags_default.stderr[-500:]


def test_episode_bound_comes_from_the_substrate_and_leaves_map_draws_alone():
  """JointSpec.max_episode_steps (how many steps the joint writer keeps) is the
  substrate's own frame limit, or the cut if shorter; reading it must not consume
  Python's `random`, which fixes the maps of a seed (the test above)."""
  import random  # pylint: disable=g-import-not-at-top
  from meltingpot import substrate  # pylint: disable=g-import-not-at-top
  from substrates import melting_pot  # pylint: disable=g-import-not-at-top
  random.seed(3)
  env = melting_pot.MeltingPotSubstrate("coins")
  ours = random.random()
  random.seed(3)
  factory = substrate.get_factory("coins")
  raw = factory.build(factory.default_player_roles())
  theirs = random.random()
  raw.close()
  assert ours == theirs
  assert env.max_episode_steps == 5000
  env.close()
  cut = melting_pot.MeltingPotSubstrate("coins", melting_pot.AdapterConfig(episode_step_limit=60))
  assert cut.max_episode_steps == 60
  cut.close()
  config = _small(adapter=melting_pot.AdapterConfig(episode_step_limit=60))
  agent = experiments.build_agent(config)
  try:
    assert agent.builder.spec.max_episode_steps == 60
  finally:
    agent.close()


def test_summary_says_whether_the_time_cap_cut_the_run(tmp_path):
  config = _small(agent="independent", num_steps=40)
  finished = experiments.train(config, str(tmp_path / "a"), verbose=False, max_seconds=600)
  assert finished["env_steps"] == 40 and finished["stopped_by_time"] is False
  cut = experiments.train(_small(agent="independent", num_steps=10**6), str(tmp_path / "b"),
                          verbose=False, max_seconds=0.0)
  assert cut["stopped_by_time"] is True and cut["env_steps"] < 10**6
