"""Evaluate exported populations on Melting Pot scenarios, and against each other.

Everything here runs through Melting Pot's own machinery: its `SavedModelPolicy` for
our exported models, its `Population` for the focal players, its `ScenarioFactory`
for the scenario (official bots, or a custom background population), and its
`run_and_observe_episodes` for the returns. A result produced with a custom
background says so in its `background` column ("custom:<population>"); such rows are
never comparable with the published baselines (launch.compare refuses to rank them).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import tempfile
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from substrates import assets
from substrates import metrics
from recip_acme import export
from recip_acme.experiments import records

OFFICIAL = "official"
CUSTOM_PREFIX = "custom:"
EPISODE_COLUMNS = ("scenario", "substrate", "agent", "episode", "focal_per_capita_return",
                   "background_per_capita_return", "background", "focal_players",
                   "background_players")
# Coins only: per episode, the focal players' mean coins by kind (CoinEvents).
COIN_EVENT_COLUMNS = ("focal_own_coins", "focal_partner_coins", "focal_coins_lost")


class CoinEvents:
  """Per episode of coins, what the focal players' return is made of.

  Why: a focal return alone cannot say how a player is exploited. In 2-player coins a
  focal player's return is own + partner - 2 * lost (coins of its own colour it
  took, its partner's coins it took, and its coins the partner took), so these three
  counts tell a player that collects too little from one whose coins are taken.
  Read from the substrate's own timesteps (every player, before the scenario hides the
  background's), whose players are in the scenario's slot order (`is_focal`).
  """

  def __init__(self, is_focal: Sequence[bool]):
    self._focal = np.asarray(is_focal, bool)
    self._tally: Optional[metrics.CoinsTally] = None
    self.rows: List[Dict[str, float]] = []

  def __call__(self, timestep) -> None:
    if timestep.first():
      self._tally = metrics.CoinsTally(len(self._focal))
      return
    rewards = np.array([float(r) for r in timestep.reward])
    signals = {metrics.MISMATCH: np.array([float(o[metrics.MISMATCH])
                                           for o in timestep.observation])}
    self._tally.add(rewards, signals)
    if timestep.last():
      own, partner = self._tally.own, self._tally.other
      lost = partner[::-1]              # My coins my partner took.
      self.rows.append({"focal_own_coins": float(own[self._focal].mean()),
                        "focal_partner_coins": float(partner[self._focal].mean()),
                        "focal_coins_lost": float(lost[self._focal].mean())})


@dataclasses.dataclass
class LoadedPopulation:
  """An export directory and its manifest."""
  directory: str
  manifest: export.ExportManifest
  name: str

  def names_by_role(self, roles: Sequence[str]) -> Dict[str, List[str]]:
    """Which of our models may fill each role: those exported for it, else all.

    Substrates whose players all share the role "default" (most of them) take any
    model; substrates with distinct roles get the models trained in that role.
    """
    out = {}
    for role in set(roles):
      matching = [p.name for p in self.manifest.players if p.role == role]
      out[role] = matching or [p.name for p in self.manifest.players]
    return out

  def model_paths(self) -> Dict[str, str]:
    return self.manifest.model_paths(self.directory)


def load_population(directory: str, name: Optional[str] = None,
                    players: Optional[Sequence[int]] = None) -> LoadedPopulation:
  """An export directory, or a training workdir (exported on first use into
  WORKDIR/export, which later calls reuse). `players` keeps only those trained players
  (e.g. the Reciprocator of a run with naive learners beside it); the name says so."""
  directory = os.path.abspath(os.path.expanduser(directory))
  if not os.path.isdir(directory):
    raise export.ExportError(f"{directory} does not exist; pass an export directory "
                             "(launch.export) or a training workdir (launch.train)")
  if not os.path.exists(os.path.join(directory, export.MANIFEST)):
    if os.path.exists(os.path.join(directory, records.CONFIG_FILE)):
      exported = os.path.join(directory, "export")
      if not os.path.exists(os.path.join(exported, export.MANIFEST)):
        _export_once(directory, exported)
      directory = exported
  manifest = export.ExportManifest.load(directory)
  default = os.path.basename(directory.rstrip("/"))
  if default == "export":
    default = os.path.basename(os.path.dirname(directory.rstrip("/")))
  if players is not None:
    manifest = _keep_players(manifest, players, directory)
    default += "_p" + "_".join(str(p) for p in players)
  return LoadedPopulation(directory, manifest, name or default)


def model_pairings(focal: LoadedPopulation, background: LoadedPopulation
                   ) -> List[Tuple[LoadedPopulation, LoadedPopulation]]:
  """Every model of `focal` against every model of `background`, one pair of
  one-model populations each, under the populations' own names.

  Why: a population samples one of its models per episode, and on coins the two models
  of one run can differ by 50 points per episode against the same partner (one learned
  to exploit the other), so a focal mean over a few sampled episodes mostly says which
  models were drawn. Equal episodes per pairing make the mean a balanced one, and the
  per-pairing cells (summary_by_player.csv) comparable between focal populations.
  """
  def one(population, player):
    return dataclasses.replace(population, manifest=_keep_players(
        population.manifest, [player.player], population.directory))
  return [(one(focal, f), one(background, b))
          for f in focal.manifest.players for b in background.manifest.players]


def _keep_players(manifest: export.ExportManifest, players: Sequence[int],
                  directory: str) -> export.ExportManifest:
  available = sorted(p.player for p in manifest.players)
  unknown = sorted(set(players) - set(available))
  if unknown or not players:
    raise export.ExportError(f"players {list(players)}: {directory} holds players "
                             f"{available}")
  kept = [p for p in manifest.players if p.player in set(players)]
  return dataclasses.replace(manifest, players=kept)


def _export_once(workdir: str, exported: str) -> None:
  """Exports into a private folder, then renames it into place: two evaluations of the
  same workdir at once never see a half-written export."""
  partial = tempfile.mkdtemp(prefix="export.partial-", dir=workdir)
  try:
    export.export_run(workdir, partial)
    try:
      os.rename(partial, exported)
    except OSError:
      if not os.path.exists(os.path.join(exported, export.MANIFEST)):
        raise
  finally:
    shutil.rmtree(partial, ignore_errors=True)


def resolve_scenarios(names: Sequence[str]) -> List[str]:
  """Scenario names; a substrate name stands for all of its scenarios."""
  from meltingpot import scenario  # pylint: disable=g-import-not-at-top
  from meltingpot import substrate  # pylint: disable=g-import-not-at-top
  out = []
  for name in names:
    if name in scenario.SCENARIOS:
      out.append(name)
    elif name in substrate.SUBSTRATES:
      out.extend(sorted(scenario.SCENARIOS_BY_SUBSTRATE.get(name, ())))
    else:
      valid = sorted(scenario.SCENARIOS) + sorted(substrate.SUBSTRATES)
      matches = assets.close_matches(name, valid)
      hint = f"; did you mean {', '.join(matches)}?" if matches else ""
      raise assets.UnknownNameError(
          f"unknown scenario or substrate {name!r}{hint} "
          "(pass a scenario name, or a substrate name for all its scenarios)")
  return list(dict.fromkeys(out))


def _saved_model_factory(substrate_name: str, path: str):
  from meltingpot import substrate  # pylint: disable=g-import-not-at-top
  from meltingpot.utils.policies import policy_factory  # pylint: disable=g-import-not-at-top
  from meltingpot.utils.policies import saved_model_policy  # pylint: disable=g-import-not-at-top
  factory = substrate.get_factory(substrate_name)
  return policy_factory.PolicyFactory(
      timestep_spec=factory.timestep_spec(), action_spec=factory.action_spec(),
      builder=functools.partial(saved_model_policy.SavedModelPolicy, path))


def custom_scenario_factory(substrate_name: str, roles: Sequence[str],
                            is_focal: Sequence[bool], background: LoadedPopulation):
  """A ScenarioFactory with `background`'s models in the non-focal slots."""
  from meltingpot import scenario  # pylint: disable=g-import-not-at-top
  from meltingpot import substrate  # pylint: disable=g-import-not-at-top
  from meltingpot.utils.scenarios import scenario_factory  # pylint: disable=g-import-not-at-top
  _check_population_substrate(background, substrate_name, "--background")
  background_roles = [r for r, focal in zip(roles, is_focal) if not focal]
  bots = {name: _saved_model_factory(substrate_name, path)
          for name, path in background.model_paths().items()}
  return scenario_factory.ScenarioFactory(
      substrate=substrate.get_factory(substrate_name), bots=bots,
      bots_by_role=background.names_by_role(background_roles), roles=roles,
      is_focal=is_focal, permitted_observations=scenario.PERMITTED_OBSERVATIONS)


