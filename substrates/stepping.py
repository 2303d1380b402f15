"""Who steps an actor's E substrate copies: this process, one child process, or both
(half each, side by side: SplitSubstrates).

Why a child process: the substrate (Melting Pot's step and our adapter's conversion)
is about 35-50 % of a joint actor's time and holds the GIL (dmlab2d does not release
it: two threads stepping copies ran 0.47x as fast as one,
`benchmarks/substrate_threads.py`), while the other big part,
the Reverb writes of the previous step, is Python and C++ on the actor's own thread.
In a child process the copies step on the other core while the actor writes; the
actor's loop (`recip_acme.experiments.environment_loop`) asks for the step
(`step_async`), writes, then collects it (`step_wait`).

Both kinds build their copies with `melting_pot.seeded_copies` (the same maps for a
seed) and answer an episode's end with an immediate reset (tests/test_stepping.py).
Neither is bit-reproducible: two builds of Melting Pot copies with one seed can differ
in their first observations, in one process as across two.

This module imports Melting Pot only inside functions: the child imports this module
(its entry point) before it can import the modules that make Melting Pot's own imports
work (``preload``: the caller's stack set-up, e.g. Acme's on Python 3.11).
"""

from __future__ import annotations

import dataclasses
import importlib
from multiprocessing import connection as mp_connection
import socket
import subprocess
import sys
import traceback
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple, Union

import numpy as np

if TYPE_CHECKING:
  from substrates import melting_pot

# One copy's outcome: the step's timestep and, when it ended an episode, the first
# timestep of the next one (the copy was reset at once).
StepOutcome = Tuple["melting_pot.JointTimeStep", Optional["melting_pot.JointTimeStep"]]


class LocalSubstrates:
  """The copies stepped in this process, when `step_wait` is called (the child of a
  SubstrateWorker steps its copies with one of these too)."""

  def __init__(self, envs: Sequence["melting_pot.MeltingPotSubstrate"]):
    self.envs = list(envs)
    self._actions: Optional[np.ndarray] = None

  def __len__(self) -> int:
    return len(self.envs)

  def reset_all(self) -> List["melting_pot.JointTimeStep"]:
    return [env.reset() for env in self.envs]

  def step_async(self, actions: np.ndarray) -> None:
    self._actions = actions

  def step_wait(self) -> List[StepOutcome]:
    actions, self._actions = self._actions, None
    outcomes = []
    for env, action in zip(self.envs, actions):
      timestep = env.step(action)
      outcomes.append((timestep, env.reset() if timestep.last() else None))
    return outcomes

  def close(self) -> None:
    """The copies belong to the agent that built them (Agent.close closes them)."""


def _serve(connection) -> None:
  """The child: reads its set-up, builds the copies, then answers ("reset",) and
  ("step", actions) until ("close",) or until the parent is gone (its end of the
  socket closes, even when it was killed)."""
  try:
    preload, name, config, count, seed, skip = connection.recv()
    for module in preload:
      importlib.import_module(module)
    from substrates import melting_pot  # pylint: disable=g-import-not-at-top,redefined-outer-name
    built = melting_pot.seeded_copies(name, melting_pot.AdapterConfig(**config),
                                      skip + count, seed)
    for env in built[:skip]:   # Built only so that the rest get their seed's maps.
      env.close()
    copies = LocalSubstrates(built[skip:])
  except EOFError:
    return
  except Exception as e:  # pylint: disable=broad-except
    connection.send(("error", f"{type(e).__name__}: {e}"))
    return
  connection.send(("ready", None))
  try:
    while True:
      try:
        message = connection.recv()
      except (EOFError, OSError):
        break
      if message[0] == "close":
        break
      try:
        if message[0] == "reset":
          reply = copies.reset_all()
        else:
          copies.step_async(message[1])
          reply = copies.step_wait()
        connection.send(("ok", reply))
      except Exception:  # pylint: disable=broad-except
        connection.send(("error", traceback.format_exc(limit=3)))
  finally:
    for env in copies.envs:
      env.close()


def _child_main(fd: int) -> None:
  """The child process's entry point (see SubstrateWorker)."""
  _serve(mp_connection.Connection(fd))


