"""Training Reciprocators (or independent learners) on a Melting Pot substrate.

With ``num_actors=1`` everything runs in one process: E copies of the substrate
stepped by one JointActor, one Reverb server, one JointLearner (a standard Acme
learner per policy group + the influence learner). With ``num_actors=K > 1`` this
process keeps the server and the learners, and K actor processes (each with its own
E substrate copies and joint actor) feed the server and read the learners' variables
back from it (``recip_acme.distributed``). Everything a run writes goes to its workdir:

  config.json                 the configuration (resume reuses it)
  episodes.csv                one row per finished episode
  logs/progress/logs.csv      periodic progress (Acme CSV logger)
  tensorboard/                the same, as TensorBoard summaries
  checkpoints/run/            policies, estimators, optimisers, counters

``--resume`` restores the last checkpoint, counters included. Replay contents are
not checkpointed: after a resume the tables refill before learners step again.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import reverb
import tensorflow as tf
from acme.tf import savers as tf2_savers
from acme.tf import variable_utils
from acme.utils import counting
from acme.utils import loggers
from acme.utils.loggers import tf_summary

from recip_acme import checkpointing
from recip_acme import distributed
from recip_acme import guards
from recip_acme import records
from recip_acme import networks as networks_lib
from recip_acme import presets
from recip_acme.agents.impala import builder as impala_builder
from recip_acme.agents.impala import config as impala_config
from recip_acme.agents.r2d2 import builder as r2d2_builder
from recip_acme.agents.r2d2 import config as r2d2_config
from recip_acme.agents.reciprocator import builder as builder_lib
from recip_acme.agents.reciprocator import config as reciprocator_config
from recip_acme.influence import config as influence_config
from substrates import melting_pot
from substrates import metrics as metrics_lib


AGENTS = ("reciprocator", "independent")
BASES = ("impala", "r2d2")


class RunError(ValueError):
  """A problem with the run's inputs or workdir, said in one line."""


@dataclasses.dataclass
class TrainConfig:
  substrate: str = "coins"
  agent: str = "reciprocator"
  base: str = "impala"
  num_steps: int = 40_000
  seed: int = 0
  reciprocator: reciprocator_config.ReciprocatorConfig = dataclasses.field(
      default_factory=reciprocator_config.ReciprocatorConfig)
  network: networks_lib.NetworkConfig = networks_lib.NetworkConfig()
  adapter: melting_pot.AdapterConfig = melting_pot.AdapterConfig()
  impala: impala_config.ImpalaConfig = dataclasses.field(default_factory=impala_config.ImpalaConfig)
  r2d2: r2d2_config.R2D2Config = dataclasses.field(default_factory=r2d2_config.R2D2Config)
  learner_period: int = 10
  num_actors: int = 1
  checkpoint_minutes: float = 5.0
  checkpoint_every_steps: Optional[int] = None
  log_every_seconds: float = 10.0

  def validate(self) -> None:
    if self.agent not in AGENTS:
      raise RunError(f"unknown --agent {self.agent!r}; valid: {', '.join(AGENTS)}")
    if self.base not in BASES:
      raise RunError(f"unknown --base {self.base!r}; valid: {', '.join(BASES)}")
    if self.num_steps <= 0:
      raise RunError(f"--num_steps must be > 0; got {self.num_steps}")
    if self.learner_period <= 0:
      raise RunError(f"learner_period must be > 0; got {self.learner_period}")
    if self.num_actors < 1:
      raise RunError(f"--num_actors must be >= 1; got {self.num_actors}")


