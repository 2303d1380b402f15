"""Melting Pot names and bot assets, checked up front with one-line errors.

Why: Melting Pot raises a bare ``KeyError`` for a misspelt substrate or scenario and a
TensorFlow ``OSError`` deep inside SavedModel loading when the background-bot assets
were not installed (our install falls back to an empty asset folder when the asset
host is unreachable; see ``launch/setup_meltingpot.py``). Users should instead read
one line that says what was wrong and what is allowed.
"""

from __future__ import annotations

import difflib
import os
from typing import Iterable, Sequence

ASSETS_HELP = ("install them with: make assets "
               "MELTINGPOT_ASSETS=/path/to/meltingpot-assets-2.3.0.tar.gz")


class UnknownNameError(ValueError):
  """A substrate or scenario name that Melting Pot does not have."""


class MissingBotAssetsError(RuntimeError):
  """An official scenario needs background-bot SavedModels that are not installed."""


def close_matches(name: str, valid: Iterable[str], n: int = 5) -> list[str]:
  """Up to `n` valid names that look like `name` (for 'did you mean' lines)."""
  valid = sorted(valid)
  matches = difflib.get_close_matches(name, valid, n=n, cutoff=0.5)
  if not matches:
    matches = [v for v in valid if name and (name in v or v in name)][:n]
  return matches


def _unknown(kind: str, name: str, valid: Iterable[str]) -> UnknownNameError:
  valid = sorted(valid)
  matches = close_matches(name, valid)
  hint = (f"close matches: {', '.join(matches)}" if matches else
          f"{len(valid)} known, e.g. {', '.join(valid[:5])}")
  return UnknownNameError(f"unknown {kind} {name!r}; {hint}")


def check_substrate(name: str) -> str:
  """Returns `name` if Melting Pot has that substrate, else raises UnknownNameError."""
  from meltingpot import substrate  # pylint: disable=g-import-not-at-top
  if name not in substrate.SUBSTRATES:
    raise _unknown("substrate", name, substrate.SUBSTRATES)
  return name


def check_scenario(name: str) -> str:
  """Returns `name` if Melting Pot has that scenario, else raises UnknownNameError."""
  from meltingpot import scenario  # pylint: disable=g-import-not-at-top
  if name not in scenario.SCENARIOS:
    raise _unknown("scenario", name, scenario.SCENARIOS)
  return name


def models_root() -> str:
  """The folder where Melting Pot looks for its background-bot SavedModels."""
  from meltingpot.configs import bots  # pylint: disable=g-import-not-at-top
  return bots.MODELS_ROOT


def scenario_bot_paths(scenario_name: str) -> dict[str, str]:
  """Bot name -> SavedModel path for every bot an official scenario may sample."""
  from meltingpot import scenario  # pylint: disable=g-import-not-at-top
  from meltingpot.configs import bots  # pylint: disable=g-import-not-at-top
  config = scenario.get_config(check_scenario(scenario_name))
  names = sorted({b for role_bots in config.bots_by_role.values() for b in role_bots})
  return {name: bots.BOT_CONFIGS[name].model_path for name in names}


def _is_saved_model(path: str) -> bool:
  return os.path.isfile(os.path.join(path, "saved_model.pb"))


def missing_bots(scenario_name: str) -> list[str]:
  """Names of the scenario's bots whose SavedModel is not installed."""
  return [name for name, path in scenario_bot_paths(scenario_name).items()
          if not _is_saved_model(path)]


def require_scenario_assets(scenario_names: str | Sequence[str]) -> None:
  """Raises MissingBotAssetsError (one line) unless every needed bot is installed."""
  if isinstance(scenario_names, str):
    scenario_names = [scenario_names]
  missing = sorted({b for s in scenario_names for b in missing_bots(s)})
  if missing:
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    raise MissingBotAssetsError(
        f"Melting Pot bot assets missing for {', '.join(scenario_names)} "
        f"({len(missing)} bots, e.g. {shown}) under {models_root()}; {ASSETS_HELP}, "
        "or pass --background=DIR to use exported agents as a custom background")


def build_official_scenario(name: str):
  """Builds an official Melting Pot scenario after checking its name and bot assets."""
  from meltingpot import scenario  # pylint: disable=g-import-not-at-top
  require_scenario_assets(name)
  return scenario.build(name)