class SubstrateWorker:
  """The copies stepped in one child process (see the module docstring).

  The child is a fresh interpreter (`subprocess`, not a fork: TensorFlow's threads
  do not survive one; not multiprocessing's "spawn" either, which re-imports the
  caller's main script) joined by a socket pair. It exits when this process dies,
  even by kill -9: its end of the socket closes. ``preload`` names modules the child
  imports before Melting Pot (module docstring). ``skip``: the child steps copies
  skip .. skip + count - 1 of the seed's copies (`melting_pot.seeded_copies`), so that
  a SplitSubstrates plays the same maps as one process would.
  """

  def __init__(self, name: str, config: "melting_pot.AdapterConfig", count: int, seed: int,
               preload: Sequence[str] = (), start_timeout: float = 300.0, skip: int = 0):
    parent_socket, child_socket = socket.socketpair()
    code = (f"import sys; sys.path[:0] = {[p for p in sys.path if p]!r}; "
            f"from substrates import stepping; stepping._child_main({child_socket.fileno()})")
    self._process = subprocess.Popen([sys.executable, "-c", code],
                                     pass_fds=(child_socket.fileno(),))
    child_socket.close()
    self._connection = mp_connection.Connection(parent_socket.detach())
    self._count = count
    self._waiting = False
    # The config goes as a dict: unpickling the dataclass would import Melting Pot in
    # the child before `preload` has run.
    self._connection.send((tuple(preload), name, dataclasses.asdict(config), count, seed,
                           skip))
    if not self._connection.poll(start_timeout):
      self.close()
      raise RuntimeError(f"the substrate worker did not build {count} copies of {name!r} "
                         f"within {start_timeout:.0f} s")
    status, detail = self._receive()
    if status != "ready":
      self.close()
      raise ValueError(detail)

  def __len__(self) -> int:
    return self._count

  def _receive(self):
    try:
      return self._connection.recv()
    except (EOFError, OSError) as e:
      raise RuntimeError(f"the substrate worker (pid {self._process.pid}) has stopped "
                         f"(exit code {self._process.poll()})") from e

  def _reply(self):
    status, payload = self._receive()
    if status != "ok":
      raise RuntimeError(f"the substrate worker failed: {payload}")
    return payload

  def reset_all(self) -> List["melting_pot.JointTimeStep"]:
    self._connection.send(("reset",))
    return self._reply()

  def step_async(self, actions: np.ndarray) -> None:
    self._connection.send(("step", np.asarray(actions)))
    self._waiting = True

  def step_wait(self) -> List[StepOutcome]:
    self._waiting = False
    return self._reply()

  @property
  def pid(self) -> int:
    return self._process.pid

  def alive(self) -> bool:
    return self._process.poll() is None

  def close(self) -> None:
    """Stops the child (it closes its copies); idempotent."""
    if self.alive() and not self._connection.closed:
      try:
        if self._waiting:
          self._receive()
        self._connection.send(("close",))
      except (RuntimeError, OSError):
        pass
      try:
        self._process.wait(timeout=10)
      except subprocess.TimeoutExpired:
        self._process.kill()
        self._process.wait(timeout=5)
    if not self._connection.closed:
      self._connection.close()
    self._process.poll()


class SplitSubstrates:
  """The first copies stepped in this process, the rest in a child at the same time.

  Why: the substrate holds the GIL and is the largest part of an actor's step, so on
  two cores the copies themselves are what to run side by side. `step_async` sends the
  child its actions; `step_wait` steps the local copies, then collects the child's
  (the acting loop's writes of the previous step run in between, as with a worker).
  """

  def __init__(self, local: LocalSubstrates, worker: SubstrateWorker):
    self.local = local
    self.worker = worker

  def __len__(self) -> int:
    return len(self.local) + len(self.worker)

  def reset_all(self) -> List["melting_pot.JointTimeStep"]:
    return self.local.reset_all() + self.worker.reset_all()

  def step_async(self, actions: np.ndarray) -> None:
    self.worker.step_async(actions[len(self.local):])
    self.local.step_async(actions[:len(self.local)])

  def step_wait(self) -> List[StepOutcome]:
    return self.local.step_wait() + self.worker.step_wait()

  @property
  def pid(self) -> int:
    return self.worker.pid

  def alive(self) -> bool:
    return self.worker.alive()

  def close(self) -> None:
    """Stops the child; the local copies belong to the agent (as LocalSubstrates)."""
    self.worker.close()


# What an acting loop steps its copies with.
Substrates = Union[LocalSubstrates, SubstrateWorker, SplitSubstrates]
