"""A killed, crashed or damaged run loses nothing and says what went wrong.

Kill tests SIGKILL real `launch.train` processes (one process, and --num_actors=2)
after a checkpoint, resume them twice, and check the budget, the exit status and the
records. The rest pins each cause found: lazily restored optimiser slots, records
that disagreed with the checkpoint, the multi-process policy-learning race,
non-finite values, and damaged checkpoints.
"""

import csv
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from recip_acme import guards
from recip_acme.experiments import records
from recip_acme import experiments
from recip_acme.influence import learning as influence_learning
from substrates import melting_pot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def _episode_rows(workdir):
  with open(os.path.join(workdir, "episodes.csv")) as f:
    return list(csv.DictReader(f))


def _checkpoint_numbers(workdir):
  return sorted(int(re.search(r"ckpt-(\d+)\.index$", p).group(1))
                for p in glob.glob(os.path.join(workdir, "checkpoints/run/ckpt-*.index")))


def _start(workdir, extra):
  cmd = [sys.executable, "-m", "launch.train", f"--workdir={workdir}", *extra]
  return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, **ENV), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _kill_after_new_checkpoint(proc, workdir, newer_than, timeout=400):
  deadline = time.time() + timeout
  try:
    while time.time() < deadline:
      numbers = _checkpoint_numbers(workdir)
      if numbers and numbers[-1] > newer_than:
        break
      assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read()[-1500:]
      time.sleep(0.5)
    else:
      pytest.fail("no new checkpoint in time")
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=150)   # Also waits for any process that shares its pipes.
  return _checkpoint_numbers(workdir)[-1]


@pytest.mark.parametrize("num_actors,recycle_steps,extra", [
    pytest.param(1, 0, [], id="one_process"),
    # The learner-side reward with the partner's influence removed (an actor extra and
    # a dataset transform): its setting survives the resumes, as every setting must.
    pytest.param(1, 0, ["--counterfactual=marginal", "--subtract_partner_influence"],
                 id="one_process_partner_influence"),
    # A partner pool (more policy groups than slots, each with its optimiser): every
    # group survives the resumes, and every row still names its pairing.
    pytest.param(1, 0, ["--naive_partners", "--num_envs=3"], id="one_process_partner_pool"),
    pytest.param(2, 0, [], id="two_actors"),
    # Each actor process replaced after one request (--actor_recycle_steps equal to the
    # default 400-step actor_chunk_steps): kills land between and during replacements,
    # and the records must stay as whole. The first replacement comes before the run's
    # first checkpoint, so the count is in every checkpoint wherever the kills land.
    pytest.param(2, 400, [], id="two_actors_recycled")])
def test_kill_and_resume_twice_ends_at_the_budget_with_one_row_per_episode(
    tmp_path, num_actors, recycle_steps, extra, ray_tmpdir):
  workdir = str(tmp_path / "run")
  budget = 4000
  flags = [f"--num_steps={budget}", "--checkpoint_every_steps=400", "--episode_step_limit=100",
           "--num_envs=2", "--unroll_length=10", "--log_every_seconds=2",
           f"--num_actors={num_actors}", *extra]
  if recycle_steps:
    flags.append(f"--actor_recycle_steps={recycle_steps}")
  # A joint step advances every copy: the run ends at the first multiple of num_envs at
  # or past the budget (the last --num_envs given wins).
  num_envs = int([f for f in flags if f.startswith("--num_envs=")][-1].split("=")[1])
  end = -(-budget // num_envs) * num_envs
  last = _kill_after_new_checkpoint(_start(workdir, flags), workdir, newer_than=1)
  # First resume, killed again after it has written a checkpoint of its own.
  last = _kill_after_new_checkpoint(_start(workdir, ["--resume"]), workdir, newer_than=last)
  proc = _start(workdir, ["--resume"])
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-2000:]
  assert "Traceback" not in err
  assert re.search(rf"done: {end} env steps", out), out[-1000:]
  rows = _episode_rows(workdir)
  assert [int(r["episode"]) for r in rows] == list(range(1, len(rows) + 1))
  steps = [int(r["env_steps"]) for r in rows]
  assert steps == sorted(steps) and steps[-1] <= end
  assert len(rows) >= budget // 100 - 2 * num_actors * 2   # Episodes after the last kill.
  with open(os.path.join(workdir, records.PROGRESS_FILE)) as f:
    progress_rows = list(csv.DictReader(f))
  progress = [float(r["env_steps"]) for r in progress_rows]
  assert progress == sorted(progress)
  if recycle_steps:   # The setting survived both resumes, and actors were replaced.
    assert experiments.load_run_config(workdir).actor_recycle_steps == recycle_steps
    # The count is the run's (a checkpointed counter), so it never falls at a resume.
    recycles = [int(float(r["actor_recycles"])) for r in progress_rows]
    assert recycles == sorted(recycles) and recycles[-1] >= 1, recycles
  if "--naive_partners" in extra:
    assert experiments.load_run_config(workdir).reciprocator.naive_partners
    assert {r["pairing"] for r in rows} == {"R-R", "N-R", "R-N"}
  if "--subtract_partner_influence" in extra:
    config = experiments.load_run_config(workdir)
    assert config.reciprocator.subtract_partner_influence
    assert config.reciprocator.influence.counterfactual == "marginal"
    assert all(r["controlled_reward_std"] not in ("", "nan") for r in rows)