def default_config(substrate: str = "coins", agent: str = "reciprocator", base: str = "impala",
                   **overrides: Any) -> TrainConfig:
  """The substrate's preset turned into a TrainConfig (flags override it)."""
  try:
    preset = presets.get_preset(substrate)
  except ValueError as e:
    raise RunError(str(e)) from e
  influence = influence_config.InfluenceConfig(
      hidden_sizes=preset.influence_hidden_sizes, gamma=preset.gamma,
      use_time_left=False, batch_size=1024, epochs=5, samples_per_epoch=8 * 1024,
      replay_episodes=4, refit_every=1, initial_episodes=1,
      counterfactual=preset.counterfactual)
  recip = reciprocator_config.ReciprocatorConfig(
      reciprocal=(agent == "reciprocator"), reciprocal_weight=preset.reciprocal_weight,
      share_policy=preset.share_policy, num_envs=preset.num_envs, influence=influence,
      reciprocal_scale=preset.reciprocal_scale)
  config = TrainConfig(
      substrate=substrate, agent=agent, base=base, reciprocator=recip,
      network=preset.network, adapter=preset.adapter,
      impala=impala_config.ImpalaConfig(sequence_length=preset.unroll_length,
                                        discount=preset.gamma,
                                        baseline_cost=preset.baseline_cost),
      r2d2=r2d2_config.R2D2Config(discount=preset.gamma))
  for key, value in overrides.items():
    setattr(config, key, value)
  return config


# -- Config <-> JSON (resume reuses the run's own configuration). ---------------

def config_to_dict(config: TrainConfig) -> Dict[str, Any]:
  return dataclasses.asdict(config)


def config_from_dict(d: Dict[str, Any]) -> TrainConfig:
  d = dict(d)
  recip = dict(d.pop("reciprocator"))
  recip["influence"] = influence_config.InfluenceConfig(**recip["influence"])
  return TrainConfig(
      reciprocator=reciprocator_config.ReciprocatorConfig(**recip),
      network=networks_lib.NetworkConfig(**d.pop("network")),
      adapter=melting_pot.AdapterConfig(**d.pop("adapter")),
      impala=impala_config.ImpalaConfig(**d.pop("impala")),
      r2d2=r2d2_config.R2D2Config(**d.pop("r2d2")), **d)


def load_run_config(workdir: str) -> TrainConfig:
  """The configuration a run in `workdir` was started with (for --resume)."""
  path = os.path.join(os.path.abspath(os.path.expanduser(workdir)), "config.json")
  try:
    with open(path) as f:
      return config_from_dict(json.load(f))
  except FileNotFoundError as e:
    raise RunError(f"--resume: {path} not found; is {workdir} a run directory?") from e
  except (json.JSONDecodeError, TypeError, KeyError) as e:
    raise RunError(f"--resume: {path} is not a readable run configuration ({e})") from e


# -- Checkpoints ---------------------------------------------------------------

class RunCheckpoint:
  """tf.train.CheckpointManager over the run's state, with one-line errors.

  ``restore`` falls back from a damaged newest checkpoint to the newest readable one
  and moves the damaged files aside (``checkpoints/damaged/``), never deleting them.
  ``save`` refuses state holding a NaN or inf, so the newest checkpoint on disk is
  always the last good one.
  """

  def __init__(self, workdir: str, objects: Dict[str, Any], max_to_keep: int = 2):
    self.directory = checkpointing.checkpoint_dir(workdir)
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
    bad = guards.first_non_finite(self._variables)
    if bad is not None:
      raise guards.NonFiniteError(f"value in variable {bad}", "run state (not saved)")
    return self._manager.save()

  @property
  def latest(self) -> Optional[str]:
    return self._manager.latest_checkpoint


# -- Building the agent ----------------------------------------------------------

def make_base_builder(config: TrainConfig):
  if config.base == "impala":
    return impala_builder.ImpalaBuilder(config.impala)
  return r2d2_builder.R2D2Builder(config.r2d2)


@dataclasses.dataclass
class Agent:
  """What one run is made of (returned for tests and tools).

  ``actor`` is None in the learner process of a multi-process run; ``publisher``
  then writes the variables the actor processes read.
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
  publisher: Optional[distributed.VariablePublisher] = None

  def close(self) -> None:
    """Flushes the actor's writers, then stops the server and the substrates."""
    if self.actor is not None:
      self.actor.close()
    self.server.stop()
    for env in self.envs:
      env.close()


def _make_envs(config: TrainConfig, count: int,
               seed: int) -> List[melting_pot.MeltingPotSubstrate]:
  """`count` copies of the run's substrate, their maps fixed by its seed
  (melting_pot.seeded_copies); a bad substrate setting is a RunError."""
  try:
    return melting_pot.seeded_copies(config.substrate, config.adapter, count, seed)
  except ValueError as e:
    raise RunError(str(e)) from e


