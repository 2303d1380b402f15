"""Export to Melting Pot bots, scenario evaluation, cross-play and the baseline comparison."""

import dataclasses
import os
import subprocess
import sys

import dm_env
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from substrates import assets
from recip_acme import baselines
from recip_acme import evaluation
from recip_acme import export
from recip_acme import experiments
from substrates import melting_pot
from substrates import metrics

ROOT = os.path.join(os.path.dirname(__file__), "..")
# Two players, one focal and one background in its scenarios, episodes of a few
# hundred steps: the cheapest substrate with official scenarios.
SUBSTRATE = "running_with_scissors_in_the_matrix__one_shot"
SCENARIO = SUBSTRATE + "_0"


def _run(*args, timeout=600):
  return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                        timeout=timeout, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
  """A 300-step training run (learning has started) and its export."""
  workdir = str(tmp_path_factory.mktemp("run"))
  config = experiments.default_config(SUBSTRATE, "reciprocator", "impala", num_steps=300)
  config.impala.sequence_length, config.impala.batch_size = 3, 2
  config.reciprocator.influence.batch_size = 64
  config.reciprocator.influence.epochs = 1
  config.reciprocator.influence.samples_per_epoch = 128
  config.learner_period = 1
  config.log_every_seconds = 1e9
  experiments.train(config, workdir, verbose=False)
  out = str(tmp_path_factory.mktemp("export"))
  manifest = export.export_run(workdir, out, name_prefix="recip")
  return workdir, out, manifest


def _error_line(result) -> str:
  """The one line our CLIs print for bad input (gym may print its notice before it)."""
  assert "Traceback" not in result.stderr
  return result.stderr.strip().splitlines()[-1]


def _timestep(rgb, first=True):
  # Extra keys, including ones scenarios never give focal players: they must be ignored.
  observation = {"RGB": rgb, "WORLD.RGB": np.zeros((8, 8, 3), np.uint8),
                 "INVENTORY": np.zeros(3, np.float64), "COLLECTIVE_REWARD": np.float64(0.0)}
  return dm_env.restart(observation) if first else dm_env.transition(0.0, observation)


def test_export_writes_one_model_per_player_with_a_manifest(trained_run):
  _, out, manifest = trained_run
  assert manifest.substrate == SUBSTRATE
  assert [p.player for p in manifest.players] == [0, 1]
  assert manifest.env_steps >= 300
  loaded = export.ExportManifest.load(out)
  assert loaded == manifest
  for path in loaded.model_paths(out).values():
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))


def test_meltingpot_saved_model_policy_loads_and_steps_an_export(trained_run):
  from meltingpot.utils.policies import saved_model_policy
  _, out, manifest = trained_run
  env = melting_pot.MeltingPotSubstrate(SUBSTRATE)
  raw_shape, num_actions = env.raw_rgb_shape, env.num_actions[0]
  env.close()
  policy = saved_model_policy.SavedModelPolicy(os.path.join(out, manifest.players[0].path))
  state = policy.initial_state()
  rng = np.random.default_rng(0)
  actions = []
  for t in range(20):
    rgb = rng.integers(0, 256, raw_shape, dtype=np.uint8)
    action, state = policy.step(_timestep(rgb, first=(t == 0)), state)
    actions.append(action)
  assert all(isinstance(a, int) and 0 <= a < num_actions for a in actions)
  assert len(set(actions)) > 1      # A sampling policy, keyed by Melting Pot's random key.
  policy.close()


def test_exported_step_reads_only_permitted_observations(trained_run):
  from meltingpot import scenario
  _, out, manifest = trained_run
  model = tf.saved_model.load(os.path.join(out, manifest.players[0].path))
  (_, timestep, _), _ = model.step.concrete_functions[0].structured_input_signature
  assert set(timestep["observation"]) <= set(scenario.PERMITTED_OBSERVATIONS)
  assert set(timestep["observation"]) == set(export.POLICY_OBSERVATIONS)


