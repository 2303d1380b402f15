"""ExperimentConfig: everything one run is, in one place (modelled on Acme's
``acme/jax/experiments/config.py``).

The agent kind is decided once (``agent``), there is ONE base-learner config per base
(only the one named by ``base`` is used), and the config round-trips through JSON, so
``--resume`` and exported populations rebuild exactly the run that was trained.
Validation messages name fields, not command-line flags: the config is a library object.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Optional

from recip_acme import networks as networks_lib
from recip_acme import presets
from recip_acme.experiments import records
from recip_acme.agents.impala import config as impala_config
from recip_acme.agents.r2d2 import config as r2d2_config
from recip_acme.agents.reciprocator import config as reciprocator_config
from recip_acme.influence import config as influence_config
from substrates import melting_pot


AGENTS = ("reciprocator", "independent", "prosocial")
BASES = ("impala", "r2d2")


class RunError(ValueError):
  """A problem with the run's inputs or workdir, said in one line."""


@dataclasses.dataclass
class ExperimentConfig:
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
  # Step each actor's substrate copies in a child process (substrates/stepping.py), so
  # that they step while the actor writes the previous step to Reverb.
  substrate_process: bool = False
  # Step the first half of each actor's copies in its own process and the rest in a
  # child process, at the same time: the substrate holds the GIL and is the largest
  # part of a step, so on two cores it is the copies that should run side by side
  # (README, Throughput). Excludes substrate_process.
  substrate_split: bool = False
  num_actors: int = 1
  # Distributed runs (num_actors > 1, on Ray): an existing cluster's address ("auto",
  # "HOST:PORT"; None starts a local Ray), the Reverb port (None: any free port), the
  # resources each actor asks for (e.g. {"actor_node": 0.01} to place actors on nodes
  # started with that resource), and env steps an actor takes per request.
  ray_address: Optional[str] = None
  # This machine's address as Ray nodes reach it (None: a loopback address for a
  # local Ray, Ray's own choice when joining a cluster).
  ray_node_ip: Optional[str] = None
  reverb_port: Optional[int] = None
  actor_resources: Dict[str, float] = dataclasses.field(default_factory=dict)
  actor_cpus: float = 1.0
  actor_chunk_steps: int = 400
  # Replace each actor with a fresh process once it has taken this many env steps (None:
  # never). TensorFlow 2.15 on Python 3.11 grows a process's memory with every call
  # (README, Memory); a fresh process starts from the baseline again, so a long run's
  # actors stay bounded. Its unfinished episodes are dropped, as at the run's end.
  actor_recycle_steps: Optional[int] = None
  checkpoint_minutes: float = 5.0
  checkpoint_every_steps: Optional[int] = None
  log_every_seconds: float = 10.0
  # If the run's loop has not come round for this long, every thread's Python stack is
  # written to stderr once (faulthandler), so that a run that hangs says where; None
  # turns it off. A run once hung inside a learner's dataset read (README, Checkpoints).
  stall_report_minutes: Optional[float] = 15.0

  def validate(self) -> None:
    if self.agent not in AGENTS:
      raise RunError(f"unknown agent {self.agent!r}; valid: {', '.join(AGENTS)}")
    if self.base not in BASES:
      raise RunError(f"unknown base learner {self.base!r}; valid: {', '.join(BASES)}")
    if self.num_steps <= 0:
      raise RunError(f"num_steps must be > 0; got {self.num_steps}")
    if self.learner_period <= 0:
      raise RunError(f"learner_period must be > 0; got {self.learner_period}")
    if self.num_actors < 1:
      raise RunError(f"num_actors must be >= 1; got {self.num_actors}")
    if self.actor_cpus <= 0:
      raise RunError(f"actor_cpus must be > 0; got {self.actor_cpus}")
    bad = {k: v for k, v in self.actor_resources.items() if not k or not v > 0}
    if bad:
      raise RunError(f"actor_resources need a name and an amount > 0; got {bad}")
    if self.actor_chunk_steps <= 0:
      raise RunError(f"actor_chunk_steps must be > 0; got {self.actor_chunk_steps}")
    if self.actor_recycle_steps is not None and self.actor_recycle_steps <= 0:
      raise RunError(f"actor_recycle_steps must be > 0; got {self.actor_recycle_steps}")
    if self.actor_recycle_steps is not None and self.num_actors == 1:
      raise RunError("actor_recycle_steps needs num_actors > 1: with one actor, acting runs "
                     "in the learner's process, which is not replaced")
    if (self.reciprocator.influence.use_time_left and self.adapter.episode_step_limit is None):
      raise RunError("the estimators' time-left input needs a fixed episode length: set the "
                     "adapter's episode_step_limit (Melting Pot episodes end at random) or "
                     "turn use_time_left off")
    if self.substrate_split and self.substrate_process:
      raise RunError("substrate_split and substrate_process exclude each other: split steps "
                     "half the copies in a child process, substrate_process all of them")
    if self.substrate_split and self.reciprocator.num_envs < 2:
      raise RunError(f"substrate_split needs num_envs >= 2 (half the copies per process); "
                     f"got num_envs={self.reciprocator.num_envs}")
    if self.stall_report_minutes is not None and not self.stall_report_minutes > 0:
      raise RunError(f"stall_report_minutes must be > 0 or None; got {self.stall_report_minutes}")
    if self.reverb_port is not None and not 0 < self.reverb_port < 65536:
      raise RunError(f"reverb_port must be in 1..65535; got {self.reverb_port}")


