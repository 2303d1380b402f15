"""Multi-run experiments: resumable run queue, per-fifth learning tables, margins."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from recip_acme import comparison
from recip_acme.experiments import records
from recip_acme import run_queue

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fake_run(workdir, progress_steps=None, checkpoint=True):
  if checkpoint:
    os.makedirs(os.path.join(workdir, "checkpoints", "run"))
    open(os.path.join(workdir, "checkpoints", "run", "ckpt-1.index"), "w").close()
    with open(os.path.join(workdir, "checkpoints", "run", "checkpoint"), "w") as f:
      f.write('model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n')
  if progress_steps is not None:
    os.makedirs(os.path.dirname(os.path.join(workdir, records.PROGRESS_FILE)), exist_ok=True)
    with open(os.path.join(workdir, records.PROGRESS_FILE), "w") as f:
      f.write("env_steps,episodes\n" + "".join(f"{s},1\n" for s in progress_steps))


def test_run_command_starts_continues_reuses_or_refuses(tmp_path):
  def run(name):
    return run_queue.Run(name, str(tmp_path / name), 1000, ["--seed=3"])

  fresh = run("fresh").command(resume=True)
  assert fresh[-1] == "--seed=3" and "--resume" not in fresh and "--num_steps=1000" in fresh
  _fake_run(str(tmp_path / "killed"), progress_steps=[200, 600])
  assert run("killed").command(resume=True)[-1] == "--resume"
  _fake_run(str(tmp_path / "finished"), progress_steps=[600, 1000])
  assert run("finished").command(resume=True) is None
  with pytest.raises(run_queue.RunQueueError, match="already holds a run; pass --resume"):
    run("killed").command(resume=False)
  # How far it got: the later of its progress rows and its episode rows.
  with open(tmp_path / "killed" / records.EPISODES_FILE, "w") as f:
    f.write("env_steps,episode\n300,1\n700,2\n")
  assert run_queue.steps_reached(str(tmp_path / "killed")) == 700
  assert run_queue.steps_reached(str(tmp_path / "finished")) == 1000
  # A run that wrote progress but never checkpointed starts afresh.
  _fake_run(str(tmp_path / "early"), progress_steps=[100], checkpoint=False)
  assert "--resume" not in run("early").command(resume=True)


def test_run_all_names_the_failed_run(tmp_path):
  bad = run_queue.Run("bad run", str(tmp_path / "bad"), 10, ["--substrate=nope"])
  with pytest.raises(run_queue.RunQueueError, match=r"run bad run failed \(exit 2\)"):
    run_queue.run_all([bad], parallel=1, resume=False, poll_seconds=0.2)
  assert "substrate" in open(str(tmp_path / "bad") + ".log").read()


def _episodes(rows):
  """rows: (env_steps, length, own, other, return_p0, return_p1)."""
  return pd.DataFrame(rows, columns=["env_steps", "length", "own_coins", "other_coins",
                                     "return_p0", "return_p1"])


def test_learning_by_fifth_pools_over_steps():
  # Budget 1000: fifths end at 200, 400, ... Two episodes in the first fifth, of very
  # different lengths: pooled coins per step is (10 + 2) / (150 + 50), not a mean of rates.
  e = _episodes([(150, 150, 6, 4, 3.0, 1.0), (200, 50, 1, 1, -1.0, 1.0),
                 (400, 200, 20, 0, 10.0, 10.0), (1000, 600, 30, 30, 0.0, 0.0)])
  t = records.learning_by_fifth(e, 1000).set_index("fifth")
  assert t.loc[1, "coins_per_step"] == pytest.approx(12 / 200)
  assert t.loc[1, "p_own_coin"] == pytest.approx(7 / 12)
  assert t.loc[1, "collective_return_per_1000_steps"] == pytest.approx(1000 * 4 / 200)
  assert t.loc[2, "p_own_coin"] == 1.0 and t.loc[3, "episodes"] == 0
  assert t.loc[5, "coins_per_step"] == pytest.approx(0.1)


def test_learning_by_fifth_weighs_the_shaping_by_partner_coins_taken():
  e = _episodes([(100, 100, 5, 3, 0.0, 0.0), (200, 100, 5, 1, 0.0, 0.0),
                 (1000, 800, 5, 0, 0.0, 0.0)])
  e["shaping_took_partner_coin"] = [1.0, -1.0, float("nan")]   # No take: no mean.
  t = records.learning_by_fifth(e, 1000).set_index("fifth")
  assert t.loc[1, "shaping_took_partner_coin"] == pytest.approx((3 * 1.0 - 1 * 1.0) / 4)
  assert np.isnan(t.loc[5, "shaping_took_partner_coin"])


def test_learning_by_fifth_weighs_own_takes_and_other_steps_by_their_counts():
  # Two players: episode 1 has 2 * 100 player-steps, 8 of them takes, so 192 "otherwise".
  e = _episodes([(100, 100, 5, 3, 0.0, 0.0), (200, 100, 1, 1, 0.0, 0.0),
                 (1000, 800, 0, 0, 0.0, 0.0)])
  e["shaping_took_own_coin"] = [0.5, -1.0, float("nan")]
  e["shaping_otherwise"] = [0.01, -0.02, 0.0]
  t = records.learning_by_fifth(e, 1000).set_index("fifth")
  assert t.loc[1, "shaping_took_own_coin"] == pytest.approx((5 * 0.5 - 1 * 1.0) / 6)
  assert t.loc[1, "shaping_otherwise"] == pytest.approx((192 * 0.01 - 198 * 0.02) / 390)
  assert np.isnan(t.loc[5, "shaping_took_own_coin"])
  assert t.loc[5, "shaping_otherwise"] == 0.0
  assert "shaping_took_partner_coin" not in t  # Only the columns the episodes hold.


def test_margins_pair_seeds_and_subtract_the_baseline():
  good = _episodes([(500, 500, 40, 10, 30.0, 30.0), (1000, 500, 40, 10, 30.0, 30.0)])
  poor = _episodes([(500, 500, 25, 25, 0.0, 0.0), (1000, 500, 20, 30, -10.0, 0.0)])
  fifths = comparison.by_fifth([("reciprocator", 1, good), ("independent", 1, poor),
                                ("independent", 2, poor)], 1000)
  m = comparison.margins(fifths, "reciprocator", "independent")
  assert list(m["seed"]) == [1]                                # Seed 2 has no pair.
  assert m.loc[0, "p_own_coin_margin"] == pytest.approx(0.8 - 0.4)
  assert m.loc[0, "collective_return_per_1000_steps_margin"] == pytest.approx(120 + 20)


def test_margins_carry_the_p_own_standard_error_and_the_seeds_count():
  fifths = pd.DataFrame([
      # agent, seed, fifth 5: 10,000 coins at P(own) 0.6 against 0.5 in seed 1.
      dict(agent="reciprocator", seed=1, fifth=5, steps=100_000, coins_per_step=0.1,
           p_own_coin=0.6, collective_return_per_1000_steps=2.0),
      dict(agent="independent", seed=1, fifth=5, steps=100_000, coins_per_step=0.1,
           p_own_coin=0.5, collective_return_per_1000_steps=1.0),
      dict(agent="reciprocator", seed=2, fifth=5, steps=100_000, coins_per_step=0.1,
           p_own_coin=0.5, collective_return_per_1000_steps=0.0),
      dict(agent="independent", seed=2, fifth=5, steps=100_000, coins_per_step=0.1,
           p_own_coin=0.55, collective_return_per_1000_steps=1.0),
  ])
  m = comparison.margins(fifths, "reciprocator", "independent")
  expected = np.sqrt(0.6 * 0.4 / 10_000 + 0.5 * 0.5 / 10_000)
  assert m.loc[0, "p_own_coin_margin_se"] == pytest.approx(expected)
  s = comparison.seeds_ahead(m).set_index("metric")
  assert s.loc["p_own_coin", "seeds_ahead"] == 1 and s.loc["p_own_coin", "seeds"] == 2
  assert s.loc["p_own_coin", "mean_margin"] == pytest.approx((0.1 - 0.05) / 2)
  assert s.loc["p_own_coin", "margin_se_across_seeds"] == pytest.approx(
      np.std([0.1, -0.05], ddof=1) / np.sqrt(2))
  assert s.loc["collective_return_per_1000_steps", "sign_test_p"] == pytest.approx(0.75)


def test_sign_test_p_is_the_binomial_tail():
  assert comparison.sign_test_p(3, 3) == pytest.approx(0.125)
  assert comparison.sign_test_p(3, 4) == pytest.approx(5 / 16)
  assert comparison.sign_test_p(0, 5) == pytest.approx(1.0)
  assert comparison.sign_test_p(5, 6) == pytest.approx(7 / 64)


def test_seed_mean_curves_average_seeds_on_their_common_steps():
  table = pd.DataFrame({
      "agent": ["r"] * 5 + ["i"] * 2,
      "seed": [1, 1, 1, 2, 2, 1, 1],
      "env_steps": [0, 100, 200, 50, 150, 0, 200],
      "p_own_coin": [0.0, 1.0, 2.0, 0.0, 0.0, 0.5, 0.5],   # r seed 1: steps / 100.
  })
  mean = comparison.seed_mean_curves(table, "p_own_coin", points=3)
  assert set(mean["agent"]) == {"r"}                   # One seed of "i": no mean.
  assert mean["env_steps"].tolist() == pytest.approx([50, 100, 150])   # Both seeds' range.
  assert mean["p_own_coin"].tolist() == pytest.approx([0.25, 0.5, 0.75])


def test_plot_of_more_seeds_than_line_styles_names_each_agents_mean(tmp_path, monkeypatch):
  labels = []
  import matplotlib.axes  # pylint: disable=g-import-not-at-top
  plot_line = matplotlib.axes.Axes.plot
  monkeypatch.setattr(matplotlib.axes.Axes, "plot",
                      lambda self, *a, **k: labels.append(k.get("label")) or plot_line(self, *a, **k))
  seeds = range(len(comparison.SEED_LINE_STYLES) + 1)
  table = pd.DataFrame([dict(agent=agent, seed=s, env_steps=step, p_own_coin=0.5,
                             coins_per_step=0.1, collective_return_per_1000_steps=1.0)
                        for agent in ("reciprocator", "independent") for s in seeds
                        for step in (0, 100)])
  comparison.plot(table, str(tmp_path / "curves.png"), "t")
  named = {label for label in labels if label}
  assert named == {"reciprocator, mean of seeds 0, 1, 2, 3, 4",
                   "independent, mean of seeds 0, 1, 2, 3, 4"}
  assert os.path.getsize(tmp_path / "curves.png") > 0


def test_curves_use_a_trailing_window_of_steps():
  e = _episodes([(100, 100, 10, 0, 1.0, 0.0), (200, 100, 0, 10, 0.0, 0.0),
                 (300, 100, 0, 10, 0.0, 0.0)])
  c = comparison.curves([("independent", 0, e)], window_steps=150)
  # At step 300 the window (150, 300] holds the last two episodes only.
  assert c["p_own_coin"].tolist() == pytest.approx([1.0, 0.5, 0.0])
  assert c["coins_per_step"].iloc[-1] == pytest.approx(0.1)


def test_compare_agents_trains_then_reuses_on_resume(tmp_path):
  cmd = [sys.executable, "-m", "launch.compare_agents", "--agents=independent", "--seeds=0",
         "--num_steps=300", "--episode_step_limit=100", f"--runs_dir={tmp_path}/runs",
         f"--out={tmp_path}/out", "--random_reference_steps=200", "--window_steps=100",
         "--resume", "--train_flags=--num_envs=1"]   # One copy: 3 episodes of 100 steps.
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
  first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert first.returncode == 0, first.stderr[-2000:]
  assert "running:" in first.stdout
  fifths = pd.read_csv(tmp_path / "out" / "fifths.csv")
  assert list(fifths["fifth"]) == [1, 2, 3, 4, 5] and fifths["episodes"].sum() == 3
  readme = open(tmp_path / "out" / "README.md").read()
  assert "python -m launch.compare_agents --agents=independent" in readme
  assert "Uniformly random players (200 steps on the runs' maps)" in readme
  assert os.path.getsize(tmp_path / "out" / "curves.png") > 0
  again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert again.returncode == 0 and "running:" not in again.stdout   # Finished: reused.
  # On a machine without the workdirs, the records archived under --out stand in.
  archived = tmp_path / "out" / "runs" / "coins_independent_s0"
  assert (archived / records.EPISODES_FILE).exists() and (archived / "config.json").exists()
  assert not list(archived.rglob("*ckpt*"))   # Records, never checkpoints.
  shutil.rmtree(tmp_path / "runs")
  moved = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert moved.returncode == 0, moved.stderr[-2000:]
  assert "running:" not in moved.stdout and "reusing: independent seed 0" in moved.stdout
  pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "fifths.csv"), fifths)
  assert np.isfinite(fifths.loc[fifths["episodes"] > 0, "coins_per_step"]).all()


def test_coins_tally_checks_voi_on_the_steps_a_partner_took_my_coin():
  from substrates import metrics  # pylint: disable=g-import-not-at-top
  tally = metrics.CoinsTally()
  voi = np.array([[0.0, -1.5], [-0.5, 0.0]])   # voi[j, i]: j's influence on i.
  # Step 1: player 1 takes player 0's coin (p0 -2 and flagged, p1 +1).
  tally.add(np.array([-2.0, 1.0]), {metrics.MISMATCH: np.array([1.0, 0.0])}, voi)
  # Steps 2-3: nothing happens.
  for _ in range(2):
    tally.add(np.zeros(2), {metrics.MISMATCH: np.zeros(2)}, voi * 0.1)
  out = tally.summary()
  assert out["own_coins_p1"] == 0 and out["other_coins_p1"] == 1
  assert out["voi_partner_took_my_coin"] == pytest.approx(-0.5)     # voi[1, 0] at the loss.
  # Elsewhere: p1's VoI on step 1 (-1.5), then 4 player-steps of 0.1 * voi.
  assert out["voi_otherwise"] == pytest.approx((-1.5 - 0.05 * 2 - 0.15 * 2) / 5)
  assert "voi_otherwise" not in metrics.CoinsTally().summary()     # No VoI given: no check.


def test_coins_tally_splits_the_shaping_by_what_the_player_took():
  from substrates import metrics  # pylint: disable=g-import-not-at-top
  tally = metrics.CoinsTally()
  no_flag = {metrics.MISMATCH: np.zeros(2)}
  # p1 takes p0's coin (p0 flagged): p1's shaping -3 is "took partner's coin"; p0's 0.5
  # (it took nothing) is "otherwise".
  tally.add(np.array([-2.0, 1.0]), {metrics.MISMATCH: np.array([1.0, 0.0])}, None,
            np.array([0.5, -3.0]))
  # p0 takes its own coin (+1, no flag) with shaping 0.25; p1 takes nothing (-0.5).
  tally.add(np.array([1.0, 0.0]), no_flag, None, np.array([0.25, -0.5]))
  out = tally.summary()
  assert out["shaping_took_partner_coin"] == pytest.approx(-3.0)
  assert out["shaping_took_own_coin"] == pytest.approx(0.25)
  assert out["shaping_otherwise"] == pytest.approx((0.5 - 0.5) / 2)
  assert "shaping_otherwise" not in metrics.CoinsTally().summary()  # No shaping given.


def test_steady_state_rate_discards_start_up_and_never_reports_zero_for_late_rows():
  # Start-up: 10 s of tracing with no steps, then 100 steps/s.
  rows = [(float(t), 0) for t in range(0, 10, 2)] + [
      (float(t), 100 * (t - 10)) for t in range(10, 60, 2)]
  assert records.steady_state_rate(rows, warmup_seconds=20, skip_rows=3,
                                   min_rows=5) == pytest.approx(100.0)
  # Actor-process steps not yet reported when the window closes: no rate, not 0.
  late = [(float(t), 0) for t in range(0, 40, 2)]
  assert records.steady_state_rate(late, warmup_seconds=20, skip_rows=3, min_rows=5) is None
  # Reported in one burst at the end: averaged over the window.
  burst = late + [(40.0, 5000)]
  assert records.steady_state_rate(burst, warmup_seconds=20, skip_rows=3,
                                   min_rows=5) == pytest.approx(250.0)
  assert records.steady_state_rate(rows[:6], warmup_seconds=0, skip_rows=3, min_rows=5) is None


def test_rows_with_other_columns_keep_the_files_header(tmp_path):
  """A run resumed by a version that logs other columns: rows still line up."""
  path = str(tmp_path / "episodes.csv")
  records.append_row(path, {"env_steps": 10, "episode": 1, "p_own_coin": 0.5})
  records.append_row(path, {"env_steps": 20, "episode": 2, "p_own_coin": 0.6, "new": 1.0})
  records.append_row(path, {"env_steps": 30, "episode": 3})
  lines = open(path).read().splitlines()
  assert lines == ["env_steps,episode,p_own_coin", "10,1,0.5", "20,2,0.6", "30,3,"]
  assert records.keep_rows(path, lambda row: True) == 0     # None dropped as malformed.


def test_players_by_fifth_keeps_each_players_coins_apart():
  # Budget 1000, one episode in the first fifth: player 0 took 6 own and 2 of player 1's
  # coins, player 1 took 1 own and 3 of player 0's.
  e = pd.DataFrame({"env_steps": [200], "length": [200], "own_coins_p0": [6], "other_coins_p0": [2],
                    "own_coins_p1": [1], "other_coins_p1": [3],
                    "return_p0": [6 + 2 - 2 * 3], "return_p1": [1 + 3 - 2 * 2]})
  t = records.players_by_fifth(e, 1000).set_index(["fifth", "player"])
  assert t.loc[(1, 0), "p_own_coin"] == pytest.approx(6 / 8)
  assert t.loc[(1, 1), "p_own_coin"] == pytest.approx(1 / 4)
  assert t.loc[(1, 0), "coins_per_step"] == pytest.approx(8 / 200)
  assert t.loc[(1, 0), "coins_lost_per_1000_steps"] == pytest.approx(1000 * 3 / 200)
  assert t.loc[(1, 1), "return_per_1000_steps"] == pytest.approx(1000 * 0 / 200)
  assert t.loc[(2, 0), "episodes"] == 0 and len(t) == 10