# -- Checkpoints hold everything, and restore it at once ---------------------------

def _small(num_steps, **overrides):
  config = experiments.default_config("coins", "reciprocator", "impala", num_steps=num_steps,
                                   log_every_seconds=1e9, **overrides)
  config.adapter = melting_pot.AdapterConfig(episode_step_limit=50)
  config.impala.sequence_length = 5
  config.impala.batch_size = 2
  config.reciprocator.num_envs = 1
  config.reciprocator.influence.batch_size = 64
  config.reciprocator.influence.epochs = 1
  config.reciprocator.influence.samples_per_epoch = 128
  config.learner_period = 1
  return config


def test_checkpoint_holds_every_optimiser_slot_and_restore_fills_them_at_once(tmp_path):
  workdir = str(tmp_path)
  summary = experiments.train(_small(300), workdir, verbose=False)
  assert summary["policy_learner_steps"] > 0 and summary["influence_fits"] > 0
  names = tf.train.load_checkpoint(summary["checkpoint"]).get_variable_to_shape_map()
  assert any(n.startswith("group0_optimizer/m/") for n in names)
  assert any(n.startswith("group1_optimizer/m/") for n in names)
  # Keras Adam: its iteration count, then two moments per estimator variable.
  assert sum(n.startswith("influence_optimizer/_variables/") for n in names) > 10

  agent = experiments.build_agent(_small(300))
  try:
    checkpoint = experiments.RunCheckpoint(
        workdir, experiments.checkpointed_state(agent, agent.actor.random_state))
    checkpoint.restore()   # assert_consumed inside: nothing is left for later.
    m = agent.learner.state["group0_optimizer"].m[0].numpy()
    reader = tf.train.load_checkpoint(summary["checkpoint"])
    saved = [n for n in names if n.startswith("group0_optimizer/m/0/")][0]
    np.testing.assert_array_equal(m, reader.get_tensor(saved))
    assert np.abs(m).sum() > 0
  finally:
    agent.close()


def test_the_reward_scale_statistics_are_saved_with_the_run_and_restored(tmp_path):
  """The actor updates the reward scale's statistics in a NumPy copy at every joint
  step and writes them into the checkpointed variable only when a checkpoint is saved
  (savers.working_copies): the saved count must be every joint step of the run, and a
  restore must replace whatever copy the actor held."""
  from recip_acme import reciprocal  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path)
  config = _small(300, reciprocal_scale="extrinsic_rms")
  summary = experiments.train(config, workdir, verbose=False)
  saved = tf.train.load_checkpoint(summary["checkpoint"]).get_tensor(
      "reciprocal_scale/.ATTRIBUTES/VARIABLE_VALUE")
  assert saved[0] == 300                     # One update per joint step (num_envs=1).
  agent = experiments.build_agent(config)
  try:
    scale = agent.actor.reward_scale
    assert isinstance(scale, reciprocal.ExtrinsicScale)
    scale.update(np.ones(2), np.ones(2))     # A copy the restore must discard.
    checkpoint = experiments.RunCheckpoint(
        workdir, experiments.checkpointed_state(agent, agent.actor.random_state),
        working_copies=experiments.working_copies(agent))
    checkpoint.restore()
    expected = reciprocal.ExtrinsicScale(1, statistic="rms")
    expected.state.assign(saved)
    assert scale.factor() == expected.factor() > 0
    scale.update(np.zeros(2), np.zeros(2))
    checkpoint.save()
    reader = tf.train.load_checkpoint(checkpoint.latest)
    assert reader.get_tensor("reciprocal_scale/.ATTRIBUTES/VARIABLE_VALUE")[0] == 301
  finally:
    agent.close()