def _check_population_substrate(population: LoadedPopulation, substrate_name: str,
                                what: str) -> None:
  if population.manifest.substrate != substrate_name:
    raise export.ExportError(
        f"{what} {population.directory} was trained on {population.manifest.substrate!r}, "
        f"not {substrate_name!r}")


def _focal_population(population: LoadedPopulation, roles: Sequence[str]):
  from meltingpot.utils.policies import saved_model_policy  # pylint: disable=g-import-not-at-top
  from meltingpot.utils.scenarios import population as population_lib  # pylint: disable=g-import-not-at-top
  policies = {name: saved_model_policy.SavedModelPolicy(path)
              for name, path in population.model_paths().items()}
  return population_lib.Population(policies=policies,
                                   names_by_role=population.names_by_role(roles), roles=roles)


def _run_episodes(factory, focal: LoadedPopulation, num_episodes: int,
                  video_root: Optional[str] = None,
                  coin_events: Optional[CoinEvents] = None) -> pd.DataFrame:
  """Melting Pot's own episode loop: `focal` in the focal slots of `factory`'s scenario
  (with `coin_events`, its counts become columns of the result)."""
  from meltingpot.utils.evaluation import evaluation  # pylint: disable=g-import-not-at-top
  population = _focal_population(focal, factory.focal_player_roles())
  try:
    with factory.build() as env:
      subscription = (env.observables().substrate.timestep.subscribe(on_next=coin_events)
                      if coin_events is not None else None)
      try:
        df = evaluation.run_and_observe_episodes(population=population, substrate=env,
                                                 num_episodes=num_episodes,
                                                 video_root=video_root)
      finally:
        if subscription is not None:
          subscription.dispose()
  finally:
    population.close()
  if coin_events is not None:
    df = df.join(pd.DataFrame(coin_events.rows, index=df.index))
  return df