def default_config(substrate: str = "coins", agent: str = "reciprocator", base: str = "impala",
                   **overrides: Any) -> ExperimentConfig:
  """The substrate's preset turned into a ExperimentConfig (flags override it)."""
  try:
    preset = presets.get_preset(substrate)
  except ValueError as e:
    raise RunError(str(e)) from e
  influence = influence_config.InfluenceConfig(
      hidden_sizes=preset.influence_hidden_sizes, gamma=preset.gamma,
      use_time_left=False, batch_size=1024, epochs=5, samples_per_epoch=8 * 1024,
      replay_episodes=4, refit_every=1, initial_episodes=1,
      counterfactual=preset.counterfactual, future_term=preset.future_term)
  recip = reciprocator_config.ReciprocatorConfig(
      reciprocal=(agent == "reciprocator"), collective_reward=(agent == "prosocial"),
      reciprocal_weight=preset.reciprocal_weight, variant=preset.variant,
      reciprocal_weight_start=preset.reciprocal_weight_start,
      reciprocal_weight_ramp_steps=preset.reciprocal_weight_ramp_steps,
      share_policy=preset.share_policy, num_envs=preset.num_envs, influence=influence,
      reciprocal_scale=preset.reciprocal_scale)
  config = ExperimentConfig(
      substrate=substrate, agent=agent, base=base, reciprocator=recip,
      network=preset.network, adapter=preset.adapter,
      impala=impala_config.ImpalaConfig(sequence_length=preset.unroll_length,
                                        discount=preset.gamma,
                                        baseline_cost=preset.baseline_cost),
      r2d2=r2d2_config.R2D2Config(discount=preset.gamma))
  for key, value in overrides.items():
    setattr(config, key, value)
  return config


# Where each named setting lives. The names are the settings users give (the flags of
# launch.train use the same names); a setting maps to one or more config fields.
_TOP = ("num_steps", "seed", "substrate_process", "substrate_split", "num_actors", "ray_address", "ray_node_ip", "reverb_port",
        "actor_resources", "actor_cpus", "actor_recycle_steps", "checkpoint_minutes",
        "checkpoint_every_steps", "log_every_seconds", "learner_period")
_RECIPROCATOR = ("variant", "balance_decay", "generosity", "own_policy_counterfactual",
                 "reset_balance_each_episode",
                 "normalize_reciprocal_reward", "value_sees_balance", "policy_sees_balance",
                 "reciprocal_scale",
                 "reciprocal_scale_steps", "reciprocal_weight", "reciprocal_weight_start",
                 "reciprocal_weight_ramp_steps", "num_envs", "share_policy",
                 "subtract_partner_influence", "reciprocal_players", "naive_partners")