def _make_builder(config: TrainConfig, env: melting_pot.MeltingPotSubstrate
                  ) -> builder_lib.ReciprocatorBuilder:
  joint_spec = builder_lib.JointSpec([env.player_spec(i) for i in range(env.num_players)],
                                     env.state_size)
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


def build_agent(config: TrainConfig, logger_fn=lambda label: loggers.NoOpLogger(),
                with_actor: bool = True) -> Agent:
  """The run's parts; ``with_actor=False`` builds the learner process of a
  multi-process run (no actor, one substrate copy for the specs, a variables table)."""
  config.validate()
  tf.random.set_seed(config.seed)
  np.random.seed(config.seed)
  envs = _make_envs(config, config.reciprocator.num_envs if with_actor else 1, config.seed)
  builder = _make_builder(config, envs[0])
  networks = builder.make_networks()
  policy_learning = tf.Variable(not config.reciprocator.reciprocal, trainable=False,
                                name="policy_learning_enabled")
  tables = builder.make_replay_tables(networks=networks)
  if not with_actor:
    published = shared_variables(builder, networks, policy_learning)
    tables.append(distributed.variables_table(published))
  server = reverb.Server(tables, port=None)
  client = reverb.Client(f"localhost:{server.port}")
  counter = counting.Counter()
  learner = builder.make_learner(config.seed, networks, builder.make_dataset_iterator(client),
                                 client, counter, logger_fn)
  actor = publisher = None
  if with_actor:
    actor = builder.make_actor(config.seed, networks, builder.make_adder(client),
                               replay_client=client)
  else:
    publisher = distributed.VariablePublisher(client, published)
  return Agent(envs, builder, networks, server, client, actor, learner, counter,
               policy_learning, publisher)


# -- The acting loop (shared by the single-process trainer and actor processes) ------

class _EpisodeStats:
  """Per-environment running sums for the episode rows."""

  def __init__(self, substrate: str, num_players: int):
    self.substrate = substrate
    self.num_players = num_players
    self.reset()

  def reset(self):
    self.returns = np.zeros(self.num_players)
    self.squared_rewards = 0.0
    self.abs_rewards = 0.0
    self.reciprocal = np.zeros(self.num_players)
    self.abs_weighted_reciprocal = 0.0
    self.steps = 0
    self.tally = metrics_lib.make_tally(self.substrate, self.num_players)


# What the joint actor computes online, by the name a non-finite value is reported.
_ACTOR_QUANTITIES = (("voi", "value of influence"), ("reciprocal_reward", "reciprocal reward"),
                     ("lagged_balance", "influence balance"))


