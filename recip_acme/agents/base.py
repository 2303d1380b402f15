"""What a base learner must provide to be wrapped by the Reciprocator builder.

A "base builder" packages one *standard* Acme TF learner for one group of players
that share a policy network: its Reverb table, adder, dataset, learner, and the
behaviour policy that turns network outputs into actions and the extras the
learner expects to find in replay. The Reciprocator builder only ever talks to this
interface, which is how it stays learner-agnostic.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Dict, Tuple

import reverb
import sonnet as snt
import tensorflow as tf
from acme import core
from acme import specs
from acme.adders import reverb as adders
from acme.utils import counting
from acme.utils import loggers

from recip_acme import networks as networks_lib


class _NoSnapshots:
  def save(self, force: bool = False) -> bool:
    del force
    return False


def without_acme_snapshots(learner: core.Learner) -> core.Learner:
  """Stops an Acme TF learner from writing SavedModel snapshots to ~/acme/<uid>/.

  Acme's IMPALALearner snapshots its network on its first step (about 18 s here)
  and hourly, into the home directory. recip_acme checkpoints into the run's own
  workdir instead, so the learner object's snapshotter is replaced by a no-op; the
  learner's code is untouched.
  """
  if hasattr(learner, "_snapshotter"):
    learner._snapshotter = _NoSnapshots()  # pylint: disable=protected-access
  return learner


def create_optimizer_state(optimizer: Any, variables) -> None:
  """Creates an optimizer's slot variables now rather than at its first update.

  Why: ``tf.train.Checkpoint`` restores a variable that does not exist yet lazily,
  reading the checkpoint files when the variable is created. Sonnet's and Keras's
  optimizers create their moments on the first update, which on a resumed run can
  come after the checkpoint manager has rotated the restored checkpoint away
  (NotFoundError mid-run), and a checkpoint written before the first update holds
  no moments at all. With the slots created up front, every checkpoint is complete
  and every restore happens at once (and can be asserted complete).
  """
  if hasattr(optimizer, "build"):          # Keras optimizers (TF 2.11+).
    optimizer.build(list(variables))
  elif hasattr(optimizer, "_initialize"):  # Sonnet 2 optimizers: once-only, no update.
    optimizer._initialize(list(variables))  # pylint: disable=protected-access


@dataclasses.dataclass(frozen=True)
class SequenceLayout:
  """How a base learner's items are cut from one player's trajectory: the
  ``sequence_length`` and ``period`` of Acme's SequenceAdder, with its default end of
  an episode (the last item zero-padded to full length)."""
  sequence_length: int
  period: int


class BaseBuilder(abc.ABC):
  """One standard Acme learner, for one policy group."""

  name: str
  discount: float

  @abc.abstractmethod
  def make_network(self, num_actions: int, config: networks_lib.NetworkConfig) -> snt.RNNCore:
    """The recurrent network the learner trains and the actor runs."""

  @abc.abstractmethod
  def extras_spec(self, network: snt.RNNCore, num_actions: int) -> Dict[str, Any]:
    """Specs (no batch dim) of what the learner expects in `extras`."""

  @abc.abstractmethod
  def make_table(self, name: str, spec: specs.EnvironmentSpec, extras_spec: Dict[str, Any]
                 ) -> reverb.Table:
    """The Reverb table the learner samples from."""

  @abc.abstractmethod
  def sequence_layout(self) -> SequenceLayout:
    """How the learner's items are cut from a player's trajectory (length, period)."""

  def make_adder(self, client: reverb.Client, table: str) -> adders.ReverbAdder:
    """Acme's own adder for one player slot, with the learner's layout.

    Training writes through the joint actor's `JointTrajectoryWriter`, whose items
    equal this adder's step for step (tests/test_writing.py): this is its reference.
    """
    layout = self.sequence_layout()
    return adders.SequenceAdder(client=client, priority_fns={table: None},
                                period=layout.period, sequence_length=layout.sequence_length)

  @abc.abstractmethod
  def make_dataset(self, server_address: str, table: str) -> tf.data.Dataset:
    """Batches of reverb.ReplaySample, in the form the learner reads."""

  @abc.abstractmethod
  def make_learner(self, spec: specs.EnvironmentSpec, network: snt.RNNCore,
                   dataset: tf.data.Dataset, server_address: str, table: str,
                   counter: counting.Counter, logger: loggers.Logger) -> core.Learner:
    """The standard Acme learner, unmodified."""

  @abc.abstractmethod
  def behaviour(self, outputs: Any, seed: tf.Tensor) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
    """Batched network outputs -> (actions [B], extras other than core_state)."""

  @abc.abstractmethod
  def action_probabilities(self, outputs: Any) -> tf.Tensor:
    """Batched network outputs -> the behaviour policy's probabilities [B, A]
    (what `behaviour` samples from; read by the marginal counterfactual of VoI)."""

  @abc.abstractmethod
  def ready_to_step(self, items_inserted: int, learner_steps: int) -> bool:
    """Whether a learner step now would find a batch without starving the actor."""

  def learner_state(self, learner: core.Learner) -> Dict[str, Any]:
    """What a checkpoint holds of the learner (Acme's learners expose `.state`)."""
    return dict(getattr(learner, "state", {}))

  def create_learner_state(self, learner: core.Learner) -> None:
    """Creates every variable of the learner's state before any save or restore.

    Acme's TF learners (IMPALA, R2D2) keep their optimizer under ``state["optimizer"]``
    and apply it to ``state["network"].trainable_variables``.
    """
    state = self.learner_state(learner)
    if "optimizer" in state and "network" in state:
      create_optimizer_state(state["optimizer"], state["network"].trainable_variables)
