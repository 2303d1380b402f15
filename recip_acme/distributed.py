"""Several actor processes feeding one Reverb server, without Launchpad (--num_actors > 1).

Acme's distributed agents wire actors to learners with Launchpad, which has no build
for Python 3.11. Here the learner process owns the Reverb server, and each actor
process builds its own substrate copies and joint actor, writes trajectories and joint
experience to that server over gRPC, and reads the learners' variables back from it:

  learner process --VariablePublisher--> Reverb table "variables" (one slot: newest)
  actor process k <-- acme.tf.variable_utils.VariableClient(ReverbVariableSource)

So the variable path is Acme's own client over a ``core.VariableSource`` that happens
to be a Reverb table. Actors report environment steps and finished episodes through a
multiprocessing queue; the learner process owns counters, CSV logs and checkpoints.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_lib
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np
import reverb
import tensorflow as tf
from acme import core

VARIABLES_TABLE = "variables"


def _key(name: str, k: int) -> str:
  return f"{name}/{k:05d}"


def variables_table(variables: Mapping[str, Sequence[tf.Variable]],
                    name: str = VARIABLES_TABLE) -> reverb.Table:
  """A one-slot table that always serves the newest published set of variables."""
  signature = {_key(group, k): tf.TensorSpec([1] + v.shape.as_list(), v.dtype)
               for group, values in variables.items() for k, v in enumerate(values)}
  return reverb.Table(name=name, sampler=reverb.selectors.Lifo(),
                      remover=reverb.selectors.Fifo(), max_size=1,
                      rate_limiter=reverb.rate_limiters.MinSize(1), signature=signature)


class VariablePublisher:
  """Learner side: writes the current values of named variable groups as one item."""

  def __init__(self, client: reverb.Client, variables: Mapping[str, Sequence[tf.Variable]],
               table: str = VARIABLES_TABLE):
    self._client = client
    self._variables = {group: list(values) for group, values in variables.items()}
    self._table = table

  def publish(self) -> None:
    item = {_key(group, k): v.numpy()
            for group, values in self._variables.items() for k, v in enumerate(values)}
    with self._client.trajectory_writer(num_keep_alive_refs=1) as writer:
      writer.append(item)
      writer.create_item(self._table, 1.0, {k: writer.history[k][-1:] for k in item})
      writer.flush()


class ReverbVariableSource(core.VariableSource):
  """Actor side: Acme's ``VariableSource`` read from the publisher's table.

  ``layout`` maps each group name to its number of variables (the publisher's
  order, which is the order the same network construction gives in every process).
  """

  def __init__(self, client: reverb.Client, layout: Mapping[str, int],
               table: str = VARIABLES_TABLE):
    self._client = client
    self._layout = dict(layout)
    self._table = table

  def get_variables(self, names: Sequence[str]) -> List[List[np.ndarray]]:
    unknown = [n for n in names if n not in self._layout]
    if unknown:
      raise ValueError(f"unknown variable groups {unknown}; published: {sorted(self._layout)}")
    [steps] = list(self._client.sample(self._table, num_samples=1,
                                       unpack_as_table_signature=True))
    data = steps[0].data
    return [[np.asarray(data[_key(n, k)]) for k in range(self._layout[n])] for n in names]


# -- Actor processes -------------------------------------------------------------

class ActorError(RuntimeError):
  """An actor process failed; the message is its last error line."""


class StepBudget:
  """Environment steps shared by all actor processes: each claims its steps before
  taking them, so a run stops at its --num_steps however busy the learner is."""

  def __init__(self, context, limit: int):
    self._taken = context.Value("q", 0)
    self.limit = int(limit)

  def claim(self, steps: int) -> bool:
    with self._taken.get_lock():
      if self._taken.value + steps > self.limit:
        return False
      self._taken.value += steps
      return True


class SharedCount:
  """A counter shared by the actor processes (episodes written so far)."""

  def __init__(self, context):
    self._value = context.Value("q", 0)

  def increment(self) -> None:
    with self._value.get_lock():
      self._value.value += 1

  @property
  def value(self) -> int:
    return int(self._value.value)


def exit_with_parent(parent_pid: int, period: float = 0.5) -> threading.Thread:
  """Ends this process soon after `parent_pid` is gone.

  Why: `daemon=True` only stops actor processes when the learner process exits
  normally. After `kill -9` of the learner they would live on, blocked on a server
  that no longer exists, holding CPU, memory and the parent's output pipes (a caller
  waiting for that output would wait forever). Polling the parent id works on every
  POSIX system, unlike Linux's PR_SET_PDEATHSIG.
  """

  def watch():
    while os.getppid() == parent_pid:
      time.sleep(period)
    os._exit(3)  # pylint: disable=protected-access

  thread = threading.Thread(target=watch, name="exit_with_parent", daemon=True)
  thread.start()
  return thread


def _actor_main(actor_body: Callable[..., None], config_dict: Dict[str, Any],
                server_address: str, index: int, stop, budget: StepBudget, reports,
                variable_update_period: int, episodes_written: SharedCount,
                parent_pid: int) -> None:
  """Entry point of one actor process (spawned: a fresh interpreter and TF runtime).

  `actor_body` is the run loop's own actor function, passed in (and pickled by its
  name) so that this module does not import the run loop that imports it.
  """
  exit_with_parent(parent_pid)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  try:
    import recip_acme  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    actor_body(config_dict, server_address, index, stop, budget, reports,
               variable_update_period, episodes_written)
  except Exception as e:  # pylint: disable=broad-except
    last = (str(e).strip().splitlines() or [type(e).__name__])[-1]
    reports.put(("error", index, f"{type(e).__name__}: {last[:300]}"))
    raise SystemExit(1) from e


class ActorPool:
  """Starts, watches and stops the actor processes of one run."""

  def __init__(self, actor_body: Callable[..., None], config_dict: Dict[str, Any],
               server_address: str, num_actors: int, step_budget: int,
               variable_update_period: int = 50):
    context = multiprocessing.get_context("spawn")
    self._stop = context.Event()
    self._budget = StepBudget(context, step_budget)
    self._reports = context.Queue()
    self._episodes_written = SharedCount(context)
    self._processes = [
        context.Process(target=_actor_main, name=f"recip_acme_actor_{k}", daemon=True,
                        args=(actor_body, config_dict, server_address, k, self._stop,
                              self._budget,
                              self._reports, variable_update_period,
                              self._episodes_written, os.getpid()))
        for k in range(num_actors)]

  def start(self) -> None:
    for p in self._processes:
      p.start()

  def all_exited(self) -> bool:
    """True once every actor has ended cleanly: none can claim more steps (the budget
    is used up, or what is left is smaller than one step of its environments), and
    each has flushed its data and put its last report on the queue."""
    return all(p.exitcode == 0 for p in self._processes)

  def poll(self, timeout: float = 0.0) -> Tuple[int, List[Dict[str, Any]]]:
    """(environment steps reported, finished-episode rows) since the last poll.

    Raises ActorError when an actor reported an error or died.
    """
    steps, rows = 0, []
    block = timeout > 0
    while True:
      try:
        message = self._reports.get(block=block, timeout=timeout if block else None)
      except queue_lib.Empty:
        break
      block = False   # After the first message, only drain what is already queued.
      kind, index = message[0], message[1]
      if kind == "steps":
        steps += message[2]
      elif kind == "episode":
        rows.append(dict(message[2], actor=index))
      elif kind == "error":
        raise ActorError(f"actor process {index} failed: {message[2]}")
    for k, p in enumerate(self._processes):
      if p.exitcode not in (None, 0):
        raise ActorError(f"actor process {k} exited with code {p.exitcode}")
    return steps, rows

  def stop(self, timeout: float = 20.0) -> None:
    """Asks every actor to finish its step and flush; ends any that do not."""
    self._stop.set()
    deadline = time.time() + timeout
    for p in self._processes:
      if p.pid is None:
        continue
      p.join(max(deadline - time.time(), 0.1))
      if p.is_alive():   # E.g. blocked on a full queue table: nothing is lost by ending it.
        p.terminate()
        p.join(5)
    try:
      while True:
        self._reports.get_nowait()
    except (queue_lib.Empty, OSError, ValueError):
      pass


def report_steps(reports, index: int, steps: int) -> None:
  reports.put(("steps", index, int(steps)))


def report_episode(reports, index: int, row: Dict[str, Any]) -> None:
  reports.put(("episode", index, row))


def actor_seed(run_seed: int, index: int) -> int:
  """Distinct, reproducible sampling seeds per actor process."""
  return int(run_seed) * 1000 + 1 + int(index)