class ActingLoop:
  """Steps E substrate copies with one joint actor and summarises finished episodes.

  ``policy_learning_enabled`` is asked at every episode start: before policy
  learning starts, the actor does not write episodes for the policy learners.
  ``episode_written`` is called when an episode's joint experience has been written,
  before that question is asked (actor processes count episodes with it).
  """

  def __init__(self, envs: Sequence[melting_pot.MeltingPotSubstrate], actor,
               config: TrainConfig, reciprocal_weight: tf.Variable,
               policy_learning_enabled: Callable[[], bool],
               episode_written: Optional[Callable[[], None]] = None):
    self._episode_written = episode_written
    self.envs = list(envs)
    self.actor = actor
    self._reciprocal = config.agent == "reciprocator"
    self._weight = reciprocal_weight
    self._enabled = policy_learning_enabled
    self._stats = [_EpisodeStats(config.substrate, self.envs[0].num_players)
                   for _ in self.envs]
    self.actor.record_policy_data = self._enabled()
    self._timesteps = [env.reset() for env in self.envs]
    for e, ts in enumerate(self._timesteps):
      self.actor.observe_first(e, ts)

  def step(self) -> List[Dict[str, Any]]:
    """One joint step in every copy; returns a row per episode that ended."""
    actor = self.actor
    actions = actor.select_actions(self._timesteps)
    next_timesteps = [env.step(a) for env, a in zip(self.envs, actions)]
    rec = actor.last_reciprocal()
    for ts in next_timesteps:
      guards.check_finite(ts.rewards, "extrinsic reward", "environment")
    if rec is not None:
      for key, quantity in _ACTOR_QUANTITIES:
        guards.check_finite(rec[key], quantity, "joint actor")
    actor.observe(actions, next_timesteps)
    weight = float(self._weight.numpy()) if self._reciprocal else 0.0
    rows = []
    for e, ts in enumerate(next_timesteps):
      s = self._stats[e]
      s.returns += ts.rewards
      s.squared_rewards += float(np.square(ts.rewards).sum())
      s.abs_rewards += float(np.abs(ts.rewards).sum())
      s.steps += 1
      if rec is not None:
        s.reciprocal += rec["reciprocal_reward"][e]
        s.abs_weighted_reciprocal += weight * float(np.abs(rec["reciprocal_reward"][e]).sum())
      if s.tally is not None:
        s.tally.add(ts.rewards, ts.signals, None if rec is None else rec["voi"][e],
                    None if rec is None else weight * rec["reciprocal_reward"][e])
      if ts.last():
        if self._episode_written is not None:
          self._episode_written()
        player_steps = max(s.steps, 1) * self.envs[e].num_players
        mean_reward = float(s.returns.sum() / player_steps)
        row = {"env": e, "length": s.steps, "mean_return": float(s.returns.mean()),
               "extrinsic_reward_per_step": mean_reward,
               "abs_extrinsic_reward": s.abs_rewards / player_steps,
               "extrinsic_reward_std": float(np.sqrt(max(
                   s.squared_rewards / player_steps - mean_reward ** 2, 0.0)))}
        row.update({f"return_p{i}": float(r) for i, r in enumerate(s.returns)})
        if self._reciprocal:
          row["mean_reciprocal_reward"] = float(s.reciprocal.mean() / max(s.steps, 1))
          row["abs_weighted_reciprocal_reward"] = s.abs_weighted_reciprocal / player_steps
          row["reciprocal_weight"] = weight
        if s.tally is not None:
          row.update(s.tally.summary())
        rows.append(row)
        s.reset()
        actor.record_policy_data = self._enabled()
        next_timesteps[e] = self.envs[e].reset()
        actor.observe_first(e, next_timesteps[e])
    self._timesteps = next_timesteps
    return rows


def actor_process_main(config_dict: Dict[str, Any], *args) -> None:
  """What an actor process runs (distributed.ActorPool): the run's config, then the body."""
  run_actor_process(config_from_dict(config_dict), *args)


def run_actor_process(config: TrainConfig, server_address: str, index: int, stop,
                      budget: "distributed.StepBudget", reports,
                      variable_update_period: int = 50,
                      episodes_written: Optional["distributed.SharedCount"] = None) -> None:
  """The body of one actor process of a multi-process run (see recip_acme.distributed).

  Builds the same networks as the learner process, copies their variables from the
  server with Acme's VariableClient (every `variable_update_period` steps, in the
  background), and acts until `stop` is set or the run's step budget is used up,
  reporting steps and episode rows.

  Policy learning opens when the influence learner has fitted its estimators on the
  first `initial_episodes` episodes. Actors do not race past that point: once the
  actors together have written that many episodes, an actor starting a new episode
  waits for the learner to open the gate, so every later episode trains the policies
  however slow the learner is (without it, a busy learner could see the whole step
  budget spent on episodes that no policy learner ever receives).
  """
  seed = distributed.actor_seed(config.seed, index)
  tf.random.set_seed(seed)
  np.random.seed(seed)
  envs = _make_envs(config, config.reciprocator.num_envs, seed)
  builder = _make_builder(config, envs[0])
  networks = builder.make_networks()
  client = reverb.Client(server_address)
  policy_learning = tf.Variable(False, trainable=False)
  named = shared_variables(builder, networks, policy_learning)
  variable_client = variable_utils.VariableClient(
      distributed.ReverbVariableSource(client, {k: len(v) for k, v in named.items()}),
      named, update_period=variable_update_period)
  variable_client.update_and_wait()
  actor = builder.make_actor(seed, networks, builder.make_adder(client), replay_client=client)
  initial_episodes = config.reciprocator.influence.initial_episodes

  def policy_learning_gate() -> bool:
    while not bool(policy_learning.numpy()):
      if (stop.is_set() or episodes_written is None
          or episodes_written.value < initial_episodes):
        return False   # The learner cannot fit yet: act, and do not record for policies.
      time.sleep(0.02)
      variable_client.update_and_wait()
    return True

  loop = ActingLoop(envs, actor, config, builder.reciprocal_weight, policy_learning_gate,
                    episode_written=episodes_written.increment if episodes_written else None)
  unreported, last_report = 0, time.time()
  try:
    while not stop.is_set() and budget.claim(len(envs)):
      for row in loop.step():
        distributed.report_episode(reports, index, row)
      unreported += len(envs)
      variable_client.update()
      if time.time() - last_report >= 0.2:
        distributed.report_steps(reports, index, unreported)
        unreported, last_report = 0, time.time()
  finally:
    if unreported:
      distributed.report_steps(reports, index, unreported)
    actor.close()
    for env in envs:
      env.close()


