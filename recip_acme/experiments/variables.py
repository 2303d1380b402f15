"""Variables from the learner to the actors through Reverb, with Acme's own client.

  learner (Ray driver) --VariablePublisher--> Reverb table "variables" (one slot: newest)
  actor k <-- acme.tf.variable_utils.VariableClient(ReverbVariableSource)

So the variable path is Acme's ``VariableClient`` over a ``core.VariableSource`` that
happens to be a Reverb table: data and variables travel through Reverb, never through
Ray's object store.
"""

from __future__ import annotations

from typing import List, Mapping, Sequence

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
