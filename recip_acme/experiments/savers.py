"""The run's checkpoint: one tf.train.CheckpointManager over everything a run holds.

What a checkpoint holds (README, "Checkpoints"): the learners' state (networks,
optimisers, step counts), the estimators, the counters, the reciprocal weight, the
actors' sampling seed and the running reward scale. Paths are in ``checkpointing``
(which does not import TensorFlow).
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Optional, Sequence

import tensorflow as tf
from acme.tf import savers as tf2_savers
from acme.utils import counting

from recip_acme import guards
from recip_acme.experiments import checkpointing
from recip_acme.experiments.config import RunError


class RunCheckpoint:
  """tf.train.CheckpointManager over the run's state, with one-line errors.

  ``restore`` falls back from a damaged newest checkpoint to the newest readable one
  and moves the damaged files aside (``checkpoints/damaged/``), never deleting them.
  ``save`` refuses state holding a NaN or inf, so the newest checkpoint on disk is
  always the last good one.

  ``working_copies``: objects that keep a checkpointed variable's value in Python
  between saves (``commit()`` writes it back, ``reload()`` drops it); see
  ``working_copies`` below.
  """

  def __init__(self, workdir: str, objects: Dict[str, Any], max_to_keep: int = 2,
               working_copies: Sequence[Any] = ()):
    self.directory = checkpointing.checkpoint_dir(workdir)
    self._working_copies = list(working_copies)
    self._max_to_keep = max_to_keep
    self._variables = {f"{key}/{v.name}": v for key, obj in objects.items()
                       for v in guards.variables_of(obj)}
    objects = {k: tf2_savers.SaveableAdapter(v) if isinstance(v, counting.Counter) else v
               for k, v in objects.items()}
    self._checkpoint = tf.train.Checkpoint(**objects)
    self._manager = tf.train.CheckpointManager(self._checkpoint, self.directory, max_to_keep)
    self.notes: List[str] = []

  def _restore_one(self, path: str, partial: bool) -> None:
    try:
      tf.train.load_checkpoint(path)
      status = self._checkpoint.restore(path)
      if partial:   # A subset of the run's objects (tools reading a run's weights).
        status.expect_partial().assert_existing_objects_matched()
      else:
        # Every object of the run must be filled now: a value left for later (lazily
        # created variables) would be read after the file may have been rotated away.
        status.assert_consumed()
    except (tf.errors.OpError, AssertionError, ValueError, IndexError, OSError) as e:
      first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      raise RunError(f"unreadable or mismatched checkpoint {path} ({first[:200]})") from e

  def restore(self, partial: bool = False) -> str:
    """Restores the newest readable checkpoint; returns its path (see class doc).

    `partial=True` accepts a checkpoint holding more than this object set.
    """
    candidates = list(reversed(self._manager.checkpoints))
    if not candidates:
      raise RunError(f"--resume: no checkpoint in {self.directory}")
    damaged = []
    for path in candidates:
      try:
        self._restore_one(path, partial)
      except RunError as e:
        damaged.append((path, str(e)))
        continue
      for copy in self._working_copies:
        copy.reload()
      if damaged:
        self._set_aside([p for p, _ in damaged], keep=[c for c in candidates
                                                      if c not in dict(damaged)])
        self.notes.append(f"newest checkpoint {damaged[0][0]} is damaged ({damaged[0][1]}); "
                          f"resumed from {path}; damaged files moved to {self.damaged_dir}")
      return path
    raise RunError(f"--resume: no readable checkpoint in {self.directory}; newest: "
                   f"{damaged[0][1]}")

  @property
  def damaged_dir(self) -> str:
    return os.path.join(os.path.dirname(self.directory), "damaged")

  def _set_aside(self, damaged: Sequence[str], keep: Sequence[str]) -> None:
    """Moves damaged checkpoints' files out of the manager's way, keeping them."""
    target = os.path.join(self.damaged_dir, time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(target, exist_ok=True)
    for path in damaged:
      for f in tf.io.gfile.glob(path + ".*"):
        os.replace(f, os.path.join(target, os.path.basename(f)))
    keep = list(reversed(keep))  # Oldest first, as the manager lists them.
    tf.compat.v1.train.update_checkpoint_state(
        self.directory, keep[-1], all_model_checkpoint_paths=keep)
    self._manager = tf.train.CheckpointManager(self._checkpoint, self.directory,
                                               self._max_to_keep)

  def save(self) -> str:
    """Writes a checkpoint, unless the state holds a NaN or inf (then raises)."""
    for copy in self._working_copies:
      copy.commit()
    bad = guards.first_non_finite(self._variables)
    if bad is not None:
      raise guards.NonFiniteError(f"value in variable {bad}", "run state (not saved)")
    return self._manager.save()

  @property
  def latest(self) -> Optional[str]:
    return self._manager.latest_checkpoint



def checkpointed_state(agent: "factories.Agent", actor_seed: tf.Variable) -> Dict[str, Any]:
  """Everything a run's checkpoint holds, by name (see README, "Checkpoints")."""
  state = {**agent.learner.state, "counter": agent.counter,
           "reciprocal_weight": agent.builder.reciprocal_weight, "actor_seed": actor_seed}
  if agent.actor is not None and agent.actor.reward_scale is not None:
    state["reciprocal_scale"] = agent.actor.reward_scale.state
  return state


def working_copies(agent: "factories.Agent") -> List[Any]:
  """The objects of `checkpointed_state` that update a Python copy of their variable
  at every step and write it back only when a checkpoint is saved (the reward scale:
  an eager variable read and write per step cost ~12 % of a coins run)."""
  if agent.actor is not None and agent.actor.reward_scale is not None:
    return [agent.actor.reward_scale]
  return []
