"""Training Reciprocators (or independent learners) on a Melting Pot substrate.

One process: E copies of the substrate stepped by one JointActor, one Reverb server,
one JointLearner (a standard Acme learner per policy group + the influence learner).
Everything a run writes goes to its workdir:

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
import csv
import dataclasses
import json
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np
import reverb
import tensorflow as tf
from acme.tf import savers as tf2_savers
from acme.utils import counting
from acme.utils import loggers
from acme.utils.loggers import tf_summary

from recip_acme import networks as networks_lib
from recip_acme.agents.impala import builder as impala_builder
from recip_acme.agents.impala import config as impala_config
from recip_acme.agents.r2d2 import builder as r2d2_builder
from recip_acme.agents.r2d2 import config as r2d2_config
from recip_acme.agents.reciprocator import builder as builder_lib
from recip_acme.agents.reciprocator import config as reciprocator_config
from recip_acme.influence import config as influence_config
from substrates import melting_pot
from substrates import metrics as metrics_lib
from substrates import presets

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
      replay_episodes=4, refit_every=1, initial_episodes=1)
  recip = reciprocator_config.ReciprocatorConfig(
      reciprocal=(agent == "reciprocator"), reciprocal_weight=preset.reciprocal_weight,
      share_policy=preset.share_policy, num_envs=preset.num_envs, influence=influence)
  config = TrainConfig(
      substrate=substrate, agent=agent, base=base, reciprocator=recip,
      network=preset.network, adapter=preset.adapter,
      impala=impala_config.ImpalaConfig(sequence_length=preset.unroll_length,
                                        discount=preset.gamma),
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
  """tf.train.CheckpointManager over the run's state, with one-line errors."""

  def __init__(self, workdir: str, objects: Dict[str, Any], max_to_keep: int = 2):
    self.directory = checkpoint_dir(workdir)
    objects = {k: tf2_savers.SaveableAdapter(v) if isinstance(v, counting.Counter) else v
               for k, v in objects.items()}
    self._checkpoint = tf.train.Checkpoint(**objects)
    self._manager = tf.train.CheckpointManager(self._checkpoint, self.directory, max_to_keep)

  def restore(self) -> str:
    path = self._manager.latest_checkpoint
    if path is None:
      raise RunError(f"--resume: no checkpoint in {self.directory}")
    try:
      tf.train.load_checkpoint(path)
      self._checkpoint.restore(path).assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError, IndexError, OSError) as e:
      first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      raise RunError(f"--resume: unreadable or mismatched checkpoint {path} ({first[:200]})") from e
    return path

  def save(self) -> str:
    return self._manager.save()


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(workdir, "checkpoints", "run")


def has_checkpoint(workdir: str) -> bool:
  return tf.train.latest_checkpoint(checkpoint_dir(workdir)) is not None


# -- Building the agent ----------------------------------------------------------

def make_base_builder(config: TrainConfig):
  if config.base == "impala":
    return impala_builder.ImpalaBuilder(config.impala)
  return r2d2_builder.R2D2Builder(config.r2d2)


@dataclasses.dataclass
class Agent:
  """What one run is made of (returned for tests and tools)."""
  envs: List[melting_pot.MeltingPotSubstrate]
  builder: builder_lib.ReciprocatorBuilder
  networks: builder_lib.ReciprocatorNetworks
  server: reverb.Server
  client: reverb.Client
  actor: Any
  learner: Any
  counter: counting.Counter

  def close(self) -> None:
    """Flushes the actor's writers, then stops the server and the substrates."""
    self.actor.close()
    self.server.stop()
    for env in self.envs:
      env.close()


