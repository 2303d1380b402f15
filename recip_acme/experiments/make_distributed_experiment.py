"""The distributed experiment on Ray: one learner (the driver), K actors (Ray actors).

Acme's own launcher, Launchpad, has no Python 3.11 build; Ray core is the engine here
(after TuragaLab/flybody's Acme-on-Ray agents). The layout follows Acme's
``make_distributed_experiment``: the learner and the actors are built from the same
ExperimentConfig by the same factories.

- The **driver** (this process) owns the Reverb server, the learners, the variable
  publisher, the counters, the logs and the checkpoints. It keeps the step budget:
  it hands each actor requests of ``actor_chunk_steps`` env steps and collects their
  results with ``ray.wait``, so a run ends at exactly its budget however many actors
  come and go.
- Each **actor** is a Ray actor with ``max_restarts``. It gets the Reverb address as
  ``node-ip:port``, writes trajectories and joint experience to Reverb, and reads
  variables back through Acme's ``VariableClient`` (``variables``). Data and
  variables never travel through Ray's object store: a request returns only its step
  count and the rows of the episodes it finished.
- An actor that crashes is restarted by Ray and reseeded (its new seed mixes in its
  restart count and process id, so it does not replay its random stream); the
  request it was serving is handed out again, and its unreported steps and episodes
  are not counted, so counters and the episode rows stay consistent. A lost node's
  actors are placed on another node when the cluster has room.
- With ``actor_recycle_steps``, an actor that has taken that many env steps is replaced
  on purpose: it flushes its writers and exits, and a fresh process (a new seed) takes
  its slot. TensorFlow's per-call memory growth (README, Memory) then stays bounded
  however long the run. The replaced actor's unfinished episodes get no row, as at the
  end of a run; a replacement is not counted as a restart.

Reverb never authenticates, and a ``ray start`` cluster only with ``RAY_AUTH_MODE=token``
(a local Ray started here turns Ray's token authentication on by itself): run them on a
private network (README, "Many actors").
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

from recip_acme.experiments import config as config_lib
from recip_acme.experiments.config import ExperimentConfig, RunError

# Ray's actor restarts per actor; a crash loop beyond this fails the run, as does an
# actor that has not answered a request for ACTOR_RECOVERY_SECONDS after a failure.
MAX_ACTOR_RESTARTS = 5
ACTOR_RECOVERY_SECONDS = 300
# Environment variables for Ray processes started here (telemetry off; no
# Windows/macOS multi-node mode).
RAY_ENVIRONMENT = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


# A local Ray's node address. Ray rewrites 127.0.0.1 to the machine's interface
# address for its agents (traffic would leave loopback); Linux routes all of 127/8 to
# loopback, so another loopback address keeps every Ray process on it.
LOCAL_NODE_IP = "127.0.0.2" if sys.platform.startswith("linux") else "127.0.0.1"


def actor_seed(run_seed: int, index: int, restart: int = 0, generation: int = 0) -> int:
  """Distinct, reproducible sampling seeds per actor; a restarted actor gets a new one,
  and so does each planned replacement (`generation`, config.actor_recycle_steps)."""
  return (int(run_seed) * 1000 + 1 + int(index)) + 7919 * int(restart) + 104729 * int(generation)


class ActorWorker:
  """One distributed actor (the body of a Ray actor; see the module docstring).

  Policy learning opens when the influence learner has fitted its estimators on the
  first ``initial_episodes`` episodes. Actors do not race past that point: once the
  run has written that many episodes, an actor starting a new episode waits for the
  learner to open the gate, so every later episode trains the policies however slow
  the learner is.
  """

  def __init__(self, config_dict: Dict[str, Any], server_address: str, index: int,
               generation: int = 0, variable_update_period: int = 50):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import recip_acme  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    import ray  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from recip_acme.experiments import environment_loop  # pylint: disable=g-import-not-at-top
    from recip_acme.experiments import factories  # pylint: disable=g-import-not-at-top
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    config = config_lib.config_from_dict(config_dict)
    restart = 0
    if ray.get_runtime_context().was_current_actor_reconstructed:
      restart = 1 + os.getpid() % 100_000   # Any stream but the one that crashed.
    self.seed = actor_seed(config.seed, index, restart, generation)
    self._side = factories.build_actor_side(config, server_address, self.seed,
                                            variable_update_period)
    self._initial_episodes = config.reciprocator.influence.initial_episodes
    self._episodes_written = 0   # The run's total, as the driver last said, plus ours.
    self._loop = environment_loop.ActingLoop(
        self._side.substrates, self._side.actor, config, self._reciprocal_weight,
        self._policy_learning_gate, episode_written=self._count_episode)

  def _reciprocal_weight(self) -> float:
    # Read at every step: the variable client updates it from the learner.
    return float(self._side.builder.reciprocal_weight.numpy())

  def _count_episode(self) -> None:
    self._episodes_written += 1

  def _policy_learning_gate(self) -> bool:
    side = self._side
    while not bool(side.policy_learning.numpy()):
      if self._episodes_written < self._initial_episodes:
        return False   # The learner cannot fit yet: act, and do not record for policies.
      time.sleep(0.02)
      side.variable_client.update_and_wait()
    return True

  def run(self, num_steps: int, episodes_written: int
          ) -> Tuple[int, List[Dict[str, Any]], int]:
    """Takes `num_steps` env steps (whole joint steps of its copies); returns the steps
    taken, a row per episode that ended, and this incarnation's process id (a new one
    after every restart: how the driver counts restarts it never saw fail)."""
    self._episodes_written = max(self._episodes_written, int(episodes_written))
    steps, rows = 0, []
    per_step = len(self._side.substrates)
    while steps + per_step <= num_steps:
      rows.extend(self._loop.step())
      steps += per_step
      self._side.variable_client.update()
    return steps, rows, os.getpid()

  def node_ip(self) -> str:
    """The address of the node this actor runs on."""
    import ray  # pylint: disable=g-import-not-at-top
    return ray.util.get_node_ip_address()

  def close(self) -> int:
    """Flushes and releases the writers; returns the process id (see `run`)."""
    self._side.close()
    return os.getpid()


class RestartCounter:
  """Counts actor restarts, each once, however the driver learns of it.

  A restart shows as a failed request (the actor died while serving it) and, later,
  as a new process id in the restarted actor's replies; an actor killed while idle
  shows only the second way. A failure already counted is not counted again when the
  new process id arrives.
  """

  def __init__(self):
    self.restarts = 0
    self._reported = 0
    self._pids: Dict[int, int] = {}
    self._counted_failure: Dict[int, bool] = {}

  def failed(self, k: int) -> None:
    """A request to actor k failed; the caller calls this once per failure episode."""
    self.restarts += 1
    self._counted_failure[k] = True

  def replied(self, k: int, pid: int) -> None:
    known = self._pids.get(k)
    self._pids[k] = pid
    if known is not None and known != pid and not self._counted_failure.get(k):
      self.restarts += 1
    self._counted_failure[k] = False

  def take_new(self) -> int:
    """Restarts counted since the last call, so that each reaches the run's counter once."""
    new, self._reported = self.restarts - self._reported, self.restarts
    return new

  def replaced(self, k: int) -> None:
    """Actor k was replaced on purpose: its next process id is not a restart."""
    self._pids.pop(k, None)
    self._counted_failure[k] = False


