"""The experiment layer (modelled on Acme's ``acme/jax/experiments``).

- ``config``: ``ExperimentConfig`` (one run, JSON round trip, validation) and
  ``default_config`` (a substrate's preset turned into one), ``configure`` (a preset
  plus named settings, the way every launcher describes a run);
- ``factories``: the only place an agent is assembled (every run path and export);
- ``environment_loop``: substrate copies stepped by the joint actor, episode rows;
- ``run_loop``: ``run_experiment``, the single-process loop, and the run's records
  (``RunBook``);
- ``make_distributed_experiment``: ``run_distributed_experiment``, the learner as Ray
  driver and the actors as Ray actors;
- ``trainer``: ``train``, one run in a workdir, started or resumed, on either path;
- ``savers`` / ``checkpointing`` / ``records``: checkpoints, their paths, run tables.

Names are loaded on first use, so importing ``checkpointing`` or ``records`` (which
schedulers do to decide what to run) does not import TensorFlow. No exported name is
also a module name (importing a submodule sets the package attribute of its name).
"""

import importlib
from typing import Any

_EXPORTS = {
    "AGENTS": "config", "BASES": "config", "ExperimentConfig": "config",
    "RunError": "config", "default_config": "config", "config_to_dict": "config",
    "config_from_dict": "config", "load_run_config": "config", "configure": "config",
    "SETTINGS": "config",
    "Agent": "factories", "build_agent": "factories", "make_envs": "factories",
    "make_builder": "factories", "make_base_builder": "factories",
    "ActingLoop": "environment_loop",
    "RunBook": "run_loop", "run_experiment": "run_loop", "policy_fingerprint": "run_loop",
    "run_distributed_experiment": "make_distributed_experiment",
    "train": "trainer",
    "RunCheckpoint": "savers", "checkpointed_state": "savers", "working_copies": "savers",
}


def __getattr__(name: str) -> Any:
  if name not in _EXPORTS:
    raise AttributeError(f"module 'recip_acme.experiments' has no attribute {name!r}")
  module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
  return getattr(module, name)