def test_resume_refits_the_estimators_on_the_new_servers_episodes(tmp_path):
  workdir = str(tmp_path)
  first = experiments.train(_small(200), workdir, verbose=False)
  config = experiments.load_run_config(workdir)
  config.num_steps = 400
  again = experiments.train(config, workdir, resume=True, verbose=False)
  # 4 new episodes of 50 steps: the estimators refit on them (refit_every=1), and did
  # not wait for the new server to see as many episodes as the whole first run.
  assert again["influence_fits"] > first["influence_fits"]
  rows = _episode_rows(workdir)
  assert [int(r["episode"]) for r in rows] == list(range(1, 9))


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it_again(tmp_path, capsys):
  workdir = str(tmp_path)
  with pytest.raises(experiments.RunError, match="--resume: no checkpoint in"):
    experiments.train(_small(100), workdir, resume=True, verbose=False)   # Not a run.
  experiments.train(_small(100), workdir, verbose=False)
  shutil.rmtree(os.path.join(workdir, "checkpoints"))   # As if killed before it saved.
  assert len(_episode_rows(workdir)) == 2
  summary = experiments.train(experiments.load_run_config(workdir), workdir, resume=True,
                              verbose=False)
  assert "stopped before its first checkpoint" in capsys.readouterr().out
  assert summary["env_steps"] == 100 and "resumed_from" not in summary
  # The killed run's rows are gone, not numbered twice.
  assert [int(r["episode"]) for r in _episode_rows(workdir)] == [1, 2]


def test_damaged_newest_checkpoint_falls_back_and_is_kept_aside(tmp_path, capsys):
  workdir = str(tmp_path)
  experiments.train(_small(300, checkpoint_every_steps=100), workdir, verbose=False)
  numbers = _checkpoint_numbers(workdir)
  assert len(numbers) == 2
  newest = os.path.join(workdir, f"checkpoints/run/ckpt-{numbers[-1]}")
  for f in glob.glob(newest + ".data-*"):
    with open(f, "r+b") as out:
      out.truncate(16)
  config = experiments.load_run_config(workdir)
  config.num_steps = 350
  summary = experiments.train(config, workdir, resume=True, verbose=False)
  assert summary["resumed_from"].endswith(f"ckpt-{numbers[0]}")
  assert f"ckpt-{numbers[-1]}" in capsys.readouterr().out   # Says which one was damaged.
  kept = glob.glob(os.path.join(workdir, "checkpoints/damaged/*/ckpt-*"))
  assert {os.path.basename(k).split(".")[0] for k in kept} == {f"ckpt-{numbers[-1]}"}
  assert summary["env_steps"] == 350
  rows = _episode_rows(workdir)
  assert [int(r["episode"]) for r in rows] == list(range(1, len(rows) + 1))


# -- Records agree with the checkpoint ------------------------------------------------

def test_rewind_keeps_complete_rows_up_to_the_checkpoint(tmp_path):
  path = str(tmp_path / "episodes.csv")
  with open(path, "w") as f:
    f.write("env_steps,episode,x\n100,1,a\n200,2,b\n300,3,c\n400,4,d\n5")  # Cut mid-row.
  os.makedirs(tmp_path / "logs" / "progress")
  with open(tmp_path / records.PROGRESS_FILE, "w") as f:
    f.write("env_steps,episodes\n150,1\n250,2\n350,3\n")
  dropped = records.rewind(str(tmp_path), episodes=2, env_steps=250)
  assert open(path).read() == "env_steps,episode,x\n100,1,a\n200,2,b\n"
  assert open(tmp_path / records.PROGRESS_FILE).read() == "env_steps,episodes\n150,1\n250,2\n"
  assert dropped == {records.EPISODES_FILE: 2, records.PROGRESS_FILE: 1}


# -- Non-finite values stop the run; the checkpoint stays the last good one -------------

