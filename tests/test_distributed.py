"""Actor processes feeding one Reverb server (--num_actors > 1), without Launchpad."""

import csv
import dataclasses
import subprocess
import sys
import time

import numpy as np
import pytest
import reverb
import tensorflow as tf
from acme.tf import variable_utils

from recip_acme import distributed
from recip_acme import training

ROOT = __file__.rsplit("/tests/", 1)[0]


def _variables(seed):
  rng = np.random.default_rng(seed)
  return {"policy": [tf.Variable(rng.normal(size=(3, 4)).astype(np.float32)),
                     tf.Variable(rng.normal(size=(4,)).astype(np.float32))],
          "control": [tf.Variable(0.25), tf.Variable(False)]}


def test_acme_variable_client_copies_the_newest_published_variables():
  learner_side, actor_side = _variables(0), _variables(1)
  server = reverb.Server([distributed.variables_table(learner_side)], port=None)
  try:
    client = reverb.Client(f"localhost:{server.port}")
    publisher = distributed.VariablePublisher(client, learner_side)
    publisher.publish()
    learner_side["policy"][0].assign_add(tf.ones((3, 4)))   # A learner step.
    learner_side["control"][1].assign(True)
    publisher.publish()                                       # Replaces the first item.
    assert client.server_info()[distributed.VARIABLES_TABLE].current_size == 1

    source = distributed.ReverbVariableSource(client, {k: len(v) for k, v in actor_side.items()})
    variable_utils.VariableClient(source, actor_side).update_and_wait()
    for group in learner_side:
      for mine, theirs in zip(actor_side[group], learner_side[group]):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    with pytest.raises(ValueError, match="unknown variable groups"):
      source.get_variables(["nope"])
  finally:
    server.stop()


def test_step_budget_is_shared_and_never_exceeded():
  import multiprocessing
  budget = distributed.StepBudget(multiprocessing.get_context("spawn"), 10)
  assert budget.claim(4) and budget.claim(4)
  assert not budget.claim(4)      # 12 > 10: refused, nothing taken.
  assert budget.claim(2)
  assert not budget.claim(1)


def _two_actor_config(num_steps):
  config = training.default_config("coins", "reciprocator", "impala", num_steps=num_steps,
                                   num_actors=2, log_every_seconds=1e9)
  config.adapter = dataclasses.replace(config.adapter, episode_step_limit=100)
  config.impala.sequence_length = 10
  config.impala.batch_size = 4
  config.reciprocator.influence.batch_size = 256
  config.reciprocator.influence.samples_per_epoch = 512
  config.reciprocator.influence.epochs = 1
  return config


def test_two_actor_processes_train_to_the_step_budget_and_resume(tmp_path):
  workdir = str(tmp_path / "run")
  summary = training.train(_two_actor_config(1200), workdir, verbose=False)
  assert summary["env_steps"] == 1200          # Exactly the budget, however busy the learner.
  assert summary["policy_learner_steps"] > 0   # Learners stepped on the actors' data.
  assert summary["influence_fits"] > 0
  with open(f"{workdir}/episodes.csv") as f:
    rows = list(csv.DictReader(f))
  assert {r["actor"] for r in rows} == {"0", "1"}
  assert [int(r["episode"]) for r in rows] == list(range(1, len(rows) + 1))
  assert all(int(r["length"]) == 100 for r in rows)

  config = training.load_run_config(workdir)
  assert config.num_actors == 2
  # 1,601 is not a multiple of --num_envs (2): the last step is never claimed. The run
  # must still end when the actors have (it used to wait for it until max_seconds).
  config.num_steps = 1601
  start = time.time()
  resumed = training.train(config, workdir, resume=True, verbose=False, max_seconds=120)
  assert time.time() - start < 100, "the run waited for a step no actor can take"
  assert resumed["resumed_env_steps"] == 1200
  assert resumed["env_steps"] == 1600
  assert resumed["policy_learner_steps"] > summary["policy_learner_steps"]


def test_a_failing_actor_process_is_one_clear_error():
  config = _two_actor_config(100)
  config_dict = training.config_to_dict(config)
  config_dict["substrate"] = "no_such_substrate"
  pool = distributed.ActorPool(training.actor_process_main, config_dict, "localhost:1",
                               num_actors=1, step_budget=100)
  pool.start()
  try:
    with pytest.raises(distributed.ActorError, match="actor process 0 failed: .*no_such_substrate"):
      for _ in range(120):
        pool.poll(timeout=1.0)
  finally:
    pool.stop()


def test_cli_accepts_num_actors_and_rejects_zero():
  result = subprocess.run([sys.executable, "-m", "launch.train", "--num_actors=0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert "flag --num_actors=0: out of range; allowed: an integer >= 1" in result.stderr.strip().splitlines()[-1]
