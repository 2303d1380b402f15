"""Melting Pot substrates as the joint environment the Reciprocator agents expect.

What the agents need from any Melting Pot 2.x substrate, and nothing else:
- per player: a (downsampled) RGB observation and a discrete action spec, as Acme
  `EnvironmentSpec`s, so a standard Acme learner can train each player;
- the *state* the influence estimators see: the global view ``WORLD.RGB``
  (downsampled, in [0, 1]) plus the step count, which players never see, and, with
  ``avatar_locations``, every avatar's cell and orientation (see below);
- every player's reward, and episode boundaries.

The 88x88 -> 11x11 area averaging (8x8 blocks) is the community default; the factor
is configurable. Observations stay uint8 so replay holds 4x less.

Why local views: an estimator of r_i(s, a) must see what each player's action does. In a
player's own view (Melting Pot's standard: 9 cells ahead, 1 behind, 5 to each side,
the avatar always at the same cell, facing up) an egocentric move always lands on the
same cell, so "FORWARD onto a coin" is one pixel's colour. `launch/voi_check.py`
measured it on coins with random play: fitted on WORLD.RGB (with or without avatar
locations) or on the full views, the estimators predict -0.03 to -0.33 on the steps the
partner takes a player's coin (actual -1.96) and VoI[partner, i] is -0.02 to -0.17
there; on the 3 x 3 cells around each avatar they predict -1.74 and VoI is -1.46 (ideal
-1.71), ~0.02 elsewhere (`results/voi_check/`). The local view is the coins preset's estimator state.

Why avatar locations: Melting Pot's moves are egocentric (FORWARD, STEP_LEFT, ...), and
on coins the avatar sprite does not rotate (``noRotates``), so no view of WORLD.RGB
shows where an action takes a player. Estimators of r(s, a) then cannot tell which
action takes a coin, and VoI carries no information. Melting Pot reports each avatar's
position and orientation through its own ``LocationObserver`` component, which the
substrate configs add behind their module switch ``_ENABLE_DEBUG_OBSERVATIONS``
(35 of the 2.4 substrates, coins and the *_in_the_matrix games included). The adapter
turns that switch on for its own build only (``_build_with_avatar_locations``) and
gives the positions and orientations to the estimators' state; players' observations
are unchanged (RGB only), and evaluation builds Melting Pot's scenarios untouched.
"""

from __future__ import annotations

import dataclasses
import contextlib
import functools
import importlib
import random
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import dm_env
import numpy as np
from acme import specs

from substrates import assets

# Melting Pot 2.x ends every substrate by this many steps at the latest.
MAX_EPISODE_STEPS = 5000
ESTIMATOR_VIEWS = ("world", "local")
RGB_POOLINGS = ("mean", "max")
# Melting Pot draws every object as an 8 x 8 sprite: one grid cell.
CELL_PIXELS = 8