# -- The trainer -----------------------------------------------------------------

class _RunBook:
  """The learner process's records: counters, episode rows, progress, checkpoints."""

  def __init__(self, config: TrainConfig, workdir: str, agent: Agent, progress,
               checkpoint: RunCheckpoint):
    self.config, self.agent, self.progress, self.checkpoint = config, agent, progress, checkpoint
    self.episodes_csv = os.path.join(workdir, records.EPISODES_FILE)
    self.recent = collections.deque(maxlen=20)
    self.env_steps = int(agent.counter.get_counts().get("env_steps", 0))
    self.steps_at_start = self.env_steps
    self.start_time = self.last_log = self.last_ckpt_time = time.time()
    self.last_ckpt_steps = self.env_steps

  def add_steps(self, steps: int) -> None:
    if steps:
      self.env_steps += steps
      self.agent.counter.increment(env_steps=steps)
      self.agent.builder.reciprocal_weight.assign(
          self.config.reciprocator.weight_at(self.env_steps))

  def add_episode(self, row: Dict[str, Any]) -> None:
    episode = self.agent.counter.increment(episodes=1)["episodes"]
    row = {"env_steps": self.env_steps, "episode": episode, **row}
    records.append_row(self.episodes_csv, row)
    self.recent.append(row)

  def periodic(self) -> None:
    """Progress line and checkpoint when due."""
    now = time.time()
    if now - self.last_log >= self.config.log_every_seconds:
      self.progress.write(self.summary())
      self.last_log = now
    every = self.config.checkpoint_every_steps
    due_by_steps = every is not None and self.env_steps - self.last_ckpt_steps >= every
    if due_by_steps or now - self.last_ckpt_time >= 60 * self.config.checkpoint_minutes:
      self.checkpoint.save()
      self.last_ckpt_time, self.last_ckpt_steps = now, self.env_steps

  def summary(self) -> Dict[str, Any]:
    return _progress_row(self.agent.counter, self.agent.learner, self.recent,
                         self.env_steps - self.steps_at_start, time.time() - self.start_time)


def _train_in_one_process(config: TrainConfig, book: _RunBook, max_seconds) -> None:
  agent = book.agent
  learner = agent.learner
  loop = ActingLoop(agent.envs, agent.actor, config, agent.builder.reciprocal_weight,
                    learner.policy_learning_enabled)
  num_envs = len(agent.envs)
  while book.env_steps < config.num_steps:
    if max_seconds is not None and time.time() - book.start_time > max_seconds:
      break
    rows = loop.step()
    book.add_steps(num_envs)
    for row in rows:
      book.add_episode(row)
    if book.env_steps % (config.learner_period * num_envs) < num_envs:
      learner.step()
    book.periodic()