def connect(config: ExperimentConfig) -> bool:
  """Joins `config.ray_address`, or starts a local Ray; True if this call started it.

  A Ray already initialised in this process (a test's cluster) is used as it is.
  """
  import ray  # pylint: disable=g-import-not-at-top
  if ray.is_initialized():
    return False
  for key, value in RAY_ENVIRONMENT.items():
    os.environ.setdefault(key, value)
  kwargs: Dict[str, Any] = dict(include_dashboard=False, log_to_driver=True,
                                configure_logging=False)
  try:
    if config.ray_address:
      if config.ray_node_ip:
        kwargs["_node_ip_address"] = config.ray_node_ip
      ray.init(address=config.ray_address, **kwargs)
    else:   # One machine, on loopback: enough CPUs for the actors.
      ray.init(num_cpus=max(config.num_actors, os.cpu_count() or 1),
               _node_ip_address=config.ray_node_ip or LOCAL_NODE_IP,
               _temp_dir=os.environ.get("RAY_TMPDIR"), **kwargs)
  except (ConnectionError, ValueError, RuntimeError) as e:
    where = config.ray_address or "a local Ray"
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise RunError(f"cannot start or join {where} ({first[:200]})") from e
  return True


def reverb_address(port: int) -> str:
  """The learner's Reverb server as actors on any node reach it: node-ip:port."""
  import ray  # pylint: disable=g-import-not-at-top
  return f"{ray.util.get_node_ip_address()}:{port}"


