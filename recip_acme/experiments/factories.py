"""The only place an agent is put together, for every run path and for export.

A run is: E seeded substrate copies, the ReciprocatorBuilder around the base learner
the config names, its networks, the Reverb server with the builder's tables, the
joint learner and (in a process that acts) the joint actor. The single-process loop,
the distributed learner, each distributed actor and the exporter all call these
functions, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import reverb
import tensorflow as tf
from acme.tf import variable_utils
from acme.utils import counting
from acme.utils import loggers

from recip_acme.agents.impala import builder as impala_builder
from recip_acme.agents.r2d2 import builder as r2d2_builder
from recip_acme.agents.reciprocator import builder as builder_lib
from recip_acme.experiments import variables as variables_lib
from recip_acme.experiments.config import ExperimentConfig, RunError
from substrates import melting_pot
from substrates import stepping


def make_base_builder(config: ExperimentConfig):
  if config.base == "impala":
    return impala_builder.ImpalaBuilder(config.impala)
  return r2d2_builder.R2D2Builder(config.r2d2)


@dataclasses.dataclass
class Agent:
  """What one run is made of (returned for tests and tools).

  ``actor`` is None in the learner process of a multi-process run; ``publisher``
  then writes the variables the actor processes read. ``substrates`` steps the
  actor's copies: ``envs`` themselves, (``substrate_process``) copies in a child
  process, ``envs`` then holding one copy for the specs, or (``substrate_split``)
  the first half of ``envs`` here and the rest in a child.
  """
  envs: List[melting_pot.MeltingPotSubstrate]
  builder: builder_lib.ReciprocatorBuilder
  networks: builder_lib.ReciprocatorNetworks
  server: reverb.Server
  client: reverb.Client
  actor: Any
  learner: Any
  counter: counting.Counter
  policy_learning: Optional[tf.Variable] = None
  publisher: Optional[variables_lib.VariablePublisher] = None
  substrates: Optional[stepping.Substrates] = None

  def close(self) -> None:
    """Flushes the actor's writers, then stops the server and the substrates."""
    if self.actor is not None:
      self.actor.close()
    self.server.stop()
    if self.substrates is not None:
      self.substrates.close()
    for env in self.envs:
      env.close()


def make_envs(config: ExperimentConfig, count: int,
               seed: int) -> List[melting_pot.MeltingPotSubstrate]:
  """`count` copies of the run's substrate, their maps fixed by its seed
  (melting_pot.seeded_copies); a bad substrate setting is a RunError."""
  try:
    return melting_pot.seeded_copies(config.substrate, config.adapter, count, seed)
  except ValueError as e:
    raise RunError(str(e)) from e


def make_actor_envs(config: ExperimentConfig, seed: int
                    ) -> Tuple[List[melting_pot.MeltingPotSubstrate], stepping.Substrates]:
  """An actor's copies and what steps them: here, in a child process that builds the
  same seeded copies (``config.substrate_process``; one local copy kept for the
  specs), or half here and half there (``config.substrate_split``). Whichever way,
  copy k plays the seed's k-th map."""
  count = config.reciprocator.num_envs
  if not (config.substrate_process or config.substrate_split):
    envs = make_envs(config, count, seed)
    return envs, stepping.LocalSubstrates(envs)
  local = count // 2 if config.substrate_split else 0
  envs = make_envs(config, max(local, 1), seed)
  flag = "--substrate_split" if config.substrate_split else "--substrate_process"
  try:
    worker = stepping.SubstrateWorker(config.substrate, config.adapter, count - local, seed,
                                      preload=("recip_acme",), skip=local)
  except (ValueError, RuntimeError) as e:
    for env in envs:
      env.close()
    raise RunError(f"{flag}: {e}") from e
  if not local:
    return envs, worker
  return envs, stepping.SplitSubstrates(stepping.LocalSubstrates(envs), worker)


def make_builder(config: ExperimentConfig, env: melting_pot.MeltingPotSubstrate
                  ) -> builder_lib.ReciprocatorBuilder:
  # Melting Pot episodes end at random; only a cut (episode_step_limit) gives a fixed
  # horizon, which the estimators' time-left input then counts down to.
  joint_spec = builder_lib.JointSpec([env.player_spec(i) for i in range(env.num_players)],
                                     env.state_size, horizon=config.adapter.episode_step_limit,
                                     max_episode_steps=env.max_episode_steps)
  return builder_lib.ReciprocatorBuilder(make_base_builder(config), config.reciprocator,
                                         config.network, joint_spec, seed=config.seed)