@dataclasses.dataclass(frozen=True)
class AdapterConfig:
  """How raw Melting Pot observations are turned into agent inputs.

  Attributes:
    rgb_downsample: block size of the downsampling of each player's RGB (1 = off).
    rgb_pooling: how a block becomes one pixel: "mean" (area average) or "max" (per
      channel). Why "max": a coin covers a small part of its 8x8 cell, so the mean of
      the cell is dim, and on coins a blue and a red coin differ by at most 0.14 of
      full scale in any channel; the maximum keeps each sprite's own colour, 0.5 apart
      (results/coin_colours). Telling one's own coins from the partner's needs that.
    world_downsample: block size for the global WORLD.RGB state of the estimators.
    max_episode_steps: scale of the step-count feature (steps / this).
    episode_step_limit: if set, episodes are cut after this many steps (a
      truncation: discount stays 1, so learners still bootstrap). For short
      experiments and tests; Melting Pot's own episodes run 1000-5000 steps.
    avatar_locations: add every avatar's cell (scaled to [0, 1] by the world size)
      and orientation (one-hot N, E, S, W) to the estimators' state (module doc).
    estimator_view: what the estimators' state is built from. "world": WORLD.RGB
      downsampled by `world_downsample`; "local": every player's own view, only the
      (2 * local_radius + 1)^2 cells around its avatar, one colour per cell, pooled as
      `rgb_pooling` pools the players' RGB (module doc, "Why local views"). With the
      mean, the estimators charged own-coin takes 0.3-1.1x what they charged
      partner-coin takes (results/coins_centered_owed_harm_immediate_w3_max_s1).
    local_radius: cells on each side of the avatar kept by the "local" view.
    own_colour_channel: give each player's observation a fourth channel, 255 in every
      cell that holds a pixel of the player's own colour (`own_colour`, read from its
      own avatar), else 0. Why: a run plays 2-3 copies whose colours are drawn once, so
      players learn which colours were theirs in training, not "coins of my avatar's
      colour", and a scenario's fresh colours undo what they learned
      (results/coins_colour_memorisation). The channel says "mine" in any copy. It is
      computed from the player's own RGB only, so exported bots compute it in-graph
      (`recip_acme.export`) and it is legal for focal players.
    redraw_every: if > 0, each copy draws new colours and a new map (Melting Pot's own
      draw at build) every this many of its episodes, so that a colour cannot stand for
      "mine". Draw n of copy k of a run with seed s is seeded by (s, k, n): runs with one
      seed play the same draws (paired comparisons). A resumed run's copies start their
      draws over from the seed's first. Needs estimator_view "local" (a new map can
      change WORLD.RGB's size).
  """
  rgb_downsample: int = 8
  rgb_pooling: str = "mean"
  world_downsample: int = 8
  max_episode_steps: int = MAX_EPISODE_STEPS
  episode_step_limit: Optional[int] = None
  avatar_locations: bool = False
  estimator_view: str = "world"
  local_radius: int = 1
  own_colour_channel: bool = False
  redraw_every: int = 0

  def __post_init__(self):
    if self.rgb_pooling not in RGB_POOLINGS:
      raise ValueError(f"rgb_pooling must be one of {', '.join(RGB_POOLINGS)}; "
                       f"got {self.rgb_pooling!r}")
    if self.estimator_view not in ESTIMATOR_VIEWS:
      raise ValueError(f"estimator_view must be one of {', '.join(ESTIMATOR_VIEWS)}; "
                       f"got {self.estimator_view!r}")
    for name in ("rgb_downsample", "world_downsample", "max_episode_steps",
                 "episode_step_limit", "local_radius"):
      if getattr(self, name) is not None and getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
    if self.redraw_every < 0:
      raise ValueError(f"redraw_every must be >= 0 (0: never); got {self.redraw_every}")
    if self.redraw_every and self.estimator_view != "local":
      raise ValueError("redraw_every needs estimator_view 'local': a redrawn map can "
                       "change the size of WORLD.RGB, the 'world' view's state")


def area_downsample(image: np.ndarray, factor: int) -> np.ndarray:
  """Averages `factor` x `factor` blocks of an HxWxC image (uint8 in, uint8 out).

  OpenCV's INTER_AREA is exactly the block mean when the size divides (a test pins
  it against NumPy) and ~10x faster than NumPy here.
  """
  if factor == 1:
    return image
  height, width = image.shape[:2]
  out_h, out_w = max(1, height // factor), max(1, width // factor)
  return cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_AREA).reshape(
      out_h, out_w, -1)


@functools.lru_cache(maxsize=None)
def _block_kernel(factor: int) -> np.ndarray:
  return np.ones((factor, factor), np.uint8)