def build_agent(config: TrainConfig, logger_fn=lambda label: loggers.NoOpLogger()) -> Agent:
  config.validate()
  tf.random.set_seed(config.seed)
  np.random.seed(config.seed)
  try:
    envs = [melting_pot.MeltingPotSubstrate(config.substrate, config.adapter)
            for _ in range(config.reciprocator.num_envs)]
  except ValueError as e:
    raise RunError(str(e)) from e
  env = envs[0]
  joint_spec = builder_lib.JointSpec([env.player_spec(i) for i in range(env.num_players)],
                                     env.state_size)
  builder = builder_lib.ReciprocatorBuilder(make_base_builder(config), config.reciprocator,
                                            config.network, joint_spec, seed=config.seed)
  networks = builder.make_networks()
  server = reverb.Server(builder.make_replay_tables(networks=networks), port=None)
  client = reverb.Client(f"localhost:{server.port}")
  counter = counting.Counter()
  learner = builder.make_learner(config.seed, networks, builder.make_dataset_iterator(client),
                                 client, counter, logger_fn)
  actor = builder.make_actor(config.seed, networks, builder.make_adder(client),
                             replay_client=client)
  return Agent(envs, builder, networks, server, client, actor, learner, counter)


# -- The loop ----------------------------------------------------------------------

class _EpisodeStats:
  """Per-environment running sums for the episode rows."""

  def __init__(self, substrate: str, num_players: int):
    self.substrate = substrate
    self.num_players = num_players
    self.reset()

  def reset(self):
    self.returns = np.zeros(self.num_players)
    self.reciprocal = np.zeros(self.num_players)
    self.steps = 0
    self.tally = metrics_lib.make_tally(self.substrate, self.num_players)


def _write_row(path: str, row: Dict[str, Any]) -> None:
  new = not os.path.exists(path)
  with open(path, "a", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(row))
    if new:
      writer.writeheader()
    writer.writerow(row)


