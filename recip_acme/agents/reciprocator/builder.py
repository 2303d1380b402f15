"""ReciprocatorBuilder: Acme's builder interface around a standard base learner.

It wraps any ``agents.base.BaseBuilder`` (IMPALA, R2D2) and adds, without touching
the base learner's code:
- ``reciprocal_reward`` to the extras each player's trajectory carries;
- a ``joint_experience`` table that the influence learner reads;
- the adapter, a dataset transform adding ``w * r_rec`` to the sampled rewards;
- the influence estimators and their learner.
With ``ReciprocatorConfig(reciprocal=False)`` it builds the same stack with the
adapter off: independent (naive) learners on extrinsic rewards.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import reverb
import tensorflow as tf
import tree
from acme import specs
from acme.agents.jax import builders
from acme.tf import utils as tf2_utils
from acme.utils import counting
from acme.utils import loggers

from recip_acme import guards
from recip_acme import networks as networks_lib
from recip_acme import reciprocal
from recip_acme.agents import base
from recip_acme.agents.reciprocator import acting
from recip_acme.agents.reciprocator import config as config_lib
from recip_acme.agents.reciprocator import learning
from recip_acme.agents.reciprocator import writing
from recip_acme.influence import learning as influence_learning
from recip_acme.influence import networks as influence_networks

JOINT_TABLE = "joint_experience"


def policy_table(group: int) -> str:
  return f"policy_group_{group}"


@dataclasses.dataclass(frozen=True)
class JointSpec:
  """The joint environment: per-player Acme specs plus the estimators' state."""
  player_specs: Sequence[specs.EnvironmentSpec]
  state_size: int
  horizon: Optional[int] = None  # Fixed episode length, if any (for time-left inputs).
  # No episode is longer (the joint writer keeps that many steps of the episode-long
  # columns): the substrate's own limit (MeltingPotSubstrate.max_episode_steps).
  max_episode_steps: int = 5000

  @property
  def num_players(self) -> int:
    return len(self.player_specs)

  @property
  def num_actions(self) -> List[int]:
    return [int(s.actions.num_values) for s in self.player_specs]


def with_observation_inputs(network_config: networks_lib.NetworkConfig, joint_spec: JointSpec,
                            balance: bool) -> Tuple[networks_lib.NetworkConfig, JointSpec]:
  """The network config and specs when players observe more than RGB.

  With ``network_config.observe_last_step`` and/or ``balance`` (value_sees_balance),
  each player's observation becomes a PlayerObservation (RGB, previous reward and
  action [1 + A], balances [N-1]; a field that is off has width 0): the tables, the
  learner and the actor then carry what the network reads. Otherwise nothing changes.
  """
  if not (network_config.observe_last_step or balance):
    return network_config, joint_spec
  last_step = 0
  if network_config.observe_last_step:
    num_actions = set(joint_spec.num_actions)
    if len(num_actions) != 1:
      raise ValueError(f"observe_last_step needs every player to have the same number of "
                       f"actions; these have {sorted(num_actions)}")
    last_step = 1 + num_actions.pop()
  num_balances = joint_spec.num_players - 1 if balance else 0
  player_specs = [s._replace(observations=networks_lib.PlayerObservation(
      rgb=s.observations,
      last_step=specs.Array((last_step,), np.float32, name="last_step"),
      influence_balance=specs.Array((num_balances,), np.float32, name="influence_balance")))
                  for s in joint_spec.player_specs]
  return (dataclasses.replace(network_config, value_balance_inputs=num_balances,
                              last_step_inputs=last_step),
          dataclasses.replace(joint_spec, player_specs=player_specs))


@dataclasses.dataclass
class ReciprocatorNetworks:
  groups: List[acting.PolicyGroup]
  estimators: Optional[influence_networks.InfluenceEstimators]