def test_exported_model_computes_the_trained_networks_policy(trained_run):
  """Downsampling inside the model + the restored weights = the trainer's policy."""
  workdir, out, manifest = trained_run
  config = experiments.load_run_config(workdir)
  agent = experiments.build_agent(config)
  try:
    experiments.RunCheckpoint(workdir, dict(agent.learner.state)).restore(partial=True)
    network = agent.networks.groups[0].network
    env = agent.envs[0]
    model = tf.saved_model.load(os.path.join(out, manifest.players[0].path))
    rng = np.random.default_rng(1)
    key, state = model.initial_state(np.array([0, 7], np.uint32))
    core = network.initial_state(1)
    for t in range(5):
      rgb = rng.integers(0, 256, env.raw_rgb_shape, dtype=np.uint8)
      step_type = 0 if t == 0 else 1
      key, ((_, info), state) = model.step(
          key, {"step_type": np.int32(step_type), "observation": {"RGB": rgb}}, state)
      small = melting_pot.area_downsample(rgb, config.adapter.rgb_downsample)
      (logits, _), core = network(tf.constant(small[None]), core)
      np.testing.assert_allclose(info["scores"].numpy(), logits[0].numpy(), atol=1e-4)
  finally:
    agent.close()


@pytest.mark.parametrize("shape,factor", [((88, 88, 3), 8), ((40, 40, 3), 8), ((40, 40, 3), 4),
                                          ((168, 240, 3), 8), ((88, 88, 3), 1)])
def test_in_model_downsampling_matches_the_training_adapter(shape, factor):
  rng = np.random.default_rng(2)
  for _ in range(5):
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    ours = export.downsample_rgb(tf.constant(image), factor).numpy()
    adapter = melting_pot.area_downsample(image, factor)
    assert ours.shape == adapter.shape
    assert np.abs(ours.astype(int) - adapter.astype(int)).max() <= 1
    assert (ours == adapter).mean() > 0.95   # Only exact .5 ties may round differently.


@pytest.mark.parametrize("shape,factor", [((88, 88, 3), 8), ((40, 40, 3), 4), ((88, 88, 3), 1)])
def test_in_model_max_pooling_matches_the_training_adapter_exactly(shape, factor):
  rng = np.random.default_rng(3)
  image = rng.integers(0, 256, shape, dtype=np.uint8)
  ours = export.downsample_rgb(tf.constant(image), factor, "max").numpy()
  adapter = melting_pot.downsample_rgb(image, factor, "max")
  np.testing.assert_array_equal(ours, adapter)


@pytest.mark.parametrize("shape,factor", [((88, 88, 3), 8), ((90, 85, 3), 8), ((40, 40, 3), 4),
                                          ((9, 9, 1), 3)])
def test_max_pooling_is_the_maximum_of_each_whole_block(shape, factor):
  # The definition, block by block; rows and columns past the last whole block dropped.
  image = np.random.default_rng(4).integers(0, 256, shape, dtype=np.uint8)
  pooled = melting_pot.max_downsample(image, factor)
  rows, cols = shape[0] // factor, shape[1] // factor
  assert pooled.shape == (rows, cols, shape[2])
  for r in range(rows):
    for c in range(cols):
      block = image[r * factor:(r + 1) * factor, c * factor:(c + 1) * factor]
      np.testing.assert_array_equal(pooled[r, c], block.max(axis=(0, 1)))


def test_max_pooling_keeps_a_small_sprite_at_its_own_colour():
  # Why the option: one bright 2x2 sprite in an 8x8 black cell is 1/16 as bright after
  # the mean, and keeps its colour after the max; a block without it stays black.
  image = np.zeros((16, 16, 3), np.uint8)
  image[3:5, 3:5] = (208, 48, 128)
  mean = melting_pot.downsample_rgb(image, 8, "mean")
  peak = melting_pot.downsample_rgb(image, 8, "max")
  np.testing.assert_array_equal(peak[0, 0], (208, 48, 128))
  np.testing.assert_array_equal(mean[0, 0], (13, 3, 8))   # 4 of 64 pixels: 1/16 of each.
  assert peak[1:, :].max() == 0 and peak[:, 1:].max() == 0


def test_an_unknown_rgb_pooling_is_one_clear_error():
  with pytest.raises(ValueError, match="rgb_pooling must be one of mean, max; got 'median'"):
    melting_pot.AdapterConfig(rgb_pooling="median")