def _train_with_actor_processes(config: TrainConfig, book: _RunBook, max_seconds,
                                publish_seconds: float = 1.0) -> None:
  """The learner process: learns whenever data allows, publishes variables, records.

  The run ends when every actor has exited (the step budget is used up; a remainder
  smaller than one actor's --num_envs is never claimed) and the learner has learned
  from everything they wrote: a final drain, so the last data is not wasted.
  """
  agent = book.agent
  learner, publisher = agent.learner, agent.publisher
  agent.policy_learning.assign(learner.policy_learning_enabled())
  publisher.publish()
  pool = distributed.ActorPool(actor_process_main, config_to_dict(config),
                               agent.client.server_address, config.num_actors,
                               step_budget=config.num_steps - book.env_steps)
  pool.start()
  last_publish = time.time()
  try:
    while True:
      if max_seconds is not None and time.time() - book.start_time > max_seconds:
        break
      actors_done = pool.all_exited()   # Before polling: their last reports are queued.
      steps, rows = pool.poll()
      book.add_steps(steps)
      for row in rows:
        book.add_episode(row)
      did = learner.step()
      agent.policy_learning.assign(learner.policy_learning_enabled())
      if did["influence_fit"] or (did["policy_steps"]
                                  and time.time() - last_publish >= publish_seconds):
        publisher.publish()
        last_publish = time.time()
      busy = steps or rows or did["policy_steps"] or did["influence_fit"]
      if actors_done and not busy:
        break
      if not busy:
        time.sleep(0.02)   # Idle: nothing arrived and no learner had data.
      book.periodic()
  except distributed.ActorError as e:
    raise RunError(str(e)) from e
  finally:
    pool.stop()


def checkpointed_state(agent: Agent, actor_seed: tf.Variable) -> Dict[str, Any]:
  """Everything a run's checkpoint holds, by name (see README, "Checkpoints")."""
  state = {**agent.learner.state, "counter": agent.counter,
           "reciprocal_weight": agent.builder.reciprocal_weight, "actor_seed": actor_seed}
  if agent.actor is not None and agent.actor.reward_scale is not None:
    state["reciprocal_scale"] = agent.actor.reward_scale.state
  return state


def train(config: TrainConfig, workdir: str, resume: bool = False, verbose: bool = True,
          max_seconds: Optional[float] = None) -> Dict[str, Any]:
  """Trains until config.num_steps environment steps; returns a summary.

  On resume, the newest readable checkpoint is restored (counters, weights,
  optimisers) and the run's records are cut back to it before anything is written.
  A NaN or inf stops the run with a RunError naming it; the checkpoint on disk is
  then the last good one.
  """
  config.validate()
  workdir = os.path.abspath(os.path.expanduser(workdir))
  config_path = os.path.join(workdir, "config.json")
  if resume:
    if not checkpointing.has_checkpoint(workdir):
      raise RunError(f"--resume: no checkpoint in {checkpointing.checkpoint_dir(workdir)}")
  elif checkpointing.has_checkpoint(workdir):
    raise RunError(f"{workdir} already holds a run; pass --resume to continue it, or "
                   "choose another --workdir (nothing was overwritten)")
  try:
    os.makedirs(workdir, exist_ok=True)
    with open(config_path, "w") as f:
      json.dump(config_to_dict(config), f, indent=1)
  except OSError as e:
    raise RunError(f"cannot write the run directory {workdir} ({e.strerror or e})") from e

  multi = config.num_actors > 1
  agent = build_agent(config, with_actor=not multi)
  # The actors' sampling seed (single process) is checkpointed so that a resumed run
  # continues its stream; actor processes derive theirs from the run's seed.
  actor_seed = (agent.actor.random_state if agent.actor is not None
                else tf.Variable([config.seed, 0], dtype=tf.int64, trainable=False))
  checkpoint = RunCheckpoint(workdir, checkpointed_state(agent, actor_seed))
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
               "resumed_policy_fingerprint": policy_fingerprint(agent.networks),
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
  book = _RunBook(config, workdir, agent, progress, checkpoint)
  save_at_end = True
  try:
    if multi:
      _train_with_actor_processes(config, book, max_seconds)
    else:
      _train_in_one_process(config, book, max_seconds)
  except guards.NonFiniteError as e:
    save_at_end = False
    raise RunError(f"{e} after {book.env_steps} env steps: the run stopped without saving; "
                   f"the last good checkpoint is {checkpoint.latest}") from e
  finally:
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
  summary.update(resumed)
  if summary["policy_learner_steps"] == 0:
    print("warning: no policy learner took a step in this run (too few env steps for a "
          "batch after the estimators' first fit?); the policies are untrained", flush=True)
  return summary


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