def _coin_events(substrate_name: str, is_focal: Sequence[bool]) -> Optional[CoinEvents]:
  return CoinEvents(is_focal) if metrics.has_coin_tally(substrate_name) else None


def _rows(df: pd.DataFrame, scenario_name: str, substrate_name: str, agent: str,
          background: str) -> pd.DataFrame:
  out = pd.DataFrame({
      "scenario": scenario_name, "substrate": substrate_name, "agent": agent,
      "episode": range(len(df)),
      "focal_per_capita_return": df["focal_per_capita_return"].astype(float).values,
      "background_per_capita_return": df["background_per_capita_return"].astype(float).values,
      "background": background,
      "focal_players": [" ".join(n) for n in df["focal_player_names"]],
      "background_players": [" ".join(n) for n in df["background_player_names"]],
  })
  columns = list(EPISODE_COLUMNS)
  for extra in ("video_path",) + COIN_EVENT_COLUMNS:
    if extra in df:
      out[extra] = df[extra].values
      columns.append(extra)
  return out[columns]


def evaluate_on_scenario(focal: LoadedPopulation, scenario_name: str, num_episodes: int,
                         background: Optional[LoadedPopulation] = None,
                         video_dir: Optional[str] = None) -> pd.DataFrame:
  """One row per episode of `focal` on a scenario (official bots, or `background`)."""
  from meltingpot import scenario  # pylint: disable=g-import-not-at-top
  config = scenario.get_config(assets.check_scenario(scenario_name))
  _check_population_substrate(focal, config.substrate, "--agents")
  if background is None:
    assets.require_scenario_assets(scenario_name)
    factory = scenario.get_factory(scenario_name)
    source = OFFICIAL
  else:
    factory = custom_scenario_factory(config.substrate, config.roles, config.is_focal,
                                      background)
    source = CUSTOM_PREFIX + background.name
  video_root = os.path.join(video_dir, scenario_name) if video_dir else None
  if video_root:
    os.makedirs(video_root, exist_ok=True)   # Melting Pot's video subject needs it.
  df = _run_episodes(factory, focal, num_episodes, video_root,
                     _coin_events(config.substrate, config.is_focal))
  return _rows(df, scenario_name, config.substrate, focal.name, source)


SUMMARY_KEYS = ("scenario", "substrate", "agent", "background")