def shared_variables(builder: builder_lib.ReciprocatorBuilder,
                     networks: builder_lib.ReciprocatorNetworks,
                     policy_learning: tf.Variable) -> Dict[str, List[tf.Variable]]:
  """What actor processes copy from the learner process, by group name.

  Policies, influence estimators (the actor computes VoI and r_rec online), and two
  control values: the current reciprocal weight (for the episode rows) and whether
  policy learning has started (before the estimators' first fit, episodes are not
  written for the policy learners).
  """
  named = {builder_lib.policy_table(g): list(group.network.variables)
           for g, group in enumerate(networks.groups)}
  if networks.estimators is not None:
    named["influence"] = list(networks.estimators.variables)
  named["control"] = [builder.reciprocal_weight, policy_learning]
  return named


def build_agent(config: ExperimentConfig, logger_fn=lambda label: loggers.NoOpLogger(),
                with_actor: bool = True) -> Agent:
  """The run's parts; ``with_actor=False`` builds the learner process of a
  multi-process run (no actor, one substrate copy for the specs, a variables table)."""
  config.validate()
  tf.random.set_seed(config.seed)
  np.random.seed(config.seed)
  if with_actor:
    envs, substrates = make_actor_envs(config, config.seed)
  else:
    envs, substrates = make_envs(config, 1, config.seed), None
  builder = make_builder(config, envs[0])
  networks = builder.make_networks()
  policy_learning = tf.Variable(not config.reciprocator.reciprocal, trainable=False,
                                name="policy_learning_enabled")
  tables = builder.make_replay_tables(networks=networks)
  if not with_actor:
    published = shared_variables(builder, networks, policy_learning)
    tables.append(variables_lib.variables_table(published))
  server = reverb.Server(tables, port=None if with_actor else config.reverb_port)
  client = reverb.Client(f"localhost:{server.port}")
  counter = counting.Counter()
  learner = builder.make_learner(config.seed, networks, builder.make_dataset_iterator(client),
                                 client, counter, logger_fn)
  actor = publisher = None
  if with_actor:
    actor = builder.make_actor(config.seed, networks, builder.make_adder(client, networks))
  else:
    publisher = variables_lib.VariablePublisher(client, published)
  return Agent(envs, builder, networks, server, client, actor, learner, counter,
               policy_learning, publisher, substrates)




@dataclasses.dataclass
class ActorSide:
  """What one distributed actor is made of: its substrate copies, joint actor, and
  Acme's VariableClient reading the learner's variables from the Reverb server
  (``substrates`` as in Agent)."""
  envs: List[melting_pot.MeltingPotSubstrate]
  substrates: stepping.Substrates
  builder: builder_lib.ReciprocatorBuilder
  actor: Any
  variable_client: variable_utils.VariableClient
  policy_learning: tf.Variable

  def close(self) -> None:
    self.actor.close()
    self.substrates.close()
    for env in self.envs:
      env.close()


def build_actor_side(config: ExperimentConfig, server_address: str, seed: int,
                     variable_update_period: int = 50) -> ActorSide:
  """A distributed actor: the same networks as the learner's, their variables copied
  from the server (blocking until the learner has published once), and a joint actor
  writing to the server at `server_address`."""
  tf.random.set_seed(seed)
  np.random.seed(seed)
  envs, substrates = make_actor_envs(config, seed)
  builder = make_builder(config, envs[0])
  networks = builder.make_networks()
  client = reverb.Client(server_address)
  policy_learning = tf.Variable(False, trainable=False)
  named = shared_variables(builder, networks, policy_learning)
  variable_client = variable_utils.VariableClient(
      variables_lib.ReverbVariableSource(client, {k: len(v) for k, v in named.items()}),
      named, update_period=variable_update_period)
  variable_client.update_and_wait()
  actor = builder.make_actor(seed, networks, builder.make_adder(client, networks))
  return ActorSide(envs, substrates, builder, actor, variable_client, policy_learning)