def test_nan_reward_stops_the_run_in_one_line_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch):
  workdir = str(tmp_path)
  experiments.train(_small(200), workdir, verbose=False)
  good = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints/run"))
  real_step = melting_pot.MeltingPotSubstrate.step
  calls = {"n": 0}

  def step_with_nan(self, actions):
    timestep = real_step(self, actions)
    calls["n"] += 1
    if calls["n"] == 30:
      timestep = timestep._replace(rewards=np.full_like(timestep.rewards, np.nan))
    return timestep

  monkeypatch.setattr(melting_pot.MeltingPotSubstrate, "step", step_with_nan)
  config = experiments.load_run_config(workdir)
  config.num_steps = 400
  with pytest.raises(experiments.RunError) as error:
    experiments.train(config, workdir, resume=True, verbose=False)
  message = str(error.value)
  assert "non-finite extrinsic reward" in message and "after 229 env steps" in message
  assert "\n" not in message and good in message
  assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints/run")) == good


def test_a_checkpoint_with_nan_weights_is_never_written(tmp_path):
  weights = tf.Variable([1.0, 2.0])
  checkpoint = experiments.RunCheckpoint(str(tmp_path), {"weights": weights})
  first = checkpoint.save()
  weights.assign([1.0, np.nan])
  with pytest.raises(guards.NonFiniteError, match="weights"):
    checkpoint.save()
  assert checkpoint.latest == first


def test_learner_logger_refuses_a_nan_loss_naming_the_learner_and_step():
  logger = guards.FiniteLogger("policy learner of group 1")
  logger.write({"loss": np.float32(0.5), "steps": 3})
  with pytest.raises(guards.NonFiniteError,
                     match="non-finite loss in the policy learner of group 1 at its step 4"):
    logger.write({"loss": tf.constant(np.inf), "steps": 4})


# -- The multi-process policy-learning race ------------------------------------------------

def test_actors_wait_for_a_slow_first_fit_instead_of_spending_the_budget(tmp_path, monkeypatch,
                                                                        ray_tmpdir):
  real_step = influence_learning.InfluenceLearner.step

  def slow_first_fit(self):
    if self.num_fits == 0:
      time.sleep(20)   # A learner starved of CPU: the actors could finish meanwhile.
    real_step(self)

  monkeypatch.setattr(influence_learning.InfluenceLearner, "step", slow_first_fit)
  config = experiments.default_config("coins", "reciprocator", "impala", num_steps=1200,
                                   num_actors=2, log_every_seconds=1e9)
  config.adapter = melting_pot.AdapterConfig(episode_step_limit=100)
  config.impala.sequence_length = 10
  config.impala.batch_size = 4
  config.reciprocator.influence.batch_size = 256
  config.reciprocator.influence.samples_per_epoch = 512
  config.reciprocator.influence.epochs = 1
  summary = experiments.train(config, str(tmp_path), verbose=False)
  assert summary["env_steps"] == 1200
  assert summary["policy_learner_steps"] > 0


def test_a_stalled_run_writes_its_threads_stacks_once_and_then_finishes(tmp_path):
  """A run whose loop stops coming round (here: one learner step that sleeps 9 s, with a
  3 s stall limit) writes where every thread is, so a hang explains itself in the log;
  the run itself goes on. (A slow start-up under load may add a dump of its own.)"""
  script = textwrap.dedent(f"""
      import sys, time
      import recip_acme
      from recip_acme import experiments
      from recip_acme.agents.reciprocator import learning
      from tests.test_reliability import _small
      config = _small(60, stall_report_minutes=0.05)
      original, calls = learning.JointLearner.step, [0]
      def step_that_stalls_once(self):
        calls[0] += 1
        if calls[0] == 5:
          time.sleep(9.0)
        return original(self)
      learning.JointLearner.step = step_that_stalls_once
      experiments.train(config, {str(tmp_path)!r}, verbose=False)
      print("finished", flush=True)
  """)
  result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ, **ENV),
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "finished" in result.stdout
  assert "Timeout (0:00:03)!" in result.stderr, result.stderr[-3000:]
  dumps = result.stderr.split("Timeout (")[1:]
  assert any("step_that_stalls_once" in d and "run_experiment" in d for d in dumps), dumps


def test_a_stall_limit_that_is_not_positive_is_a_one_line_error():
  with pytest.raises(experiments.RunError, match="stall_report_minutes must be > 0") as info:
    _small(10, stall_report_minutes=0.0).validate()
  assert "\n" not in str(info.value)