def summarize(episodes: pd.DataFrame, by_player: bool = False) -> pd.DataFrame:
  """Mean, std and count of focal per-capita return per scenario, agent, background
  (with `by_player`, also per focal and background models that played: a population
  holds one model per trained player, and the models of one run can differ a lot, e.g.
  one player of a coins pair exploiting the other)."""
  keys = list(SUMMARY_KEYS) + (["focal_players", "background_players"] if by_player else [])
  grouped = episodes.groupby(keys, sort=True)
  summary = grouped["focal_per_capita_return"].agg(["mean", "std", "count"]).reset_index()
  summary = summary.rename(columns={"mean": "focal_per_capita_return",
                                    "std": "focal_per_capita_return_std",
                                    "count": "episodes"})
  means = ["background_per_capita_return"] + [c for c in COIN_EVENT_COLUMNS if c in episodes]
  summary[means] = grouped[means].mean().reset_index(drop=True).values
  return summary


def crossplay(populations: Sequence[LoadedPopulation], num_episodes: int,
              focal_fraction: float = 0.5) -> pd.DataFrame:
  """Every population as focal against every population as background, on their
  substrate: round(focal_fraction * N) focal slots (at least 1, at most N-1)."""
  from meltingpot import substrate  # pylint: disable=g-import-not-at-top
  substrates = {p.manifest.substrate for p in populations}
  if len(substrates) != 1:
    raise export.ExportError(f"--crossplay needs populations of one substrate; got "
                             f"{sorted(substrates)}")
  substrate_name = substrates.pop()
  names = [p.name for p in populations]
  if len(set(names)) != len(names):
    raise export.ExportError(f"population names must differ; got {names}")
  roles = list(substrate.get_factory(substrate_name).default_player_roles())
  n = len(roles)
  num_focal = min(n - 1, max(1, round(focal_fraction * n)))
  is_focal = [i < num_focal for i in range(n)]
  rows = []
  for focal in populations:
    for background in populations:
      factory = custom_scenario_factory(substrate_name, roles, is_focal, background)
      df = _run_episodes(factory, focal, num_episodes,
                         coin_events=_coin_events(substrate_name, is_focal))
      rows.append(_rows(df, f"crossplay:{substrate_name}", substrate_name, focal.name,
                        CUSTOM_PREFIX + background.name))
  return pd.concat(rows, ignore_index=True)


def crossplay_matrix(episodes: pd.DataFrame) -> pd.DataFrame:
  """focal population (rows) x background population (columns): mean focal return."""
  table = episodes.assign(background=episodes["background"].str.replace(CUSTOM_PREFIX, "", regex=False))
  return table.pivot_table(index="agent", columns="background",
                           values="focal_per_capita_return", aggfunc="mean")


def plot_crossplay(matrix: pd.DataFrame, path: str, title: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(1.6 * len(matrix.columns) + 2.5, 1.2 * len(matrix) + 1.8))
  image = ax.imshow(matrix.values, cmap="viridis")
  ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=30, ha="right")
  ax.set_yticks(range(len(matrix.index)), matrix.index)
  ax.set_xlabel("background population")
  ax.set_ylabel("focal population")
  for (r, c), value in pd.DataFrame(matrix.values).stack().items():
    ax.text(c, r, f"{value:.2f}", ha="center", va="center", color="w")
  fig.colorbar(image, ax=ax, label="focal per-capita return")
  ax.set_title(title)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def write_results(episodes: pd.DataFrame, out_dir: str, prefix: str = "") -> Mapping[str, str]:
  """episodes.csv and summary.csv (+ summary.md) under out_dir."""
  os.makedirs(out_dir, exist_ok=True)
  paths = {k: os.path.join(out_dir, f"{prefix}{k}") for k in
           ("episodes.csv", "summary.csv", "summary_by_player.csv", "summary.md")}
  episodes.to_csv(paths["episodes.csv"], index=False)
  summary = summarize(episodes)
  summary.to_csv(paths["summary.csv"], index=False)
  summarize(episodes, by_player=True).to_csv(paths["summary_by_player.csv"], index=False)
  with open(paths["summary.md"], "w") as f:
    f.write(summary.to_markdown(index=False, floatfmt=".3f") + "\n")
    if summary["background"].str.startswith(CUSTOM_PREFIX).any():
      f.write("\nRows with background 'custom:...' ran our own populations in the "
              "background slots: not comparable with Melting Pot's published results.\n")
  return paths
