"""run_experiment: the single-process loop (modelled on Acme's ``run_experiment``).

E substrate copies stepped by one JointActor, one Reverb server, one JointLearner (a
standard Acme learner per policy group + the influence learner), in one process.
``RunBook`` keeps a run's records (counters, episode rows, progress, checkpoints) for
this loop and for the distributed one alike.
"""

from __future__ import annotations

import collections
import faulthandler
import os
import sys
import time
from typing import Any, Dict, Optional

import numpy as np

from recip_acme.experiments import environment_loop
from recip_acme.experiments import records
from recip_acme.experiments import savers
from recip_acme.experiments.config import ExperimentConfig
from recip_acme.experiments.factories import Agent


class RunBook:
  """The learner process's records: counters, episode rows, progress, checkpoints."""

  def __init__(self, config: ExperimentConfig, workdir: str, agent: Agent, progress,
               checkpoint: savers.RunCheckpoint):
    self.config, self.agent, self.progress, self.checkpoint = config, agent, progress, checkpoint
    self.episodes_csv = os.path.join(workdir, records.EPISODES_FILE)
    self.recent = collections.deque(maxlen=20)
    self.env_steps = int(agent.counter.get_counts().get("env_steps", 0))
    self.steps_at_start = self.env_steps
    self.start_time = self.last_log = self.last_ckpt_time = time.time()
    self.last_ckpt_steps = self.env_steps
    self.actor_processes = set()   # Distributed runs: actor process ids that served requests,
    self.actor_nodes = []     # and the IPs of the nodes the actors run on,
    self.actors_ready_seconds = None   # and seconds from the start until all were built.
    self.stopped_by_time = False   # True when max_seconds ended the run before its budget.
    # The reciprocal weight as last assigned (restored, or set by add_steps): the acting
    # loop reads it every joint step, and an eager variable read there cost ~3 % of a
    # coins run; the variable is written only when w changes (a ramp).
    self._weight = float(agent.builder.reciprocal_weight.numpy())
    # Where a stalled run writes its threads' stacks, and after how long (None: off,
    # by the config or because stderr has no file descriptor to write to).
    self._stall_stream = _file_with_descriptor(sys.stderr, sys.__stderr__)
    minutes = config.stall_report_minutes
    self._stall_seconds = (None if minutes is None or self._stall_stream is None
                           else 60.0 * minutes)
    self._arm_stall_report()

  def _arm_stall_report(self) -> None:
    """(Re)starts the countdown after which a stalled run dumps its threads' stacks."""
    self._armed_at = time.time()
    if self._stall_seconds is not None:
      faulthandler.dump_traceback_later(self._stall_seconds, repeat=False,
                                        file=self._stall_stream)

  def stop_stall_report(self) -> None:
    """The run is over: no stacks for a process that is only closing down."""
    if self._stall_seconds is not None:
      faulthandler.cancel_dump_traceback_later()

  def out_of_time(self, max_seconds: Optional[float]) -> bool:
    """Whether the run has used `max_seconds` (None: no cap); records it if so, so the
    summary tells a run cut by the cap from one that reached its budget."""
    if max_seconds is not None and time.time() - self.start_time > max_seconds:
      self.stopped_by_time = True
    return self.stopped_by_time

  @property
  def episodes_written(self) -> int:
    """Finished episodes counted so far (the rows in episodes.csv)."""
    return int(self.agent.counter.get_counts().get("episodes", 0))

  def add_steps(self, steps: int) -> None:
    if steps:
      self.env_steps += steps
      self.agent.counter.increment(env_steps=steps)
      weight = float(self.config.reciprocator.weight_at(self.env_steps))
      if weight != self._weight:
        self.agent.builder.reciprocal_weight.assign(weight)
        self._weight = weight

  def reciprocal_weight(self) -> float:
    """w as the learners' adapter reads it now."""
    return self._weight

  def count_actor_events(self, restarts: int = 0, recycles: int = 0) -> None:
    """Adds actor restarts after crashes and planned replacements
    (config.actor_recycle_steps) to the run's counter. The checkpoint saves the counter,
    so both totals carry across --resume as env_steps does, and a progress row shows
    the run's totals, not those of the process that wrote it."""
    if restarts or recycles:
      self.agent.counter.increment(actor_restarts=restarts, actor_recycles=recycles)

  @property
  def actor_restarts(self) -> int:
    return int(self.agent.counter.get_counts().get("actor_restarts", 0))

  @property
  def actor_recycles(self) -> int:
    return int(self.agent.counter.get_counts().get("actor_recycles", 0))

  def add_episode(self, row: Dict[str, Any]) -> None:
    episode = self.agent.counter.increment(episodes=1)["episodes"]
    row = {"env_steps": self.env_steps, "episode": episode, **row}
    records.append_row(self.episodes_csv, row)
    self.recent.append(row)

  def periodic(self) -> None:
    """Progress line and checkpoint when due."""
    now = time.time()
    if self._stall_seconds is not None and now - self._armed_at >= min(5.0,
                                                                         self._stall_seconds / 4):
      self._arm_stall_report()   # Re-armed while the loop runs: at most a quarter late.
    if now - self.last_log >= self.config.log_every_seconds:
      self.progress.write(self.summary())
      self.last_log = now
    every = self.config.checkpoint_every_steps
    due_by_steps = every is not None and self.env_steps - self.last_ckpt_steps >= every
    if due_by_steps or now - self.last_ckpt_time >= 60 * self.config.checkpoint_minutes:
      self.checkpoint.save()
      self.last_ckpt_time, self.last_ckpt_steps = now, self.env_steps

  def summary(self) -> Dict[str, Any]:
    row = _progress_row(self.agent.counter, self.agent.learner, self.recent,
                        self.env_steps - self.steps_at_start, time.time() - self.start_time)
    if self.config.num_actors > 1:
      row["actor_restarts"] = self.actor_restarts
      row["actor_recycles"] = self.actor_recycles
      row["actor_processes"] = len(self.actor_processes)
    return row