def max_downsample(image: np.ndarray, factor: int) -> np.ndarray:
  """Per-channel maxima of `factor` x `factor` blocks of an HxWxC image (uint8 in and
  out); rows and columns past the last whole block are dropped, as `downsampled_shape`
  says."""
  if factor == 1:
    return image
  out_h, out_w = max(1, image.shape[0] // factor), max(1, image.shape[1] // factor)
  # OpenCV's dilation with the kernel anchored at its corner puts each pixel's
  # factor x factor window maximum at that pixel; every block's top-left pixel is then
  # the block's maximum. This runs for every player's view and estimator cells on every
  # step: NumPy's reduction over the 5-D block view cost ~10x more (~500 us against ~40
  # us for an 88x88 view under load), one axis at a time ~3x more.
  peaks = cv2.dilate(image[:out_h * factor, :out_w * factor], _block_kernel(factor),
                     anchor=(0, 0))
  return peaks[::factor, ::factor].reshape(out_h, out_w, -1)


def downsample_rgb(image: np.ndarray, factor: int, pooling: str = "mean") -> np.ndarray:
  """A player's RGB as its policy sees it (AdapterConfig.rgb_downsample, rgb_pooling)."""
  return max_downsample(image, factor) if pooling == "max" else area_downsample(image, factor)


# Colours as one integer (R * 2^16 + G * 2^8 + B), and the weight of one pixel's vote in
# `own_colour`'s score (above any colour code, so counts decide before codes do).
COLOUR_CODE = np.array([1 << 16, 1 << 8, 1], np.int32)
COLOUR_COUNT_WEIGHT = 1 << 24


def own_colour(rgb: np.ndarray, avatar_cell: Tuple[int, int]) -> Optional[np.ndarray]:
  """The player's colour, read from its avatar in its own (raw) view; None if absent.

  It is the commonest colour of the avatar's cell other than the cell's top-left pixel,
  which Melting Pot's avatar sprites leave transparent (the floor shows). With Melting
  Pot's avatar palette (`shapes.get_palette`) that is the base colour '*', the colour
  the player's coins are drawn in on coins (tests/test_own_colour.py). Ties go to the
  smallest colour code, as in the in-graph twin `recip_acme.export.own_colour_mask`.
  """
  r, c = avatar_cell
  block = rgb[r * CELL_PIXELS:(r + 1) * CELL_PIXELS,
              c * CELL_PIXELS:(c + 1) * CELL_PIXELS].reshape(-1, 3)
  codes = block.astype(np.int32) @ COLOUR_CODE
  counts = (codes[:, None] == codes[None, :]).sum(1)
  weight = COLOUR_COUNT_WEIGHT
  score = np.where(codes != codes[0], counts * weight + (weight - 1 - codes), -1)
  best = int(np.argmax(score))
  return None if score[best] < 0 else block[best]


def own_colour_mask(rgb: np.ndarray, colour: Optional[np.ndarray], factor: int) -> np.ndarray:
  """uint8 [H/f, W/f, 1]: 255 in every block holding a pixel of `colour`, else 0.

  OpenCV's inRange with equal bounds is the exact-match test (~20x quicker than NumPy's
  comparison and reduction over channels on an 88x88 view; it runs per player per step).
  """
  if colour is None:
    mask = np.zeros(rgb.shape[:2], np.uint8)
  else:
    bound = tuple(int(v) for v in colour)
    mask = cv2.inRange(np.ascontiguousarray(rgb), bound, bound)
  return max_downsample(mask[..., None], factor)


def downsampled_shape(shape: Sequence[int], factor: int) -> tuple:
  if factor == 1:
    return tuple(shape)
  return (max(1, shape[0] // factor), max(1, shape[1] // factor)) + tuple(shape[2:])


class JointTimeStep(NamedTuple):
  """One step of all N players.

  observations: list of N per-player observations (uint8 RGB, downsampled).
  rewards: float32 [N] (zeros on the first step).
  discount: float, shared by all players.
  state: float32 [F], the estimators' global view (see module docstring).
  step: int, steps since the episode began.
  signals: the substrate's other per-player observations that are numbers (e.g.
    coins' MISMATCHED_COIN_COLLECTED_BY_PARTNER), stacked over players, for metrics.
  """
  step_type: dm_env.StepType
  observations: List[np.ndarray]
  rewards: np.ndarray
  discount: float
  state: np.ndarray
  step: int
  signals: Dict[str, np.ndarray]

  def first(self) -> bool:
    return self.step_type == dm_env.StepType.FIRST

  def last(self) -> bool:
    return self.step_type == dm_env.StepType.LAST

  def player(self, i: int) -> dm_env.TimeStep:
    """Player i's view, as a standard dm_env TimeStep (what Acme adders take)."""
    reward = None if self.first() else np.float32(self.rewards[i])
    discount = None if self.first() else np.float32(self.discount)
    return dm_env.TimeStep(self.step_type, reward, discount, self.observations[i])


AVATAR_OBSERVATIONS = ("POSITION", "ORIENTATION")
NUM_ORIENTATIONS = 4   # Melting Pot's N, E, S, W.


@contextlib.contextmanager
def _debug_observations(name: str):
  """Melting Pot's own switch for its substrates' debug observations, on for one build."""
  module = importlib.import_module(f"meltingpot.configs.substrates.{name}")
  if not hasattr(module, "_ENABLE_DEBUG_OBSERVATIONS"):
    raise ValueError(f"substrate {name!r} has no debug observations, so no avatar "
                     "locations; build it with avatar_locations=False")
  saved = module._ENABLE_DEBUG_OBSERVATIONS  # pylint: disable=protected-access
  module._ENABLE_DEBUG_OBSERVATIONS = True  # pylint: disable=protected-access
  try:
    yield
  finally:
    module._ENABLE_DEBUG_OBSERVATIONS = saved  # pylint: disable=protected-access


def _build_with_avatar_locations(name: str, roles: Sequence[str]):
  """The substrate with POSITION and ORIENTATION among each player's observations."""
  from meltingpot import substrate  # pylint: disable=g-import-not-at-top
  config = substrate.get_config(name)
  with config.unlocked():
    config.individual_observation_names = (list(config.individual_observation_names)
                                           + list(AVATAR_OBSERVATIONS))
  with _debug_observations(name):
    env = substrate.get_factory_from_config(config).build(roles)
  missing = [k for k in AVATAR_OBSERVATIONS if k not in env.observation_spec()[0]]
  if missing:
    env.close()
    raise ValueError(f"substrate {name!r} reports no {', '.join(missing)} for its avatars; "
                     "build it with avatar_locations=False")
  return env


@functools.lru_cache(maxsize=None)   # One build per substrate and roles, not per copy.
def episode_frame_limit(name: str, roles: Tuple[str, ...]) -> int:
  """The substrate's own `maxEpisodeLengthFrames` for `roles`, from its lab2d settings
  built by its config (Melting Pot's public `configs.substrates` API).

  Building them draws from Python's `random` (coins: map size, colours); the state is
  restored, so the maps `seeded_copies` gives stay those of a seed."""
  from meltingpot.configs import substrates as substrate_configs  # pylint: disable=g-import-not-at-top
  config = substrate_configs.get_config(name)
  state = random.getstate()
  try:
    settings = config.lab2d_settings_builder(roles=roles, config=config)
  finally:
    random.setstate(state)
  return int(settings.get("maxEpisodeLengthFrames", MAX_EPISODE_STEPS))


class MeltingPotSubstrate:
  """A Melting Pot substrate, all players controlled by one joint actor."""

  def __init__(self, name: str, config: AdapterConfig = AdapterConfig(),
               roles: Optional[Sequence[str]] = None,
               draw_key: Tuple[int, ...] = (0, 0)):
    """`draw_key` seeds the copy's redraws (AdapterConfig.redraw_every): `seeded_copies`
    gives (run seed, copy index)."""
    from meltingpot import substrate  # pylint: disable=g-import-not-at-top
    assets.check_substrate(name)
    self.name = name
    self.config = config
    factory = substrate.get_factory(name)
    self.roles = tuple(roles or factory.default_player_roles())
    self._draw_key = tuple(int(k) for k in draw_key)
    self._episodes = 0   # Episodes begun, for the redraws.
    self._env = self._build()
    self.num_players = len(self.roles)
    raw_obs = self._env.observation_spec()
    self._raw_rgb_shape = raw_obs[0]["RGB"].shape
    self._raw_world_shape = raw_obs[0]["WORLD.RGB"].shape
    self.num_actions = [int(a.num_values) for a in self._env.action_spec()]
    self.rgb_shape = downsampled_shape(self._raw_rgb_shape, config.rgb_downsample)
    if config.own_colour_channel:
      self.rgb_shape = self.rgb_shape[:-1] + (self.rgb_shape[-1] + 1,)
    self.world_shape = downsampled_shape(self._raw_world_shape, config.world_downsample)
    self._set_world_cells()
    locations = (2 + NUM_ORIENTATIONS) * self.num_players if config.avatar_locations else 0
    rows, cols = (self._raw_rgb_shape[0] // CELL_PIXELS, self._raw_rgb_shape[1] // CELL_PIXELS)
    # The avatar's cell in its own view: 1 cell from the bottom, centred (Melting Pot's
    # standard view; tests/test_avatar_locations.py checks it on coins).
    self.avatar_cell = (rows - 2, cols // 2)
    side = 2 * config.local_radius + 1
    if config.estimator_view == "local":
      r0, c0 = self.avatar_cell[0] - config.local_radius, self.avatar_cell[1] - config.local_radius
      if r0 < 0 or c0 < 0 or r0 + side > rows or c0 + side > cols:
        raise ValueError(f"local_radius {config.local_radius} does not fit the {rows}x{cols}"
                         f"-cell view around the avatar at {self.avatar_cell}")
      self._local_cells = (slice(r0, r0 + side), slice(c0, c0 + side))
      self._local_window = (slice(r0 * CELL_PIXELS, (r0 + side) * CELL_PIXELS),
                            slice(c0 * CELL_PIXELS, (c0 + side) * CELL_PIXELS))
      view_size = self.num_players * side * side * self._raw_rgb_shape[2]
    else:
      view_size = int(np.prod(self.world_shape))
    self.state_size = view_size + 1 + locations
    self.signal_names = sorted(k for k, v in raw_obs[0].items()
                               if k not in ("RGB", "WORLD.RGB", *AVATAR_OBSERVATIONS)
                               and len(v.shape) <= 1 and not k.startswith("WORLD."))
    self._step = 0
    # No episode is longer: the substrate's own frame limit, or our cut if shorter.
    limit = episode_frame_limit(name, self.roles)
    self.max_episode_steps = min(limit, config.episode_step_limit or limit)

  def _build(self):
    from meltingpot import substrate  # pylint: disable=g-import-not-at-top
    if self.config.avatar_locations:
      return _build_with_avatar_locations(self.name, self.roles)
    return substrate.get_factory(self.name).build(self.roles)

  def _set_world_cells(self) -> None:
    # Cells of the world view (sprites are 8x8 pixels), to scale positions into [0, 1].
    self._world_cells = np.array(self._raw_world_shape[1::-1], np.float32) / CELL_PIXELS

  def _redraw(self, draw: int) -> None:
    """Replaces the copy by Melting Pot's draw number `draw` of its key (colours, map)."""
    seed = np.random.SeedSequence([*self._draw_key, draw]).generate_state(1)[0]
    state = random.getstate()
    random.seed(int(seed))
    try:
      env = self._build()
    finally:
      random.setstate(state)
    self._env.close()
    self._env = env
    self._raw_world_shape = env.observation_spec()[0]["WORLD.RGB"].shape
    self._set_world_cells()

  @property
  def raw_rgb_shape(self) -> tuple:
    """The RGB shape Melting Pot gives players, before our downsampling."""
    return tuple(self._raw_rgb_shape)

  def player_spec(self, i: int) -> specs.EnvironmentSpec:
    """Player i's Acme spec. Actions are int64, as Melting Pot's action specs."""
    return specs.EnvironmentSpec(
        observations=specs.Array(self.rgb_shape, np.uint8, name="RGB"),
        actions=specs.DiscreteArray(self.num_actions[i], dtype=np.int64, name="action"),
        rewards=specs.Array((), np.float32, name="reward"),
        discounts=specs.BoundedArray((), np.float32, 0.0, 1.0, name="discount"))

  def _convert(self, timestep: dm_env.TimeStep) -> JointTimeStep:
    factor = self.config.rgb_downsample
    observations = [downsample_rgb(obs["RGB"], factor, self.config.rgb_pooling)
                    for obs in timestep.observation]
    if self.config.own_colour_channel:
      players = [np.concatenate([pooled, own_colour_mask(
          obs["RGB"], own_colour(obs["RGB"], self.avatar_cell), factor)], axis=-1)
                 for pooled, obs in zip(observations, timestep.observation)]
    else:
      players = observations
    if self.config.estimator_view == "local" and factor == CELL_PIXELS:
      # The window is whole cells, so its pooled cells are the policy view's (pooling
      # is the adapter's largest cost per step; this halves it).
      view = np.concatenate([obs[self._local_cells].reshape(-1) for obs in observations])
    elif self.config.estimator_view == "local":
      view = np.concatenate([
          downsample_rgb(obs["RGB"][self._local_window], CELL_PIXELS,
                         self.config.rgb_pooling).reshape(-1)
          for obs in timestep.observation])
    else:
      view = area_downsample(timestep.observation[0]["WORLD.RGB"],
                             self.config.world_downsample).reshape(-1)
    parts = [view.astype(np.float32) / 255.0, [self._step / self.config.max_episode_steps]]
    if self.config.avatar_locations:
      parts.append(self._avatar_features(timestep.observation))
    state = np.concatenate(parts).astype(np.float32)
    rewards = (np.zeros(self.num_players, np.float32) if timestep.reward is None
               else np.asarray(timestep.reward, np.float32))
    discount = 1.0 if timestep.discount is None else float(timestep.discount)
    signals = {k: np.stack([np.asarray(obs[k], np.float32) for obs in timestep.observation])
               for k in self.signal_names}
    return JointTimeStep(timestep.step_type, players, rewards, discount, state,
                         self._step, signals)

  def _avatar_features(self, observations) -> np.ndarray:
    """Per player: (x, y) / world cells, then one-hot orientation (N, E, S, W)."""
    out = np.zeros((self.num_players, 2 + NUM_ORIENTATIONS), np.float32)
    for i, obs in enumerate(observations):
      out[i, :2] = np.asarray(obs["POSITION"], np.float32) / self._world_cells
      out[i, 2 + int(obs["ORIENTATION"]) % NUM_ORIENTATIONS] = 1.0
    return out.reshape(-1)

  def reset(self) -> JointTimeStep:
    every = self.config.redraw_every
    if every and self._episodes and self._episodes % every == 0:
      self._redraw(self._episodes // every)
    self._episodes += 1
    self._step = 0
    return self._convert(self._env.reset())

  def step(self, actions: Sequence[int]) -> JointTimeStep:
    self._step += 1
    timestep = self._env.step([int(a) for a in actions])
    limit = self.config.episode_step_limit
    if limit is not None and self._step >= limit and not timestep.last():
      timestep = timestep._replace(step_type=dm_env.StepType.LAST)
    return self._convert(timestep)

  def raw_step(self, actions: Sequence[int]) -> dm_env.TimeStep:
    """The substrate's own step, no conversion (for the throughput benchmark)."""
    return self._env.step([int(a) for a in actions])

  def raw_reset(self) -> dm_env.TimeStep:
    return self._env.reset()

  def close(self) -> None:
    self._env.close()


@contextlib.contextmanager
def recorded_colour_draws() -> Iterator[List[Tuple[str, str]]]:
  """Within the block, every coins copy built appends its (player 0's colour, player
  1's colour) to the yielded list: Melting Pot's own config function is wrapped, not
  changed, and restored on exit."""
  from meltingpot.configs.substrates import coins  # pylint: disable=g-import-not-at-top
  drawn, original = [], coins.get_player_color_palettes

  def recording(coin_type_a, coin_type_b):
    drawn.append(tuple(c.replace("coin_", "") for c in (coin_type_a, coin_type_b)))
    return original(coin_type_a=coin_type_a, coin_type_b=coin_type_b)

  coins.get_player_color_palettes = recording
  try:
    yield drawn
  finally:
    coins.get_player_color_palettes = original


def seeded_copies(name: str, config: AdapterConfig, count: int,
                  seed: int) -> List["MeltingPotSubstrate"]:
  """`count` copies of the substrate, their maps fixed by `seed`.

  Melting Pot draws each copy's map (coins: its size, 10-15 cells a side, fixed for
  the copy's life) and colours from Python's `random` when the copy is built: seeded
  here, so runs with one seed play the same maps whatever the agent (paired
  comparisons), a resumed run plays the maps it played before, and a reference
  measured with the seed plays them too. Copy k's redraws (AdapterConfig.redraw_every)
  are keyed by (seed, k).
  """
  random.seed(seed)
  return [MeltingPotSubstrate(name, config, draw_key=(seed, k)) for k in range(count)]