def run_distributed_experiment(config: ExperimentConfig, book, max_seconds: Optional[float] = None,
                               publish_seconds: float = 1.0) -> None:
  """The learner (Ray driver): hands out steps, learns whenever data allows,
  publishes variables, records. `book` is the run's RunBook (run_experiment.py).

  The run ends when the budget is spent and every request has come back, and the
  learner has then learned from everything the actors wrote (a final drain).
  """
  import ray  # pylint: disable=g-import-not-at-top
  agent = book.agent
  learner, publisher = agent.learner, agent.publisher
  agent.policy_learning.assign(learner.policy_learning_enabled())
  publisher.publish()
  started = connect(config)
  remote_worker = ray.remote(ActorWorker).options(
      max_restarts=MAX_ACTOR_RESTARTS, max_task_retries=0, num_cpus=config.actor_cpus,
      resources=dict(config.actor_resources) or None)
  address = reverb_address(agent.server.port)
  config_dict = config_lib.config_to_dict(config)
  workers = [remote_worker.remote(config_dict, address, k) for k in range(config.num_actors)]
  generation = [0] * config.num_actors       # Planned replacements of each actor slot,
  steps_taken = [0] * config.num_actors      # and env steps its current process took.
  per_step = config.reciprocator.num_envs
  chunk = max(per_step, config.actor_chunk_steps // per_step * per_step)
  unissued = config.num_steps - book.env_steps
  pending: Dict[Any, Tuple[int, int]] = {}   # Request -> (actor index, steps asked).
  retry_at: Dict[int, float] = {}   # Actors to ask again once restarted.
  failing_since: Dict[int, float] = {}
  restarts = RestartCounter()

  def issue(k: int) -> None:
    nonlocal unissued
    steps = min(chunk, unissued // per_step * per_step)
    if steps > 0:
      pending[workers[k].run.remote(steps, book.episodes_written)] = (k, steps)
      unissued -= steps

  def recycle(worker, k: int, new_generation: int):
    """A fresh process for actor slot k; the old one flushes its writers and exits.
    Its unfinished episodes are dropped (no row), as at the end of a run."""
    try:
      ray.get(worker.close.remote(), timeout=120)
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
      pass   # Already gone: nothing left to flush.
    ray.kill(worker, no_restart=True)
    return remote_worker.remote(config_dict, address, k, new_generation)

  last_publish, closed = time.time(), False
  try:
    book.actor_nodes = sorted(set(ray.get([w.node_ip.remote() for w in workers])))
    book.actors_ready_seconds = time.time() - book.start_time
    for k in range(len(workers)):
      issue(k)
    while True:
      if book.out_of_time(max_seconds):
        break
      ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0) if pending else ([], [])
      steps_in, rows_in = 0, []
      for k in [k for k, when in retry_at.items() if when <= time.time()]:
        del retry_at[k]
        issue(k)
      for ref in ready:
        k, asked = pending.pop(ref)
        try:
          steps, rows, pid = ray.get(ref)
        except ray.exceptions.RayActorError as e:   # Crashed or restarting: Ray restarts it.
          if k not in failing_since:
            failing_since[k] = time.time()
            restarts.failed(k)
          elif time.time() - failing_since[k] > ACTOR_RECOVERY_SECONDS:
            raise RunError(f"actor {k} has not recovered in {ACTOR_RECOVERY_SECONDS} s: "
                           f"{str(e).strip().splitlines()[0][:200]}") from e
          unissued += asked   # Its steps were not counted: hand them out again, soon.
          retry_at[k] = time.time() + 0.5
          continue
        except ray.exceptions.RayTaskError as e:   # An error in our code: say it.
          cause = e.cause if getattr(e, "cause", None) is not None else e
          last = (str(cause).strip().splitlines() or [type(cause).__name__])[-1]
          raise RunError(f"actor {k} failed: {type(cause).__name__}: {last[:300]}") from e
        failing_since.pop(k, None)
        restarts.replied(k, pid)
        book.actor_processes.add(pid)
        steps_in += steps
        rows_in.extend(dict(row, actor=k) for row in rows)
        steps_taken[k] += steps
        if (config.actor_recycle_steps and steps_taken[k] >= config.actor_recycle_steps
            and unissued >= per_step):   # No fresh process for a slot with nothing left.
          workers[k] = recycle(workers[k], k, generation[k] + 1)
          generation[k] += 1
          steps_taken[k] = 0
          restarts.replaced(k)
          book.count_actor_events(recycles=1)
        issue(k)
      book.add_steps(steps_in)
      for row in rows_in:
        book.add_episode(row)
      did = learner.step()
      agent.policy_learning.assign(learner.policy_learning_enabled())
      if did["influence_fit"] or (did["policy_steps"]
                                  and time.time() - last_publish >= publish_seconds):
        publisher.publish()
        last_publish = time.time()
      busy = steps_in or rows_in or did["policy_steps"] or did["influence_fit"]
      if not pending and not retry_at and not closed and unissued < per_step:
        # Budget spent: actors flush their writers, then the learner drains the rest.
        for k, pid in enumerate(ray.get([worker.close.remote() for worker in workers],
                                        timeout=120)):
          restarts.replied(k, pid)
        closed = busy = True
      if closed and not busy:
        break
      if not busy:
        time.sleep(0.02)   # Idle: nothing arrived and no learner had data.
      book.count_actor_events(restarts=restarts.take_new())
      book.periodic()
  finally:
    book.count_actor_events(restarts=restarts.take_new())
    for worker in workers:
      ray.kill(worker, no_restart=True)
    if started:
      ray.shutdown()
