"""Where a run's checkpoint lives, and whether it has one, without importing TensorFlow.

One definition for the run loop (resume or refuse) and for experiment schedulers
(continue, reuse or start a run), which must not pay TensorFlow's import to decide.
"""

from __future__ import annotations

import os
import re

_LATEST = re.compile(r'^model_checkpoint_path:\s*"(.+)"\s*$', re.MULTILINE)


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(workdir, "checkpoints", "run")


def latest_checkpoint(workdir: str) -> str | None:
  """The newest complete checkpoint's prefix, as tf.train.latest_checkpoint finds it.

  TensorFlow's state file names the newest checkpoint; it counts only if its index
  file was written (a save killed before that leaves the previous one as the newest).
  """
  directory = checkpoint_dir(workdir)
  try:
    with open(os.path.join(directory, "checkpoint")) as f:
      match = _LATEST.search(f.read())
  except OSError:
    return None
  if match is None:
    return None
  prefix = os.path.join(directory, match.group(1))
  return prefix if os.path.exists(prefix + ".index") else None


def has_checkpoint(workdir: str) -> bool:
  return latest_checkpoint(workdir) is not None