def test_export_refuses_a_factor_that_does_not_divide_the_image():
  with pytest.raises(export.ExportError, match="not divisible"):
    export.downsample_rgb(tf.zeros((88, 88, 3), tf.uint8), 3)


def test_export_runs_through_meltingpots_own_evaluation_helpers(trained_run):
  from meltingpot.utils.evaluation import evaluation as mp_evaluation
  _, out, manifest = trained_run
  paths = manifest.model_paths(out)
  results = mp_evaluation.evaluate_saved_models_on_substrate(
      saved_models=paths, names_by_role={"default": list(paths)}, substrate=SUBSTRATE,
      num_episodes=1)
  assert len(results) == 1
  assert np.isfinite(results["focal_per_capita_return"].iloc[0])
  assert sorted(results["focal_player_names"].iloc[0]) != []


def test_export_errors_are_one_line_and_never_overwrite(trained_run, tmp_path):
  workdir, out, _ = trained_run
  before = sorted(os.listdir(out))
  with pytest.raises(export.ExportError, match="already holds an export"):
    export.export_run(workdir, out)
  assert sorted(os.listdir(out)) == before
  with pytest.raises(export.ExportError, match="not found"):
    export.export_run(str(tmp_path), str(tmp_path / "x"))
  result = _run("-m", "launch.export", f"--workdir={tmp_path}", f"--out={tmp_path}/y")
  assert result.returncode == 2
  assert _error_line(result).startswith("error: ") and "config.json not found" in result.stderr


def test_evaluate_with_a_custom_background_marks_its_results(trained_run, tmp_path):
  workdir, out, _ = trained_run
  result = _run("-m", "launch.evaluate", f"--agents={out}", f"--scenario={SCENARIO}",
                f"--background={workdir}", "--episodes=2", f"--out={tmp_path}",
                f"--video_dir={tmp_path / 'videos'}")
  assert result.returncode == 0, result.stderr[-2000:]
  episodes = pd.read_csv(tmp_path / "episodes.csv")
  assert len(episodes) == 2
  assert set(episodes["scenario"]) == {SCENARIO}
  assert episodes["background"].str.startswith(evaluation.CUSTOM_PREFIX).all()
  assert np.isfinite(episodes["focal_per_capita_return"]).all()
  assert all(os.path.getsize(p) > 0 for p in episodes["video_path"])
  summary = pd.read_csv(tmp_path / "summary.csv")
  assert summary["episodes"].tolist() == [2]
  by_player = pd.read_csv(tmp_path / "summary_by_player.csv")
  assert by_player["episodes"].sum() == 2 and "background_players" in by_player
  assert "not comparable" in (tmp_path / "summary.md").read_text()
  # The training workdir given as --background was exported on first use.
  assert os.path.exists(os.path.join(workdir, "export", export.MANIFEST))


def test_evaluate_without_bot_assets_says_so_in_one_line(trained_run, tmp_path):
  if not assets.missing_bots(SCENARIO):
    pytest.skip("Melting Pot's bot assets are installed here")
  _, out, _ = trained_run
  result = _run("-m", "launch.evaluate", f"--agents={out}", f"--scenario={SCENARIO}",
                f"--out={tmp_path}")
  assert result.returncode == 2
  line = _error_line(result)
  assert "bot assets missing" in line and "--background" in line and SCENARIO in line
  assert not (tmp_path / "episodes.csv").exists()


def test_unknown_scenario_lists_close_matches(trained_run, tmp_path):
  with pytest.raises(assets.UnknownNameError, match="did you mean coins_"):
    evaluation.resolve_scenarios(["coins_9"])
  assert evaluation.resolve_scenarios([SUBSTRATE]) == [f"{SUBSTRATE}_{k}" for k in range(4)]
  _, out, _ = trained_run
  result = _run("-m", "launch.evaluate", f"--agents={out}", "--scenario=coins_9",
                f"--out={tmp_path}")
  assert result.returncode == 2
  assert "unknown scenario or substrate 'coins_9'; did you mean" in result.stderr
  assert "Traceback" not in result.stderr