def train(config: TrainConfig, workdir: str, resume: bool = False, verbose: bool = True,
          max_seconds: Optional[float] = None) -> Dict[str, Any]:
  """Trains until config.num_steps environment steps; returns a summary."""
  config.validate()
  workdir = os.path.abspath(os.path.expanduser(workdir))
  config_path = os.path.join(workdir, "config.json")
  if resume:
    if not has_checkpoint(workdir):
      raise RunError(f"--resume: no checkpoint in {checkpoint_dir(workdir)}")
  elif has_checkpoint(workdir):
    raise RunError(f"{workdir} already holds a run; pass --resume to continue it, or "
                   "choose another --workdir (nothing was overwritten)")
  os.makedirs(workdir, exist_ok=True)
  with open(config_path, "w") as f:
    json.dump(config_to_dict(config), f, indent=1)

  progress = loggers.Dispatcher([
      loggers.CSVLogger(workdir, label="progress", add_uid=False),
      tf_summary.TFSummaryLogger(os.path.join(workdir, "tensorboard"), label="progress"),
  ] + ([loggers.TerminalLogger("progress", print_fn=print)] if verbose else []))
  agent = build_agent(config)
  actor, learner, counter = agent.actor, agent.learner, agent.counter
  checkpoint = RunCheckpoint(workdir, {**learner.state, "counter": counter,
                                       "reciprocal_weight": agent.builder.reciprocal_weight,
                                       "actor_seed": actor.random_state})
  resumed = {}
  if resume:
    path = checkpoint.restore()
    resumed = {"resumed_from": path,
               "resumed_env_steps": int(counter.get_counts().get("env_steps", 0)),
               "resumed_policy_fingerprint": policy_fingerprint(agent.networks)}
    if verbose:
      print(f"resumed from {path} at {resumed['resumed_env_steps']} env steps")

  envs = agent.envs
  num_players = envs[0].num_players
  stats = [_EpisodeStats(config.substrate, num_players) for _ in envs]
  episodes_csv = os.path.join(workdir, "episodes.csv")
  recent = collections.deque(maxlen=20)
  timesteps = [env.reset() for env in envs]
  actor.record_policy_data = learner.policy_learning_enabled()
  for e, ts in enumerate(timesteps):
    actor.observe_first(e, ts)

  start_time = time.time()
  last_log = last_ckpt_time = start_time
  counts = counter.get_counts()
  env_steps = int(counts.get("env_steps", 0))
  last_ckpt_steps = env_steps
  steps_at_start = env_steps
  try:
    while env_steps < config.num_steps:
      if max_seconds is not None and time.time() - start_time > max_seconds:
        break
      actions = actor.select_actions(timesteps)
      next_timesteps = [env.step(a) for env, a in zip(envs, actions)]
      rec = actor.last_reciprocal()
      actor.observe(actions, next_timesteps)
      env_steps += len(envs)
      for e, ts in enumerate(next_timesteps):
        s = stats[e]
        s.returns += ts.rewards
        s.steps += 1
        if rec is not None:
          s.reciprocal += rec["reciprocal_reward"][e]
        if s.tally is not None:
          s.tally.add(ts.rewards, ts.signals)
        if ts.last():
          episode = counter.increment(episodes=1)["episodes"]
          row = {"env_steps": env_steps, "episode": episode, "env": e, "length": s.steps,
                 "mean_return": float(s.returns.mean())}
          row.update({f"return_p{i}": float(r) for i, r in enumerate(s.returns)})
          if config.agent == "reciprocator":
            row["mean_reciprocal_reward"] = float(s.reciprocal.mean() / max(s.steps, 1))
            row["reciprocal_weight"] = float(agent.builder.reciprocal_weight.numpy())
          if s.tally is not None:
            row.update(s.tally.summary())
          _write_row(episodes_csv, row)
          recent.append(row)
          s.reset()
          actor.record_policy_data = learner.policy_learning_enabled()
          next_timesteps[e] = envs[e].reset()
          actor.observe_first(e, next_timesteps[e])
      timesteps = next_timesteps
      counter.increment(env_steps=len(envs))

      if env_steps % (config.learner_period * len(envs)) < len(envs):
        learner.step()
        agent.builder.reciprocal_weight.assign(config.reciprocator.weight_at(env_steps))

      now = time.time()
      if now - last_log >= config.log_every_seconds:
        progress.write(_progress_row(counter, learner, recent, env_steps - steps_at_start,
                                     now - start_time))
        last_log = now
      due_by_steps = (config.checkpoint_every_steps is not None
                      and env_steps - last_ckpt_steps >= config.checkpoint_every_steps)
      if due_by_steps or now - last_ckpt_time >= 60 * config.checkpoint_minutes:
        checkpoint.save()
        last_ckpt_time, last_ckpt_steps = now, env_steps
  finally:
    path = checkpoint.save()
    agent.close()
  summary = _progress_row(counter, learner, recent, env_steps - steps_at_start,
                          time.time() - start_time)
  if verbose:
    progress.write(summary)
  progress.close()
  summary["checkpoint"] = path
  summary.update(resumed)
  return summary


def policy_fingerprint(networks: builder_lib.ReciprocatorNetworks) -> float:
  """Sum of |w| over every policy network's variables (to compare with a checkpoint)."""
  return float(sum(np.abs(v.numpy()).astype(np.float64).sum()
                   for group in networks.groups for v in group.network.variables))


def _progress_row(counter, learner, recent, new_steps: int, seconds: float) -> Dict[str, Any]:
  counts = counter.get_counts()
  row = {"env_steps": int(counts.get("env_steps", 0)), "episodes": int(counts.get("episodes", 0)),
         "steps_per_second": new_steps / max(seconds, 1e-9),
         "policy_learner_steps": int(np.sum(learner.steps.numpy()))}
  if learner.influence_learner is not None:
    row["influence_fits"] = learner.influence_learner.num_fits
  for key in ("mean_return", "mean_reciprocal_reward", "p_own_coin"):
    values = [r[key] for r in recent if key in r and np.isfinite(r[key])]
    row[key] = float(np.mean(values)) if values else float("nan")  # Same columns always.
  return row