_INFLUENCE = ("future_term", "counterfactual")
_ADAPTER = ("rgb_downsample", "rgb_pooling", "world_downsample", "episode_step_limit",
            "avatar_locations", "estimator_view", "local_radius", "own_colour_channel",
            "redraw_every")
_NETWORK = ("conv_channels", "mlp_sizes", "lstm_size", "observe_last_step")
_IMPALA_ONLY = ("entropy_cost", "baseline_cost", "samples_per_insert", "replay_size")
SETTINGS = (_TOP + _RECIPROCATOR + _INFLUENCE + _ADAPTER + _NETWORK + _IMPALA_ONLY
            + ("unroll_length", "learning_rate"))


def configure(substrate: str = "coins", agent: str = "reciprocator", base: str = "impala",
              **settings: Any) -> ExperimentConfig:
  """The substrate's preset with named settings applied on top, validated.

  Why one function: the CLI, experiment scripts and tests all describe a run the same
  way (a preset plus a few changes), so the routing of a setting to its config field
  lives here once. A setting whose value is None keeps the preset's value.
  """
  unknown = sorted(set(settings) - set(SETTINGS))
  if unknown:
    raise RunError(f"unknown settings {', '.join(unknown)}; valid: {', '.join(SETTINGS)}")
  given = {k: v for k, v in settings.items() if v is not None}
  config = default_config(substrate, agent, base,
                          **{k: given[k] for k in _TOP if k in given})
  pick = lambda names: {k: given[k] for k in names if k in given}
  recip = dataclasses.replace(config.reciprocator, **pick(_RECIPROCATOR),
                              influence=dataclasses.replace(config.reciprocator.influence,
                                                            **pick(_INFLUENCE)))
  config.reciprocator = recip   # dataclasses.replace re-runs __post_init__'s checks.
  config.adapter = dataclasses.replace(config.adapter, **pick(_ADAPTER))
  network = pick(_NETWORK)
  for key in ("conv_channels", "mlp_sizes"):
    if key in network:
      network[key] = tuple(int(c) for c in network[key])
  config.network = dataclasses.replace(config.network, **network)
  impala = pick(_IMPALA_ONLY)
  if impala and config.base != "impala":
    raise RunError(f"{', '.join(impala)}: IMPALA settings; the base learner is {config.base}")
  if "unroll_length" in given:
    impala["sequence_length"] = given["unroll_length"]
  if "learning_rate" in given:
    impala["learning_rate"] = given["learning_rate"]
    config.r2d2 = dataclasses.replace(config.r2d2, learning_rate=given["learning_rate"])
  config.impala = dataclasses.replace(config.impala, **impala)
  config.validate()
  return config


# -- Config <-> JSON (resume reuses the run's own configuration). ---------------

def config_to_dict(config: ExperimentConfig) -> Dict[str, Any]:
  return dataclasses.asdict(config)


def config_from_dict(d: Dict[str, Any]) -> ExperimentConfig:
  d = dict(d)
  recip = dict(d.pop("reciprocator"))
  recip["influence"] = influence_config.InfluenceConfig(**recip["influence"])
  return ExperimentConfig(
      reciprocator=reciprocator_config.ReciprocatorConfig(**recip),
      network=networks_lib.NetworkConfig(**d.pop("network")),
      adapter=melting_pot.AdapterConfig(**d.pop("adapter")),
      impala=impala_config.ImpalaConfig(**d.pop("impala")),
      r2d2=r2d2_config.R2D2Config(**d.pop("r2d2")), **d)


def load_run_config(workdir: str) -> ExperimentConfig:
  """The configuration a run in `workdir` was started with (for --resume)."""
  path = os.path.join(os.path.abspath(os.path.expanduser(workdir)), records.CONFIG_FILE)
  try:
    with open(path) as f:
      return config_from_dict(json.load(f))
  except FileNotFoundError as e:
    raise RunError(f"--resume: {path} not found; is {workdir} a run directory?") from e
  except (json.JSONDecodeError, TypeError, KeyError) as e:
    raise RunError(f"--resume: {path} is not a readable run configuration ({e})") from e