def test_crossplay_writes_a_matrix_and_heatmap(trained_run, tmp_path):
  workdir, out, _ = trained_run
  result = _run("-m", "launch.evaluate", "--crossplay", f"--agents={out},{workdir}",
                "--episodes=1", f"--out={tmp_path}")
  assert result.returncode == 0, result.stderr[-2000:]
  matrix = pd.read_csv(tmp_path / "crossplay_matrix.csv", index_col=0)
  assert matrix.shape == (2, 2)
  assert np.isfinite(matrix.values).all()
  assert (tmp_path / "crossplay.png").stat().st_size > 0


def _synthetic_results():
  rows = []
  def add(scenario, mapla, returns):
    for run, x in enumerate(returns):
      rows.append(dict(scenario=scenario, substrate="s", mapla=mapla, training_run=run,
                       focal_per_capita_return=x))
  add("s_0", "acb", [0.0, 2.0])
  add("s_0", "random", [-1.0])
  add("s_0", "exploiter_acb", [3.0])
  add("s_0", "exploiter_opre", [5.0])     # best exploiter of s_0
  add("s_1", "acb", [0.0])
  add("s_1", "random", [0.0])
  add("s_1", "exploiter_acb", [10.0])     # best exploiter of s_1
  add("s_1", "exploiter_opre", [40.0, -40.0])   # higher max, lower mean: dropped
  return pd.DataFrame(rows)


def test_normalised_scores_match_hand_computation():
  ours = pd.DataFrame([
      dict(scenario="s_0", substrate="s", agent="recip", background="official",
           focal_per_capita_return=2.0),
      dict(scenario="s_1", substrate="s", agent="recip", background="official",
           focal_per_capita_return=2.0),
      dict(scenario="s_1", substrate="s", agent="recip", background="custom:indep",
           focal_per_capita_return=100.0),
      dict(scenario="t_0", substrate="t", agent="recip", background="official",
           focal_per_capita_return=1.0),
  ])
  per_scenario, per_substrate, excluded = baselines.compare(ours, _synthetic_results())
  s = per_scenario.set_index("scenario")
  # s_0: min -1, max 5 (exploiter_opre) -> ours (2+1)/6, acb mean 1 -> 2/6.
  assert s.loc["s_0", "ours_score"] == pytest.approx(0.5)
  assert s.loc["s_0", "acb_score"] == pytest.approx(1 / 3)
  assert s.loc["s_0", "exploiter_score"] == pytest.approx(1.0)
  # s_1: exploiter_acb (mean 10) beats exploiter_opre (mean 0): min 0, max 10.
  assert s.loc["s_1", "ours_score"] == pytest.approx(0.2)
  assert s.loc["s_1", "exploiter"] == pytest.approx(10.0)
  row = per_substrate.set_index("substrate").loc["s"]
  assert row["ours_score"] == pytest.approx(0.35)
  assert row["scenarios"] == 2
  # Never scored: the custom background, and a scenario without published results.
  assert sorted(excluded["scenario"]) == ["s_1", "t_0"]
  assert excluded.set_index("scenario").loc["s_1", "reason"].startswith("custom background")


def test_compare_cli_writes_tables_and_never_ranks_custom_backgrounds(tmp_path):
  baseline_csv = tmp_path / "published.csv"
  _synthetic_results().to_csv(baseline_csv, index=False)
  summary = tmp_path / "summary.csv"
  pd.DataFrame([
      dict(scenario="s_0", substrate="s", agent="recip", background="official",
           focal_per_capita_return=2.0, episodes=3),
      dict(scenario="s_0", substrate="s", agent="indep", background="custom:recip",
           focal_per_capita_return=9.0, episodes=3),
  ]).to_csv(summary, index=False)
  result = _run("-m", "launch.compare", f"--results={summary}",
                f"--baselines={baseline_csv}", f"--out={tmp_path / 'cmp'}")
  assert result.returncode == 0, result.stderr[-2000:]
  table = pd.read_csv(tmp_path / "cmp" / "comparison.csv")
  assert table["agent"].tolist() == ["recip"]
  assert table["ours_score"].iloc[0] == pytest.approx(0.5)
  report = (tmp_path / "cmp" / "comparison.md").read_text()
  assert "Excluded" in report and "custom:recip" in report
  assert (tmp_path / "cmp" / "scores.png").stat().st_size > 0
  bad = _run("-m", "launch.compare", f"--results={tmp_path / 'missing.csv'}",
             f"--out={tmp_path / 'cmp2'}")
  assert bad.returncode == 2 and "flag --results=" in bad.stderr and "no such file" in bad.stderr