def _file_with_descriptor(*streams):
  """The first stream with an OS file descriptor (faulthandler writes to one; a test
  runner's captured stderr has none), or None."""
  for stream in streams:
    try:
      stream.fileno()
      return stream
    except (AttributeError, OSError, ValueError):
      continue
  return None


def run_experiment(config: ExperimentConfig, book: RunBook, max_seconds: Optional[float] = None
                   ) -> None:
  """Acts and learns in this process until the step budget (or `max_seconds`) is spent.

  The learner is asked to step every ``learner_period`` joint steps; it steps each
  policy learner that has a batch (JointLearner.step), which is the readiness rule
  the distributed learner uses too.
  """
  agent = book.agent
  learner = agent.learner
  loop = environment_loop.ActingLoop(agent.substrates, agent.actor, config, book.reciprocal_weight,
                    learner.policy_learning_enabled)
  num_envs = len(agent.substrates)
  while book.env_steps < config.num_steps:
    if book.out_of_time(max_seconds):
      break
    rows = loop.step()
    book.add_steps(num_envs)
    for row in rows:
      book.add_episode(row)
    if book.env_steps % (config.learner_period * num_envs) < num_envs:
      learner.step()
    book.periodic()




def policy_fingerprint(networks: builder_lib.ReciprocatorNetworks) -> float:
  """Sum of |w| over every policy network's variables (to compare with a checkpoint)."""
  return float(sum(np.abs(v.numpy()).astype(np.float64).sum()
                   for group in networks.groups for v in group.network.variables))


def _progress_row(counter, learner, recent, new_steps: int, seconds: float) -> Dict[str, Any]:
  counts = counter.get_counts()
  row = {"env_steps": int(counts.get("env_steps", 0)), "episodes": int(counts.get("episodes", 0)),
         "elapsed_seconds": float(seconds),
         "steps_per_second": new_steps / max(seconds, 1e-9),
         "policy_learner_steps": int(np.sum(learner.steps.numpy()))}
  if learner.influence_learner is not None:
    row["influence_fits"] = learner.influence_learner.num_fits
  # Per player and step, so the reciprocal reward the learner adds (w * r_rec) reads
  # on the same scale as the game's reward.
  for key in ("extrinsic_reward_per_step", "abs_extrinsic_reward",
              "abs_weighted_reciprocal_reward"):
    values = [r[key] for r in recent if key in r and np.isfinite(r[key])]
    row[key] = float(np.mean(values)) if values else float("nan")
  for key in ("mean_return", "mean_reciprocal_reward", "p_own_coin"):
    values = [r[key] for r in recent if key in r and np.isfinite(r[key])]
    row[key] = float(np.mean(values)) if values else float("nan")  # Same columns always.
  return row
