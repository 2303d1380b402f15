"""Distributed training on Ray (--num_actors > 1): actors feeding one Reverb server.

Network rule: loopback only. Nodes get loopback aliases (127.0.0.2, 127.0.0.3); Ray
runs from ``ray.cluster_utils.Cluster`` with its own temp dir and is shut down, so no
process outlives a test.
"""

import csv
import os
import signal
import threading
import dataclasses
import subprocess
import sys
import time

import numpy as np
import pytest
import reverb
import tensorflow as tf
from acme.tf import variable_utils

from recip_acme import experiments
from tests.conftest import ray_processes
from recip_acme.experiments import make_distributed_experiment as distributed_lib
from recip_acme.experiments import variables as variables_lib

ROOT = __file__.rsplit("/tests/", 1)[0]


def _variables(seed):
  rng = np.random.default_rng(seed)
  return {"policy": [tf.Variable(rng.normal(size=(3, 4)).astype(np.float32)),
                     tf.Variable(rng.normal(size=(4,)).astype(np.float32))],
          "control": [tf.Variable(0.25), tf.Variable(False)]}


def test_acme_variable_client_copies_the_newest_published_variables():
  learner_side, actor_side = _variables(0), _variables(1)
  server = reverb.Server([variables_lib.variables_table(learner_side)], port=None)
  try:
    client = reverb.Client(f"localhost:{server.port}")
    publisher = variables_lib.VariablePublisher(client, learner_side)
    publisher.publish()
    learner_side["policy"][0].assign_add(tf.ones((3, 4)))   # A learner step.
    learner_side["control"][1].assign(True)
    publisher.publish()                                       # Replaces the first item.
    assert client.server_info()[variables_lib.VARIABLES_TABLE].current_size == 1

    source = variables_lib.ReverbVariableSource(client, {k: len(v) for k, v in actor_side.items()})
    variable_utils.VariableClient(source, actor_side).update_and_wait()
    for group in learner_side:
      for mine, theirs in zip(actor_side[group], learner_side[group]):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    with pytest.raises(ValueError, match="unknown variable groups"):
      source.get_variables(["nope"])
  finally:
    server.stop()


def test_actor_seeds_are_distinct_and_a_restart_gets_a_new_stream():
  seeds = {distributed_lib.actor_seed(7, k) for k in range(4)}
  assert len(seeds) == 4
  assert distributed_lib.actor_seed(7, 0, restart=1) not in seeds | {distributed_lib.actor_seed(8, 0)}


def _two_actor_config(num_steps):
  config = experiments.default_config("coins", "reciprocator", "impala", num_steps=num_steps,
                                      num_actors=2, log_every_seconds=1e9)
  config.adapter = dataclasses.replace(config.adapter, episode_step_limit=100)
  config.impala.sequence_length = 10
  config.impala.batch_size = 4
  config.reciprocator.influence.batch_size = 256
  config.reciprocator.influence.samples_per_epoch = 512
  config.reciprocator.influence.epochs = 1
  config.actor_chunk_steps = 100
  # Both actors on the worker node, which alone has this resource.
  config.actor_resources = {"actor_node": 1.0}
  config.actor_cpus = 0.5
  return config


@pytest.fixture
def two_node_cluster(ray_tmpdir):
  """A head (the driver's node) and a worker node with 1 CPU each, on loopback aliases."""
  import ray
  from ray import cluster_utils
  cluster = cluster_utils.Cluster(
      initialize_head=True,
      head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.2",
                      "object_store_memory": 80 * 1024 * 1024, "include_dashboard": False})
  worker = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.3",
                            resources={"actor_node": 2.0},
                            object_store_memory=80 * 1024 * 1024)
  try:
    ray.init(address=cluster.address, _node_ip_address="127.0.0.2")
    yield cluster, worker
  finally:
    ray.shutdown()
    cluster.shutdown()


def _rows(workdir):
  with open(f"{workdir}/episodes.csv") as f:
    return list(csv.DictReader(f))


def test_two_node_ray_cluster_trains_to_the_step_budget_and_resumes(tmp_path, two_node_cluster):
  workdir = str(tmp_path / "run")
  summary = experiments.train(_two_actor_config(1200), workdir, verbose=False)
  assert summary["env_steps"] == 1200          # Exactly the budget, however busy the learner.
  assert summary["policy_learner_steps"] > 0   # Learners stepped on the actors' data.
  assert summary["influence_fits"] > 0
  assert summary["actor_nodes"] == ["127.0.0.3"]   # Actors ran on the worker node.
  assert 0 < summary["actors_ready_seconds"] < 600
  rows = _rows(workdir)
  assert {r["actor"] for r in rows} == {"0", "1"}
  assert [int(r["episode"]) for r in rows] == list(range(1, len(rows) + 1))
  assert all(int(r["length"]) == 100 for r in rows)
  assert len(rows) == summary["episodes"]       # One row per counted episode.

  config = experiments.load_run_config(workdir)
  assert config.num_actors == 2
  # 1,601 is not a multiple of num_envs (2): the last step is never handed out, and
  # the run still ends.
  config.num_steps = 1601
  # A generous time cap: a run that waits for a step no actor can take is cut by it
  # (stopped_by_time) instead of hanging the suite; wall time itself is not asserted.
  resumed = experiments.train(config, workdir, resume=True, verbose=False, max_seconds=600)
  assert not resumed["stopped_by_time"], "the run waited for a step no actor can take"
  assert resumed["resumed_env_steps"] == 1200
  assert resumed["env_steps"] == 1600
  assert resumed["policy_learner_steps"] > summary["policy_learner_steps"]


