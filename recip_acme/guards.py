"""Stopping a run at the first NaN or inf, before it reaches a checkpoint.

A non-finite loss, reward, VoI or influence balance poisons every later update, and a
checkpoint written after it would make ``--resume`` continue from garbage. So:
- the acting loop checks each step's rewards, VoI, reciprocal rewards and balances;
- each wrapped Acme learner's logger is a ``FiniteLogger``: Acme's learners write
  their losses to it after every step, so a NaN loss is seen at the step it appears,
  without touching the learner's code;
- the influence learner checks its losses;
- ``all_finite`` is asked before every checkpoint save, so the newest checkpoint on
  disk is always the last good one.
The run then stops with one line naming the quantity, the learner and the step.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
import tensorflow as tf
from acme.utils import loggers


class NonFiniteError(RuntimeError):
  """A NaN or inf in a named quantity; `where` names the learner or actor."""

  def __init__(self, quantity: str, where: str, step: Optional[int] = None):
    self.quantity, self.where, self.step = quantity, where, step
    at = "" if step is None else f" at its step {step}"
    super().__init__(f"non-finite {quantity} in the {where}{at}")


def check_finite(values: Any, quantity: str, where: str, step: Optional[int] = None) -> None:
  """Raises NonFiniteError if `values` holds a NaN or inf."""
  array = np.asarray(values)
  if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
    raise NonFiniteError(quantity, where, step)


class FiniteLogger(loggers.Logger):
  """A learner's logger that refuses non-finite numbers (then passes them on)."""

  def __init__(self, where: str, inner: Optional[loggers.Logger] = None):
    self._where = where
    self._inner = inner or loggers.NoOpLogger()

  def write(self, data: Mapping[str, Any]) -> None:
    step = data.get("steps")
    step = int(np.asarray(step)) if step is not None else None
    for key, value in data.items():
      if isinstance(value, (str, bytes)):
        continue
      try:
        check_finite(value, key, self._where, step)
      except TypeError:
        continue
    self._inner.write(data)

  def close(self) -> None:
    self._inner.close()


def variables_of(obj: Any) -> list:
  """Every tf.Variable held by one checkpointed object (a module, optimizer, ...)."""
  if isinstance(obj, tf.Variable):
    return [obj]
  variables = getattr(obj, "variables", None)
  if callable(variables):
    variables = variables()
  if variables is None:
    return []
  return [v for v in tf.nest.flatten(variables) if isinstance(v, tf.Variable)]


def first_non_finite(variables: Mapping[str, tf.Variable]) -> Optional[str]:
  """The name of the first floating-point variable holding a NaN or inf, else None."""
  for name, v in variables.items():
    if v.dtype.is_floating and not bool(tf.reduce_all(tf.math.is_finite(v))):
      return name
  return None
