"""The Reciprocator's learner side: base learners on shaped rewards + influence learner.

``reciprocal_reward_transform`` is the adapter: a dataset transform that adds
``w * r_rec`` (stored by the joint actor in each step's extras) to the reward the
wrapped learner samples. The wrapped learner's code is untouched.

``JointLearner`` steps one standard Acme learner per policy group when its table has
data for it, and refits the influence estimators when due. Policy learners do not
step before the estimators' first fit.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import acme
import numpy as np
import reverb
from reverb.cc import schema_pb2
import tensorflow as tf
import trfl

from recip_acme import reciprocal
from recip_acme.agents import base
from recip_acme.agents.reciprocator import acting
from recip_acme.influence import data as data_lib
from recip_acme.influence import learning as influence_learning


def reciprocal_reward_transform(weight: tf.Variable, normalize: bool = False,
                                extra: str = acting.RECIPROCAL_REWARD):
  """sample -> sample with reward + w * extras[extra] (the adapter; by default the
  reciprocal reward)."""

  def transform(sample: reverb.ReplaySample) -> reverb.ReplaySample:
    data = sample.data
    shaping = data.extras[extra]
    if normalize:
      shaping = reciprocal.normalize(shaping)
    reward = data.reward + tf.cast(weight, data.reward.dtype) * tf.cast(shaping, data.reward.dtype)
    return sample._replace(data=data._replace(reward=reward))

  return transform


def collective_reward_transform():
  """sample -> sample with reward + extras['collective_reward_shaping'], i.e. the mean
  extrinsic reward of the player's environment (the prosocial learner's adapter)."""
  return reciprocal_reward_transform(1.0, extra=acting.COLLECTIVE_SHAPING)


def partner_influence_transform():
  """sample -> sample with reward - extras['partner_influence']: the others' immediate
  VoI on the player taken out of its reward (ReciprocatorConfig.subtract_partner_influence)."""
  return reciprocal_reward_transform(-1.0, extra=acting.PARTNER_INFLUENCE)


class TableCounts(NamedTuple):
  """What the learner side reads of a Reverb table: its size and completed inserts."""
  current_size: int
  inserts: int


def table_counts(client: reverb.Client) -> Dict[str, TableCounts]:
  """Each table's size and completed inserts, as ``client.server_info()`` reports
  them, without decoding the tables' signatures.

  Why: ``server_info`` turns every table's signature into TensorSpecs on each call,
  and the learner side asks every few joint steps for two integers per table; on a
  single-process coins run that decoding was ~7.6 % of the run (py-spy, 2026-12-06).
  This reads the same serialized TableInfo protos through the client's raw
  ``ServerInfo`` (Reverb's pybind client, the call ``server_info`` itself makes) and
  falls back to ``server_info`` where a Reverb release has no such attribute;
  ``tests/test_writing.py`` checks both agree.
  """
  raw = getattr(client, "_client", None)
  if raw is None or not hasattr(raw, "ServerInfo"):
    return {name: TableCounts(info.current_size, info.rate_limiter_info.insert_stats.completed)
            for name, info in client.server_info().items()}
  counts = {}
  for serialized in raw.ServerInfo(0):
    proto = schema_pb2.TableInfo.FromString(serialized)
    counts[proto.name] = TableCounts(proto.current_size,
                                     proto.rate_limiter_info.insert_stats.completed)
  return counts


def discounted_returns(rewards: tf.Tensor, discounts: tf.Tensor) -> tf.Tensor:
  """[B, T] rewards and per-step discounts (gamma * d_t) -> G_t = r_t + disc_t G_{t+1}
  (trfl's time-major discounted sum, on the learner's batch-major sequences)."""
  returns = trfl.scan_discounted_sum(tf.transpose(rewards), tf.transpose(discounts),
                                     tf.zeros_like(rewards[:, 0]), reverse=True)
  return tf.transpose(returns)


def return_normalization_transform(discount: float, epsilon: float = 1e-5):
  """sample -> sample whose rewards give batch-standardised discounted returns.

  The paper's PPO trains on returns standardised over each batch, so its advantages
  stay O(1) however small the differences between its samples become: a policy that
  has nearly stopped trying an action still feels the few samples where it did. Here
  the same is done without touching the wrapped learner: with G the returns of the
  batch's sequences (whole episodes in the batched games; the last step is IMPALA's
  bootstrap step and is left as it is), the rewards are replaced by
  r'_t = G'_t - gamma d_t G'_{t+1} with G' = (G - mean G) / (std G + epsilon), so that
  the learner's own Monte-Carlo return of r' is G'. Apply it after the reciprocal
  reward transform: the shaped reward is what is standardised, as in the paper.
  """

  def transform(sample: reverb.ReplaySample) -> reverb.ReplaySample:
    data = sample.data
    rewards = tf.cast(data.reward[:, :-1], tf.float32)
    discounts = discount * tf.cast(data.discount[:, :-1], tf.float32)
    returns = discounted_returns(rewards, discounts)
    mean, variance = tf.nn.moments(tf.reshape(returns, [-1]), axes=[0])
    standardised = (returns - mean) / (tf.sqrt(variance) + epsilon)
    following = tf.concat([standardised[:, 1:], tf.zeros_like(standardised[:, :1])], axis=1)
    new_rewards = standardised - discounts * following
    reward = tf.concat([tf.cast(new_rewards, data.reward.dtype), data.reward[:, -1:]], axis=1)
    return sample._replace(data=data._replace(reward=reward))

  return transform


class ReverbJointReplay:
  """The influence learner's replay: the last K episodes drained from a Reverb table.

  Actors write one item per finished episode (writing.JointTrajectoryWriter) to a
  table sampled first-in first-out, at most once per item; this keeps the last `max_episodes` of them in memory
  (data_lib.EpisodeReplay) and counts every episode ever inserted, so that the
  refit schedule holds across actor processes.
  """

  def __init__(self, client: reverb.Client, table: str, max_episodes: int, gamma: float,
               seed: Optional[int] = None):
    self._client = client
    self._table = table
    self._replay = data_lib.EpisodeReplay(max_episodes, gamma, seed)
    self._received = 0

  def drain(self) -> int:
    """Moves every waiting episode into memory; returns how many arrived."""
    waiting = table_counts(self._client)[self._table].current_size
    if waiting == 0:
      return 0
    for sample in self._client.sample(self._table, num_samples=waiting, emit_timesteps=False,
                                      unpack_as_table_signature=True):
      episode = sample.data   # One item: the whole episode, per player actions and rewards.
      self._replay.add_episode(np.asarray(episode["state"]),
                               np.stack(episode["actions"], axis=-1),
                               np.stack(episode["rewards"], axis=-1),
                               np.asarray(episode["time_left"]))
      self._received += 1
    return waiting

  def sample(self, batch_size: int) -> data_lib.JointBatch:
    return self._replay.sample(batch_size)

  def num_samples(self) -> int:
    return self._replay.num_samples()

  def episodes_added(self) -> int:
    return self._received


class JointLearner(acme.Learner):
  """All learners of one run, stepped together (see module docstring)."""

  def __init__(self, base_builder: base.BaseBuilder, learners: Sequence[acme.Learner],
               tables: Sequence[str], client: reverb.Client,
               influence_learner: Optional[influence_learning.InfluenceLearner] = None,
               joint_replay: Optional[ReverbJointReplay] = None):
    self._base = base_builder
    self._learners = list(learners)
    self._tables = list(tables)
    self._client = client
    self._influence = influence_learner
    self._joint_replay = joint_replay
    self.steps = tf.Variable(np.zeros(len(learners), np.int64), trainable=False,
                             name="policy_learner_steps")
    # Readiness compares a table's inserts with the steps taken on *this* server's
    # data: `steps` is checkpointed, the server's insert counts start again at 0 after
    # a resume, so comparing with `steps` would idle the learners for a whole run.
    self._steps_on_this_server = np.zeros(len(learners), np.int64)

  @property
  def learners(self) -> List[acme.Learner]:
    return self._learners

  @property
  def influence_learner(self) -> Optional[influence_learning.InfluenceLearner]:
    return self._influence

  def policy_learning_enabled(self) -> bool:
    return self._influence is None or self._influence.num_fits > 0

  def step(self) -> Dict[str, Any]:
    """Refits the estimators if due, then steps each policy learner that has data."""
    did = {"influence_fit": False, "policy_steps": 0}
    if self._influence is not None:
      self._joint_replay.drain()
      did["influence_fit"] = self._influence.maybe_step()
    if not self.policy_learning_enabled():
      return did
    counts = table_counts(self._client)
    steps = self.steps.numpy()
    for g, (learner, table) in enumerate(zip(self._learners, self._tables)):
      inserted = counts[table].inserts
      while self._base.ready_to_step(inserted, int(self._steps_on_this_server[g])):
        learner.step()
        steps[g] += 1
        self._steps_on_this_server[g] += 1
        did["policy_steps"] += 1
    if did["policy_steps"]:
      self.steps.assign(steps)
    return did

  def rebase_on_new_server(self) -> None:
    """After a restore: counts compared with this server's start again from 0.

    Replay is not checkpointed, so a resumed run's server has seen no inserts; the
    readiness and refit rules must count from there, not from the checkpointed totals
    (which would idle the learners until the new server had seen a whole run's data).
    """
    self._steps_on_this_server[:] = 0
    if self._influence is not None:
      self._influence.rebase_episode_count(self._joint_replay.episodes_added())

  def get_variables(self, names: Sequence[str]) -> List[List[np.ndarray]]:
    raise NotImplementedError("single-process: actors share the learners' variables")

  @property
  def state(self) -> Dict[str, Any]:
    """Everything a checkpoint must hold to resume learning."""
    out = {"policy_learner_steps": self.steps}
    for g, learner in enumerate(self._learners):
      for k, v in self._base.learner_state(learner).items():
        out[f"group{g}_{k}"] = v
    if self._influence is not None:
      for k, v in self._influence.state.items():
        out[f"influence_{k}"] = v
    return out