def test_shipped_baselines_are_the_published_table():
  results = baselines.load_results()
  assert len(results) == 4174
  assert results["scenario"].nunique() == 262
  bounds = baselines.scenario_bounds(results).set_index("scenario")
  coins = results[results["scenario"] == "coins_0"]
  assert bounds.loc["coins_0", "min"] == pytest.approx(coins["focal_per_capita_return"].min())


def test_substrate_baselines_describe_each_scenario_of_one_substrate():
  table = baselines.substrate_baselines("clean_up")
  assert list(table.index) == [f"clean_up_{i}" for i in range(9)]
  assert table.loc["clean_up_1", "focal_players"] == 4
  assert "ride free" in table.loc["clean_up_1", "description"]
  # Where no background player cleans, Melting Pot's selfish baselines earn nothing and
  # only the prosocial one does: the fact the reward-scale diagnostic's reading cites.
  assert table.loc["clean_up_1", ["acb", "opre", "vmpo", "random"]].max() < 0.01
  assert table.loc["clean_up_1", "acb_prosocial"] > 10
  with pytest.raises(ValueError, match="no published results for substrate 'nope'"):
    baselines.substrate_baselines("nope")


def test_official_scenario_path_runs_once_bots_are_installed(trained_run, monkeypatch):
  """The official path (Melting Pot's own scenario factory and bot configs), with our
  exported model standing in for each of the scenario's bots, as installed assets would."""
  from meltingpot import scenario
  from meltingpot.configs import bots as bot_configs
  _, out, manifest = trained_run
  stand_in = os.path.join(out, manifest.players[1].path)
  names = sorted(set().union(*scenario.get_config(SCENARIO).bots_by_role.values()))
  patched = dict(bot_configs.BOT_CONFIGS)
  for name in names:
    patched[name] = dataclasses.replace(patched[name], model_path=stand_in)
  monkeypatch.setattr(bot_configs, "BOT_CONFIGS", patched)
  assert assets.missing_bots(SCENARIO) == []
  rows = evaluation.evaluate_on_scenario(evaluation.load_population(out), SCENARIO, 1)
  assert rows["background"].tolist() == [evaluation.OFFICIAL]
  assert set(rows["background_players"].iloc[0].split()) <= set(names)
  summary = evaluation.summarize(rows)
  per_scenario, _, excluded = baselines.compare(summary)
  assert per_scenario["scenario"].tolist() == [SCENARIO] and excluded.empty
  assert np.isfinite(per_scenario["ours_score"]).all()


def _coins_step(rewards, mismatch, step_type=dm_env.StepType.MID):
  observation = [{metrics.MISMATCH: np.float64(m), "RGB": np.zeros((2, 2, 3), np.uint8)}
                 for m in mismatch]
  return dm_env.TimeStep(step_type, [np.float64(r) for r in rewards], 1.0, observation)


@pytest.mark.parametrize("is_focal, expected", [
    ((True, False), {"focal_own_coins": 1.0, "focal_partner_coins": 2.0, "focal_coins_lost": 2.0}),
    ((False, True), {"focal_own_coins": 0.0, "focal_partner_coins": 2.0, "focal_coins_lost": 2.0}),
])
def test_coin_events_split_a_focal_return_into_what_made_it(is_focal, expected):
  # Player 0 takes its own coin, then player 1's, then player 1 takes player 0's coin,
  # then both take each other's at once; a second episode starts empty.
  events = evaluation.CoinEvents(is_focal)
  steps = [([1, 0], [0, 0]), ([1, -2], [0, 1]), ([-2, 1], [1, 0]), ([-1, -1], [1, 1])]
  events(_coins_step([0, 0], [0, 0], dm_env.StepType.FIRST))
  for rewards, mismatch in steps[:-1]:
    events(_coins_step(rewards, mismatch))
  events(_coins_step(*steps[-1], dm_env.StepType.LAST))
  events(_coins_step([0, 0], [0, 0], dm_env.StepType.FIRST))
  events(_coins_step([0, 0], [0, 0], dm_env.StepType.LAST))
  assert events.rows[0] == expected
  focal = is_focal.index(True)
  focal_return = sum(r[focal] for r, _ in steps)
  row = events.rows[0]
  assert focal_return == row["focal_own_coins"] + row["focal_partner_coins"] - 2 * row["focal_coins_lost"]
  assert events.rows[1] == dict.fromkeys(expected, 0.0)


