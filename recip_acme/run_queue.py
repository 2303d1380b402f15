"""Experiments made of several `launch.train` runs: start, continue or reuse each one.

An experiment here (the reward-scale diagnostic, a multi-seed agent comparison) is a
list of training runs, each in its own workdir and process, a few at a time. Runs take
tens of minutes and a session may stop at any time, so the same command must pick up
where it stopped: a finished run (its records reach the step budget) is reused, a killed
one is continued with `launch.train --resume` (which rewinds its records to the
checkpoint), and a run that never checkpointed starts afresh.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from typing import List, Optional, Sequence

from recip_acme.experiments import checkpointing
from recip_acme.experiments import records


class RunQueueError(RuntimeError):
  """A run failed or a workdir cannot be used; the message is one line."""


def progress_steps(workdir: str) -> int:
  """env_steps of the run's last progress row (0 if none). A run writes one when it
  ends, so a finished run's reaches its budget."""
  import csv  # pylint: disable=g-import-not-at-top
  path = os.path.join(workdir, records.PROGRESS_FILE)
  if not os.path.exists(path):
    return 0
  with open(path) as f:
    steps = [float(r["env_steps"]) for r in csv.DictReader(f) if r.get("env_steps")]
  return int(max(steps)) if steps else 0


def steps_reached(workdir: str) -> int:
  """How far a run (finished or not) has got: its last progress row or its last episode
  row, whichever is later (Acme's CSV logger writes progress rows to disk in bunches,
  while episode rows are written as episodes end)."""
  last_episode = 0
  path = os.path.join(workdir, records.EPISODES_FILE)
  if os.path.exists(path):
    with open(path) as f:
      next(f, None)
      for line in f:
        head = line.split(",", 1)[0]
        if head.isdigit():
          last_episode = int(head)
  return max(progress_steps(workdir), last_episode)


@dataclasses.dataclass
class Run:
  """One training run of an experiment: its workdir and the flags of a fresh start."""
  name: str
  workdir: str
  num_steps: int
  train_flags: Sequence[str]

  def command(self, resume: bool) -> Optional[List[str]]:
    """The launch.train command that brings this run to its budget (None: it is there).

    Without `resume`, a workdir that already holds a run is refused rather than reused
    silently, so two experiments never mix their runs by accident.
    """
    base = [sys.executable, "-m", "launch.train", f"--workdir={self.workdir}",
            f"--num_steps={self.num_steps}", "--log_every_seconds=60"]
    if checkpointing.has_checkpoint(self.workdir):
      if not resume:
        raise RunQueueError(f"{self.workdir} already holds a run; pass --resume to "
                            "continue or reuse it")
      if progress_steps(self.workdir) >= self.num_steps:
        return None
      return base + ["--resume"]
    return base + list(self.train_flags)


def run_all(runs: Sequence[Run], parallel: int, resume: bool, poll_seconds: float = 5.0) -> None:
  """Brings every run to its budget, `parallel` processes at a time; logs to WORKDIR.log.

  Raises RunQueueError on the first run that fails, naming it and its log (the other
  runs are stopped; every one of them can be continued with resume=True).
  """
  pending = []
  for run in runs:
    cmd = run.command(resume)
    if cmd is not None:
      pending.append((run, cmd))
  running = []
  try:
    while pending or running:
      while pending and len(running) < parallel:
        run, cmd = pending.pop(0)
        os.makedirs(os.path.dirname(os.path.abspath(run.workdir)), exist_ok=True)
        log = open(run.workdir + ".log", "a")
        print("running:", " ".join(cmd), flush=True)
        running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log, run))
      time.sleep(poll_seconds)
      for job in list(running):
        proc, log, run = job
        if proc.poll() is None:
          continue
        log.close()
        running.remove(job)
        if proc.returncode != 0:
          raise RunQueueError(f"run {run.name} failed (exit {proc.returncode}); see "
                              f"{run.workdir}.log, then rerun with --resume")
  finally:
    for proc, log, _ in running:
      proc.terminate()
      proc.wait()
      log.close()
