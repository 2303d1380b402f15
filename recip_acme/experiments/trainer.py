"""train(): one run in a workdir, started or resumed, on either path.

Everything a run writes goes to its workdir:

  config.json                 the ExperimentConfig (resume reuses it)
  episodes.csv                one row per finished episode
  logs/progress/logs.csv      periodic progress (Acme CSV logger)
  tensorboard/                the same, as TensorBoard summaries
  checkpoints/run/            policies, estimators, optimisers, counters

``num_actors == 1`` runs ``run_experiment`` (one process); ``num_actors > 1`` runs the
distributed experiment on Ray (``make_distributed_experiment``). ``resume`` restores
the last checkpoint, counters included. Replay contents are not checkpointed: after a
resume the tables refill before learners step again.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

import tensorflow as tf
from acme.utils import loggers
from acme.utils.loggers import tf_summary

from recip_acme import guards
from recip_acme.experiments import checkpointing
from recip_acme.experiments import config as config_lib
from recip_acme.experiments import factories
from recip_acme.experiments import make_distributed_experiment
from recip_acme.experiments import records
from recip_acme.experiments import run_loop as run_lib
from recip_acme.experiments import savers
from recip_acme.experiments.config import ExperimentConfig, RunError


def train(config: ExperimentConfig, workdir: str, resume: bool = False, verbose: bool = True,
          max_seconds: Optional[float] = None) -> Dict[str, Any]:
  """Trains until config.num_steps environment steps; returns a summary.

  On resume, the newest readable checkpoint is restored (counters, weights,
  optimisers) and the run's records are cut back to it before anything is written.
  A NaN or inf stops the run with a RunError naming it; the checkpoint on disk is
  then the last good one.
  """
  config.validate()
  workdir = os.path.abspath(os.path.expanduser(workdir))
  config_path = os.path.join(workdir, records.CONFIG_FILE)
  if resume and not checkpointing.has_checkpoint(workdir):
    if not os.path.exists(config_path):
      raise RunError(f"--resume: no checkpoint in {checkpointing.checkpoint_dir(workdir)}")
    # Killed before its first checkpoint: there is nothing to continue, and starting
    # again is what the user asked for. Its records are cut below.
    print(f"--resume: the run in {workdir} stopped before its first checkpoint; "
          "starting it again from step 0", flush=True)
    resume = False
  elif not resume and checkpointing.has_checkpoint(workdir):
    raise RunError(f"{workdir} already holds a run; pass --resume to continue it, or "
                   "choose another --workdir (nothing was overwritten)")
  if not resume:
    # Rows left by a run that never checkpointed would otherwise be numbered again.
    records.rewind(workdir, episodes=0, env_steps=0)
  try:
    os.makedirs(workdir, exist_ok=True)
    with open(config_path, "w") as f:
      json.dump(config_lib.config_to_dict(config), f, indent=1)
  except OSError as e:
    raise RunError(f"cannot write the run directory {workdir} ({e.strerror or e})") from e

  multi = config.num_actors > 1
  agent = factories.build_agent(config, with_actor=not multi)
  # The actors' sampling seed (single process) is checkpointed so that a resumed run
  # continues its stream; actor processes derive theirs from the run's seed.
  actor_seed = (agent.actor.random_state if agent.actor is not None
                else tf.Variable([config.seed, 0], dtype=tf.int64, trainable=False))
  checkpoint = savers.RunCheckpoint(workdir, savers.checkpointed_state(agent, actor_seed),
                                    working_copies=savers.working_copies(agent))
  resumed = {}
  if resume:
    try:
      path = checkpoint.restore()
    except RunError:
      agent.close()
      raise
    agent.learner.rebase_on_new_server()
    counts = agent.counter.get_counts()
    dropped = records.rewind(workdir, int(counts.get("episodes", 0)),
                             int(counts.get("env_steps", 0)))
    resumed = {"resumed_from": path,
               "resumed_env_steps": int(counts.get("env_steps", 0)),
               "resumed_policy_fingerprint": run_lib.policy_fingerprint(agent.networks),
               "rows_dropped_on_resume": dropped}
    for note in checkpoint.notes:
      print(f"warning: {note}", flush=True)
    if verbose:
      print(f"resumed from {path} at {resumed['resumed_env_steps']} env steps "
            f"({dropped[records.EPISODES_FILE]} episode rows after it dropped)")

  progress = loggers.Dispatcher([
      loggers.CSVLogger(workdir, label="progress", add_uid=False),
      tf_summary.TFSummaryLogger(os.path.join(workdir, "tensorboard"), label="progress"),
  ] + ([loggers.TerminalLogger("progress", print_fn=print)] if verbose else []))
  book = run_lib.RunBook(config, workdir, agent, progress, checkpoint)
  save_at_end = True
  try:
    if multi:
      make_distributed_experiment.run_distributed_experiment(config, book, max_seconds)
    else:
      run_lib.run_experiment(config, book, max_seconds)
  except guards.NonFiniteError as e:
    save_at_end = False
    raise RunError(f"{e} after {book.env_steps} env steps: the run stopped without saving; "
                   f"the last good checkpoint is {checkpoint.latest}") from e
  finally:
    book.stop_stall_report()
    try:
      path = checkpoint.save() if save_at_end else checkpoint.latest
    except guards.NonFiniteError as e:
      path = checkpoint.latest
      raise RunError(f"{e} after {book.env_steps} env steps: the run stopped without saving; "
                     f"the last good checkpoint is {path}") from e
    finally:
      agent.close()
  summary = book.summary()
  if verbose:
    progress.write(summary)
  progress.close()
  summary["checkpoint"] = path
  # Whether `max_seconds` cut the run short (a run that reached its budget says False):
  # how a caller tells a finished run from one that waited for a step no actor takes.
  summary["stopped_by_time"] = book.stopped_by_time
  if book.actor_nodes:
    summary["actor_nodes"] = book.actor_nodes
    summary["actors_ready_seconds"] = book.actors_ready_seconds
  summary.update(resumed)
  if summary["policy_learner_steps"] == 0:
    print("warning: no policy learner took a step in this run (too few env steps for a "
          "batch after the estimators' first fit?); the policies are untrained", flush=True)
  return summary