def test_coin_event_columns_reach_the_episode_rows_and_the_summary():
  df = pd.DataFrame({"focal_per_capita_return": [-1.0, 3.0], "background_per_capita_return": [0.0, 0.0],
                     "focal_player_names": [("a",), ("c",)], "background_player_names": [("b",), ("b",)],
                     "focal_own_coins": [1.0, 3.0], "focal_partner_coins": [2.0, 0.0],
                     "focal_coins_lost": [2.0, 0.0]})
  rows = evaluation._rows(df, "coins_0", "coins", "r", "custom:i")
  assert list(rows.columns[-3:]) == list(evaluation.COIN_EVENT_COLUMNS)
  summary = evaluation.summarize(rows)
  assert summary.loc[0, ["focal_own_coins", "focal_partner_coins", "focal_coins_lost"]].tolist() == [2.0, 1.0, 1.0]
  by_player = evaluation.summarize(rows, by_player=True).set_index("focal_players")
  assert by_player.loc["c", "focal_per_capita_return"] == 3.0 and len(by_player) == 2


def test_players_keeps_only_the_chosen_trained_players(trained_run, tmp_path):
  _, out, manifest = trained_run
  assert len(manifest.players) == 2
  population = evaluation.load_population(out, players=[1])
  assert [p.player for p in population.manifest.players] == [1]
  assert population.name.endswith("_p1")
  assert list(population.model_paths()) == [manifest.players[1].name]
  with pytest.raises(export.ExportError, match=r"players \[5\]: .* holds players \[0, 1\]"):
    evaluation.load_population(out, players=[5])
  result = _run("-m", "launch.evaluate", f"--agents={out}", "--crossplay", "--players=x",
                f"--out={tmp_path}")
  assert result.returncode == 2 and "--players" in _error_line(result)


def test_one_model_on_each_side_plays_every_episode(trained_run, tmp_path):
  workdir, out, manifest = trained_run
  result = _run("-m", "launch.evaluate", f"--agents={out}", f"--scenario={SCENARIO}",
                f"--background={workdir}", "--players=0", "--background_players=1",
                "--episodes=2", f"--out={tmp_path}")
  assert result.returncode == 0, result.stderr[-2000:]
  episodes = pd.read_csv(tmp_path / "episodes.csv")
  assert set(episodes["focal_players"]) == {manifest.players[0].name}
  assert episodes["background_players"].str.endswith("_p1").all()
  assert episodes["background"].str.endswith("_p1").all()
  result = _run("-m", "launch.evaluate", f"--agents={out}", f"--scenario={SCENARIO}",
                "--background_players=1", f"--out={tmp_path}/b")
  assert result.returncode == 2 and "--background_players needs --background" in _error_line(result)


def test_stratify_plays_every_model_pairing_equally_under_the_population_names(trained_run, tmp_path):
  workdir, out, manifest = trained_run
  result = _run("-m", "launch.evaluate", f"--agents={out}", f"--scenario={SCENARIO}",
                f"--background={workdir}", "--stratify", "--episodes=1", f"--out={tmp_path}")
  assert result.returncode == 0, result.stderr[-2000:]
  episodes = pd.read_csv(tmp_path / "episodes.csv")
  cells = episodes.groupby(["focal_players", "background_players"]).size()
  assert len(cells) == 4 and (cells == 1).all()
  assert episodes["agent"].nunique() == 1 and episodes["background"].nunique() == 1
  summary = pd.read_csv(tmp_path / "summary.csv")
  assert summary["episodes"].tolist() == [4]
  result = _run("-m", "launch.evaluate", f"--agents={out}", f"--scenario={SCENARIO}",
                "--stratify", f"--out={tmp_path}/b")
  assert result.returncode == 2 and "--stratify needs --background" in _error_line(result)