class ReciprocatorBuilder(builders.GenericActorLearnerBuilder):
  """See the module docstring. One instance builds one run."""

  def __init__(self, base_builder: base.BaseBuilder, config: config_lib.ReciprocatorConfig,
               network_config: networks_lib.NetworkConfig, joint_spec: JointSpec,
               seed: int = 0):
    self.base = base_builder
    self.config = config
    self.network_config = network_config
    self.spec = joint_spec
    self.seed = seed
    n = joint_spec.num_players
    if config.reciprocal_players is not None and max(config.reciprocal_players) >= n:
      raise ValueError(f"reciprocal_players {list(config.reciprocal_players)}: this "
                       f"substrate has players 0..{n - 1}")
    self.player_groups = [list(range(n))] if config.share_policy else [[i] for i in range(n)]
    # Per group, the (copy, slot) seats it plays (None: its players' slots in every
    # copy), and which groups are naive training partners (naive_partners).
    self.group_seats: List[Optional[List[Tuple[int, int]]]] = [None] * len(self.player_groups)
    self.naive_partner_groups: Tuple[int, ...] = ()
    if config.naive_partners:
      if len(set(self.spec.num_actions)) != 1:
        raise ValueError("naive_partners needs every player to have the same actions")
      self.group_seats = acting.naive_partner_seats(n, config.num_envs)
      self.player_groups = [[i] for i in range(n)] + [[i] for i in range(n)]
      self.naive_partner_groups = tuple(range(n, 2 * n))
    for group in self.player_groups:
      group_specs = {(s.observations.shape, s.actions.num_values)
                     for s in (joint_spec.player_specs[i] for i in group)}
      if len(group_specs) != 1:
        raise ValueError(f"players {group} cannot share a policy: their specs differ")
    self.network_config, self.spec = with_observation_inputs(
        network_config, joint_spec, balance=config.reciprocal and (
            config.value_sees_balance or config.policy_sees_balance))
    if config.reciprocal and config.policy_sees_balance:
      self.network_config = dataclasses.replace(self.network_config, policy_reads_balance=True)
    # w, read by the dataset transform at every sample; the trainer ramps it.
    self.reciprocal_weight = tf.Variable(config.weight_at(0), dtype=tf.float32,
                                         trainable=False, name="reciprocal_weight")

  # -- Networks -----------------------------------------------------------------

  def make_networks(self) -> ReciprocatorNetworks:
    groups = []
    for g, players in enumerate(self.player_groups):
      spec = self.spec.player_specs[players[0]]
      network = self.base.make_network(spec.actions.num_values, self.network_config)
      tf2_utils.create_variables(network, [spec.observations])
      groups.append(acting.PolicyGroup(network, players, seats=self.group_seats[g],
                                       naive_partner=g in self.naive_partner_groups))
    estimators = None
    if self.config.reciprocal:
      c = self.config.influence
      if c.use_time_left and self.spec.horizon is None:
        raise ValueError("influence.use_time_left needs a fixed episode length "
                         "(JointSpec.horizon); this environment has none")
      estimators = influence_networks.InfluenceEstimators(
          self.spec.num_players, self.spec.num_actions, self.spec.state_size,
          c.hidden_sizes, use_time_left=c.use_time_left,
          future_estimator=c.future_estimator, counterfactual=c.counterfactual)
    return ReciprocatorNetworks(groups, estimators)

  def _group_extras_spec(self, networks: ReciprocatorNetworks, g: int) -> dict:
    spec = self.spec.player_specs[self.player_groups[g][0]]
    extras = dict(self.base.extras_spec(networks.groups[g].network, spec.actions.num_values))
    if self.config.reciprocal:
      extras[acting.RECIPROCAL_REWARD] = tf.TensorSpec((), tf.float32)
      if self.config.subtract_partner_influence:
        extras[acting.PARTNER_INFLUENCE] = tf.TensorSpec((), tf.float32)
    if self.config.collective_reward:
      extras[acting.COLLECTIVE_SHAPING] = tf.TensorSpec((), tf.float32)
    return extras

  # -- Acme builder interface ----------------------------------------------------

  def make_replay_tables(self, environment_spec=None, networks: Optional[ReciprocatorNetworks] = None
                         ) -> List[reverb.Table]:
    del environment_spec  # The joint spec was given at construction.
    if networks is None:
      raise ValueError("make_replay_tables needs the networks (their recurrent state sizes)")
    tables = []
    for g, players in enumerate(self.player_groups):
      spec = self.spec.player_specs[players[0]]
      tables.append(self.base.make_table(policy_table(g), spec, self._group_extras_spec(networks, g)))
    if self.config.reciprocal:
      c = self.config.influence
      tables.append(reverb.Table(
          name=JOINT_TABLE, sampler=reverb.selectors.Fifo(), remover=reverb.selectors.Fifo(),
          max_size=c.replay_episodes + 8 * self.config.num_envs,
          rate_limiter=reverb.rate_limiters.MinSize(1), max_times_sampled=1,
          signature=writing.joint_experience_signature(
              self.spec.state_size, self.spec.player_specs[0].actions.dtype,
              self.spec.num_players)))
    return tables

  def make_dataset_iterator(self, replay_client: reverb.Client) -> List[tf.data.Dataset]:
    """One dataset per policy group; for Reciprocators, with the adapter applied."""
    datasets = []
    for g in range(len(self.player_groups)):
      dataset = self.base.make_dataset(replay_client.server_address, policy_table(g))
      if self.config.reciprocal:
        dataset = dataset.map(learning.reciprocal_reward_transform(
            self.reciprocal_weight, self.config.normalize_reciprocal_reward))
        if self.config.subtract_partner_influence:
          dataset = dataset.map(learning.partner_influence_transform())
      if self.config.collective_reward:
        dataset = dataset.map(learning.collective_reward_transform())
      datasets.append(dataset)
    return datasets

  def make_adder(self, replay_client: reverb.Client, networks: ReciprocatorNetworks
                 ) -> List[writing.JointTrajectoryWriter]:
    """One joint writer per environment copy: every player's items go to the table
    of the group playing its seat in that copy, cut as the base learner's own adder
    cuts them, and (Reciprocators) each finished episode to the joint-experience table."""
    zeros = lambda s: np.zeros(s.shape, tf.as_dtype(s.dtype).as_numpy_dtype)  # noqa: E731
    observations = [tree.map_structure(zeros, s.observations) for s in self.spec.player_specs]
    writers = []
    for e in range(self.config.num_envs):
      group_of = self.groups_of_copy(e)
      writers.append(writing.JointTrajectoryWriter(
          replay_client, [policy_table(g) for g in group_of], self.base.sequence_layout(),
          observations,
          [tree.map_structure(zeros, self._group_extras_spec(networks, g)) for g in group_of],
          action_dtype=self.spec.player_specs[0].actions.dtype,
          joint_table=JOINT_TABLE if self.config.reciprocal else None,
          state_size=self.spec.state_size, max_episode_steps=self.spec.max_episode_steps))
    return writers

  def groups_of_copy(self, copy: int) -> List[int]:
    """The policy group playing each slot of environment copy `copy`."""
    seats = [acting.seats_of(players, self.group_seats[g], self.config.num_envs)
             for g, players in enumerate(self.player_groups)]
    return [g for g, _ in acting.slots_of_copies(seats, self.config.num_envs,
                                                 self.spec.num_players)[copy]]

  def make_actor(self, random_key, policy_network: ReciprocatorNetworks, adder=None,
                 variable_source=None) -> acting.JointActor:
    del variable_source  # Single process: the actor shares the learners' variables.
    influence = None
    if self.config.reciprocal:
      c = self.config.influence
      influence = acting.InfluenceSettings(
          estimators=policy_network.estimators, variant=self.config.variant,
          balance_decay=self.config.effective_balance_decay, gamma=c.gamma,
          generosity=self.config.generosity,
          own_policy_counterfactual=self.config.own_policy_counterfactual,
          future_term=c.future_term,
          reset_balance_each_episode=self.config.reset_balance_each_episode,
          scale=(reciprocal.ExtrinsicScale(
              self.config.reciprocal_scale_steps,
              statistic="rms" if self.config.reciprocal_scale == "extrinsic_rms" else "mean_abs")
                 if self.config.reciprocal_scale != "none" else None),
          partner_influence=self.config.subtract_partner_influence,
          reciprocal_players=self.config.reciprocal_players)
    return acting.JointActor(
        self.base, policy_network.groups, self.spec.num_players, self.config.num_envs,
        writers=adder, influence=influence, horizon=self.spec.horizon, seed=int(random_key),
        observation_inputs=self.network_config,
        collective_reward=self.config.collective_reward)

  def make_learner(self, random_key, networks: ReciprocatorNetworks,
                   dataset: Sequence[tf.data.Dataset], replay_client: reverb.Client = None,
                   counter: Optional[counting.Counter] = None,
                   logger_fn: Callable[[str], loggers.Logger] = lambda label: loggers.NoOpLogger()
                   ) -> learning.JointLearner:
    counter = counter or counting.Counter()
    learners = []
    for g, group in enumerate(networks.groups):
      spec = self.spec.player_specs[group.players[0]]
      learner = self.base.make_learner(
          spec, group.network, dataset[g], replay_client.server_address, policy_table(g),
          counting.Counter(counter, f"learner_group{g}"),
          guards.FiniteLogger(f"policy learner of group {g}", logger_fn(f"learner_group{g}")))
      self.base.create_learner_state(learner)   # Complete checkpoints (agents/base.py).
      learners.append(learner)
    influence_learner = joint_replay = None
    if self.config.reciprocal:
      c = self.config.influence
      joint_replay = learning.ReverbJointReplay(replay_client, JOINT_TABLE, c.replay_episodes,
                                                c.gamma, seed=int(random_key))
      influence_learner = influence_learning.InfluenceLearner(
          networks.estimators, joint_replay, c, counting.Counter(counter, "influence"),
          logger_fn("influence"))
    return learning.JointLearner(self.base, learners,
                                 [policy_table(g) for g in range(len(networks.groups))],
                                 replay_client, influence_learner, joint_replay)