def _actor_pids():
  return [p.pid for p in ray_processes("ActorWorker")]


def test_a_killed_actor_is_restarted_and_the_run_ends_at_its_budget(tmp_path, two_node_cluster):
  workdir = str(tmp_path / "run")
  killed = []

  def kill_one_actor_after_the_first_episode():
    deadline = time.time() + 240
    while time.time() < deadline and not killed:
      if os.path.exists(f"{workdir}/episodes.csv") and _actor_pids():
        pid = _actor_pids()[0]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
      time.sleep(0.2)

  killer = threading.Thread(target=kill_one_actor_after_the_first_episode, daemon=True)
  killer.start()
  # A budget long enough that the restarted actor serves requests after the kill (an
  # actor killed while idle is counted from its new process id; RestartCounter).
  summary = experiments.train(_two_actor_config(6000), workdir, verbose=False)
  killer.join(5)
  assert killed, "no actor was killed: the test did not test anything"
  assert summary["actor_restarts"] >= 1
  assert summary["env_steps"] == 6000
  rows = _rows(workdir)
  assert [int(r["episode"]) for r in rows] == list(range(1, len(rows) + 1))
  assert len(rows) == summary["episodes"]
  assert summary["policy_learner_steps"] > 0


def test_tensorflow_reverb_and_ray_import_together_in_every_order():
  import itertools
  for order in itertools.permutations(["tensorflow", "reverb", "ray"]):
    code = "; ".join(f"import {m}" for m in order) + "; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (order, result.stderr[-500:])


def test_cli_accepts_num_actors_and_rejects_zero():
  result = subprocess.run([sys.executable, "-m", "launch.train", "--num_actors=0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert "flag --num_actors=0: out of range; allowed: an integer >= 1" in result.stderr.strip().splitlines()[-1]


def test_restarts_are_counted_once_whether_seen_failing_or_only_by_a_new_process():
  counter = distributed_lib.RestartCounter()
  counter.replied(0, 100)
  counter.replied(1, 200)
  counter.failed(0)            # Killed while serving a request...
  counter.replied(0, 101)      # ...and its new process replies: one restart, not two.
  counter.replied(1, 201)      # Killed while idle: seen only as a new process.
  counter.replied(1, 201)
  counter.replied(0, 101)
  assert counter.restarts == 2
  counter.failed(1)            # A failure whose actor was not restarted still counts...
  counter.replied(1, 201)
  counter.replied(1, 202)      # ...and a later idle restart is counted too.
  assert counter.restarts == 4
  # The run's counter gets each restart once: all four, then only the new one.
  assert counter.take_new() == 4 and counter.take_new() == 0
  counter.failed(0)
  assert counter.take_new() == 1 and counter.restarts == 5


def test_a_replaced_actor_is_not_counted_as_restarted_and_gets_a_new_seed():
  counter = distributed_lib.RestartCounter()
  counter.replied(0, 100)
  counter.replaced(0)          # Planned: the next process id is expected.
  counter.replied(0, 300)
  assert counter.restarts == 0
  counter.replied(0, 301)      # A new process that was not planned is a restart.
  assert counter.restarts == 1
  seeds = {distributed_lib.actor_seed(7, k, generation=g) for k in range(4) for g in range(3)}
  assert len(seeds) == 12
  assert distributed_lib.actor_seed(7, 0, restart=1) not in seeds


def test_actors_are_replaced_after_their_step_quota_and_the_records_stay_whole(
    tmp_path, two_node_cluster):
  workdir = str(tmp_path / "run")
  config = _two_actor_config(1200)
  config.actor_recycle_steps = 300   # 3 requests of 100 steps per actor process.
  summary = experiments.train(config, workdir, verbose=False, max_seconds=600)
  assert not summary["stopped_by_time"]
  assert summary["env_steps"] == 1200
  # 12 requests, at most 3 per process: at least 4 processes, so at least 2 replacements.
  assert summary["actor_recycles"] >= 2
  assert summary["actor_restarts"] == 0               # Planned, not crashes.
  assert summary["actor_processes"] == 2 + summary["actor_recycles"]   # Fresh processes.
  rows = _rows(workdir)
  assert [int(r["episode"]) for r in rows] == list(range(1, len(rows) + 1))
  assert len(rows) == summary["episodes"]
  assert all(int(r["length"]) == 100 for r in rows)
  assert summary["policy_learner_steps"] > 0


def test_actor_recycling_is_refused_without_separate_actor_processes():
  config = _two_actor_config(100)
  config.actor_recycle_steps = 0
  with pytest.raises(experiments.RunError, match="actor_recycle_steps must be > 0"):
    config.validate()
  config.actor_recycle_steps, config.num_actors = 500, 1
  with pytest.raises(experiments.RunError, match="needs num_actors > 1"):
    config.validate()
