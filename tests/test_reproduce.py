"""launch.reproduce end to end at a tiny size: files, columns, overrides, --replot."""

import json
import os
import subprocess
import sys

import pandas as pd

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _reproduce(*args):
  return subprocess.run([sys.executable, "-m", "launch.reproduce", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=600,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def test_coins_reciprocator_vs_naive_learner_writes_csv_plot_and_readme(tmp_path):
  out = tmp_path / "coins"
  result = _reproduce("--experiment=coins_r_vs_nl", "--seeds=0", "--episodes=4",
                      "--batch_size=8", "--influence_epochs=1", "--updates_per_episode=1",
                      "--balance_decay=0.5", f"--out={out}")
  assert result.returncode == 0, result.stderr[-2000:]
  df = pd.read_csv(out / "seed_0.csv")
  assert len(df) == 4
  for column in ("total_reward", "p_own_coin", "p_own_coin_p0", "p_own_coin_p1",
                 "reward_p0", "reward_p1", "reciprocal_reward_p0"):
    assert column in df.columns
  # Player 1 is the naive learner: its reciprocal reward is logged but weighted 0;
  # player 0's is non-zero once the estimators are fitted.
  assert (df["reciprocal_reward_p0"].abs() > 0).any()
  settings = json.loads((out / "settings.json").read_text())
  assert settings["influence"]["future_estimator"] == "transition"  # Published Coins model.
  assert settings["reciprocal_weights"] == [1.0, 0.0] and settings["episodes"] == 4
  assert settings["balance_decay"] == 0.5 and settings["games_per_update"] is None
  readme = (out / "README.md").read_text()
  assert "python -m launch.reproduce --experiment=coins_r_vs_nl" in readme
  assert "total_reward (last 20)" in readme
  os.remove(out / "curves.png")
  replot = _reproduce("--experiment=coins_r_vs_nl", "--seeds=0", f"--out={out}", "--replot")
  assert replot.returncode == 0, replot.stderr[-2000:]
  assert (out / "curves.png").stat().st_size > 0


def test_ipd_reports_reciprocity_columns(tmp_path):
  out = tmp_path / "ipd"
  result = _reproduce("--experiment=ipd_r_vs_nl", "--seeds=7", "--episodes=2",
                      "--batch_size=8", "--nojit_compile_acting", f"--out={out}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert json.loads((out / "settings.json").read_text())["jit_compile_acting"] is False
  df = pd.read_csv(out / "seed_7.csv")
  for column in ("p_cooperate_p0", "p_cooperate_p1", "p_cooperate_after_c_p0",
                 "p_cooperate_after_d_p0", "logit_gap_c_minus_d_dd_p1", "policy_entropy_p1",
                 "grad_norm_least_likely_p1", "param_change_p1"):
    assert column in df.columns
  assert df["p_cooperate_p0"].between(0, 1).all()
  # The table and the plot name the seed that was run, not its position.
  assert (df["seed"] == 7).all()
  assert "|      7 |" in (out / "README.md").read_text()


def test_unknown_experiment_is_one_clear_error():
  result = _reproduce("--experiment=coins_r_vs_lola")
  assert result.returncode != 0
  assert "coins_r_vs_lola" in result.stderr and "Traceback" not in result.stderr


def test_settings_that_do_not_go_together_are_one_clear_error(tmp_path):
  result = _reproduce("--experiment=coins_r_vs_nl", "--counterfactual=marginal_uniform",
                      "--seeds=0", f"--out={tmp_path / 'x'}")   # Default: transition model.
  assert result.returncode != 0
  assert "needs future_estimator='returns'" in result.stderr
  assert "Traceback" not in result.stderr
  assert not (tmp_path / "x" / "seed_0.csv").exists()
  result = _reproduce("--experiment=coins_nl_vs_nl", "--batch_size=8", "--games_per_update=3",
                      "--seeds=0", f"--out={tmp_path / 'y'}")
  assert result.returncode != 0
  assert "games_per_update=3 must divide the batch of 8 games" in result.stderr
  assert "Traceback" not in result.stderr
  assert not (tmp_path / "y" / "seed_0.csv").exists()


def test_the_launcher_lists_the_library_experiments():
  """launch.reproduce lists the experiments for its flags without importing TensorFlow;
  the list must be the library's. (Read from its source: importing it here would define
  its flags in this process, beside launch.train's of the same names.)"""
  import ast
  from recip_acme import paper
  tree = ast.parse(open(os.path.join(ROOT, "launch", "reproduce.py")).read())
  listed = [ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXPERIMENTS"]
  assert listed == [paper.EXPERIMENTS]


def _ipd_seed(path, seed, late_reward, first_cooperation):
  episodes = list(range(400))
  pd.DataFrame({
      "seed": seed, "episode": episodes,
      "reward_per_step_p0": [-1.0 if e < 200 else late_reward for e in episodes],
      "reward_per_step_p1": [-1.0] * 400,
      "p_cooperate_p0": [0.5] * 400,
      "p_cooperate_p1": [0.9 if e >= first_cooperation else 0.3 for e in episodes],
  }).to_csv(path / f"seed_{seed}.csv", index=False)


def test_claims_table_gives_each_seed_its_margin_and_the_claim_its_verdict(tmp_path):
  from recip_acme import paper  # pylint: disable=g-import-not-at-top
  folder = tmp_path / "ipd_r_vs_nl"
  folder.mkdir()
  # Seeds 1-2 pass; seed 3 is worse than mutual defection late; seed 4 cooperates too late.
  for seed, late, first in ((1, -1.5, 50), (2, -1.2, 120), (3, -2.3, 50), (4, -1.0, 250)):
    _ipd_seed(folder, seed, late, first)
  table = paper.claims_table(str(tmp_path))
  rows = [line for line in table.splitlines() if line.startswith("| IPD R vs NL")]
  assert len(rows) == 4
  assert "FAILS (2 of 4 seeds; needs 3)" in rows[0]
  assert "+0.50 over -2" in rows[0] and "| yes " in rows[0]
  assert "-0.30 over -2" in rows[2] and "| no " in rows[2]
  assert "at episode 250" in rows[3] and "| no " in rows[3]
  _ipd_seed(folder, 4, -1.0, 150)     # Now 3 of 4 pass: the claim passes.
  assert "PASSES (3 of 4 seeds; needs 3)" in paper.claims_table(str(tmp_path))


def _coins_seed(path, seed, own):
  path.mkdir(parents=True, exist_ok=True)
  pd.DataFrame({"seed": seed, "episode": range(30), "p_own_coin": own, "p_own_coin_p1": own,
                "total_reward": 9.0, "reward_p0": 1.0, "reward_p1": 1.0}
               ).to_csv(path / f"seed_{seed}.csv", index=False)


def test_claims_compare_with_the_nl_baseline_of_the_same_scale(tmp_path):
  from recip_acme import paper  # pylint: disable=g-import-not-at-top
  _coins_seed(tmp_path / "coins_nl_vs_nl", 0, 0.50)
  _coins_seed(tmp_path / "paper_scale" / "coins_r_vs_nl", 11, 0.60)
  # Without a paper-scale NL vs NL, the default scale's is used, and labelled so.
  assert "(NL vs NL, default scale, mean of seeds 0: 0.500)" in paper.claims_table(str(tmp_path))
  # With one, the paper-scale claim is measured against it: 0.60 is not above 0.65.
  _coins_seed(tmp_path / "paper_scale" / "coins_nl_vs_nl", 11, 0.65)
  paper_rows = paper.claims_table(str(tmp_path)).split("Paper scale")[1]
  row = [line for line in paper_rows.splitlines() if line.startswith("| Coins R vs NL")][0]
  assert "(NL vs NL, same seed: 0.650)" in row and "-0.050 over NL vs NL" in row
  assert "| no " in row


def test_paper_scale_fills_its_coins_settings_where_no_flag_was_given():
  from recip_acme import paper  # pylint: disable=g-import-not-at-top
  blank = {"games_per_update": None, "learning_rate": None}
  settings, epochs = paper.with_paper_scale("coins_r_vs_nl", blank, None)
  assert settings["games_per_update"] == 256 and epochs == 2
  assert settings["learning_rate"] is None and blank["games_per_update"] is None
  # A flag wins over the scale's default.
  settings, epochs = paper.with_paper_scale("coins_r_vs_r", {"games_per_update": 512}, 5)
  assert settings == {"games_per_update": 512} and epochs == 5
  # IPD keeps its own settings at the paper's batch.
  assert paper.with_paper_scale("ipd_r_vs_nl", blank, None) == (blank, None)


def test_acting_compilation_is_a_run_setting():
  """--jit_compile_acting reaches BatchedConfig (a launch may force XLA on or off)."""
  from recip_acme import paper  # pylint: disable=g-import-not-at-top
  _, config = paper.experiment_setup("ipd_nl_vs_nl", 8, seed=0)
  assert config.jit_compile_acting is None
  assert paper.with_overrides(config, jit_compile_acting=False).jit_compile_acting is False
  assert paper.with_overrides(config, jit_compile_acting=None).jit_compile_acting is None
