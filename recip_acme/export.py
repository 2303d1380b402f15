"""Export trained players as Melting Pot bots: one TF2 SavedModel per player.

Melting Pot evaluates focal agents and background bots through
`meltingpot.utils.policies.saved_model_policy.SavedModelPolicy`, which loads a
SavedModel through its `PermissiveModel` and calls, on unbatched inputs,

    initial_state(key) -> (key, state)
    step(key, timestep, prev_state) -> (key, ((action, policy_info), state))

PermissiveModel also calls `function_signatures()` (each method's parameter names and
kinds) and `function_tables()` (hash tables to initialise; we have none), and it binds
arguments by path against each method's single concrete signature. Our step signature
names only the permitted observations the policy reads (`RGB`), so every other
observation a scenario or substrate sends is dropped by Melting Pot itself, and a
model can never depend on an observation focal players are not given. A network that
reads its previous reward and action (``NetworkConfig.observe_last_step``) also binds
`timestep.reward` (each focal player's own, which Melting Pot gives it, zero on FIRST)
and keeps its previous action in its recurrent state.

The preprocessing the trainer applied in `substrates.melting_pot` (block-mean or
block-max downsampling of RGB, and with ``own_colour_channel`` the player's own-colour
channel) runs inside the model, so a raw Melting Pot observation is the
input and nothing is needed on the Melting Pot side.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import sonnet as snt
import tensorflow as tf
import tree

from recip_acme.experiments import checkpointing
from recip_acme import networks as networks_lib
from recip_acme.agents.impala import builder as impala_builder
from substrates import melting_pot

MANIFEST = "manifest.json"
# What the policy networks read; each must be a permitted focal observation.
POLICY_OBSERVATIONS = ("RGB",)
ACTION_MODES = ("sample", "greedy")


class ExportError(ValueError):
  """A problem with an export's inputs, said in one line."""


def downsample_rgb(image: tf.Tensor, factor: int, pooling: str = "mean") -> tf.Tensor:
  """uint8 [H, W, C] -> uint8 [H//f, W//f, C] block means (rounded to nearest) or,
  with pooling "max", per-channel block maxima.

  The in-graph twin of `substrates.melting_pot.downsample_rgb` (for means, OpenCV's
  INTER_AREA); a test pins the two against each other.
  """
  if factor == 1:
    return image
  height, width, channels = image.shape
  if height % factor or width % factor:
    # OpenCV weighs fractional pixels then; a block mean would not match training.
    raise ExportError(f"RGB of {height}x{width} is not divisible by the downsampling "
                      f"factor {factor}; export supports factors that divide it")
  out_h, out_w = height // factor, width // factor
  x = tf.cast(image, tf.float32)
  x = tf.reshape(x, [out_h, factor, out_w, factor, channels])
  if pooling == "max":
    return tf.cast(tf.reduce_max(x, axis=[1, 3]), tf.uint8)
  x = tf.reduce_mean(x, axis=[1, 3])
  return tf.cast(tf.clip_by_value(tf.floor(x + 0.5), 0.0, 255.0), tf.uint8)


def own_colour_mask(image: tf.Tensor, avatar_cell: Tuple[int, int], factor: int) -> tf.Tensor:
  """uint8 [H, W, 3] -> uint8 [H//f, W//f, 1]: the in-graph twin of
  `substrates.melting_pot.own_colour` followed by `own_colour_mask` (a test pins them)."""
  size = melting_pot.CELL_PIXELS
  r, c = avatar_cell
  block = tf.reshape(tf.cast(image[r * size:(r + 1) * size, c * size:(c + 1) * size],
                             tf.int32), [-1, 3])
  codes = tf.reduce_sum(block * tf.constant(melting_pot.COLOUR_CODE), -1)
  counts = tf.reduce_sum(tf.cast(tf.equal(codes[:, None], codes[None, :]), tf.int32), 1)
  weight = melting_pot.COLOUR_COUNT_WEIGHT
  score = tf.where(tf.not_equal(codes, codes[0]), counts * weight + (weight - 1 - codes), -1)
  best = tf.argmax(score)
  mask = tf.logical_and(tf.reduce_all(tf.equal(tf.cast(image, tf.int32), block[best]), -1),
                        score[best] >= 0)
  return downsample_rgb(tf.cast(mask, tf.uint8)[..., None] * 255, factor, "max")


class MeltingPotBot(tf.Module):
  """A trained policy network with Melting Pot's SavedModel bot interface."""

  def __init__(self, network: snt.RNNCore, network_config: networks_lib.NetworkConfig,
               rgb_shape: Sequence[int], rgb_downsample: int, action_mode: str = "sample",
               rgb_pooling: str = "mean", own_colour_cell: Optional[Tuple[int, int]] = None):
    """`own_colour_cell`: the avatar's cell in the player's view, if the network reads
    the own-colour channel (AdapterConfig.own_colour_channel); None if not."""
    super().__init__(name="recip_acme_bot")
    self._own_colour_cell = own_colour_cell
    downsample_rgb(tf.zeros(rgb_shape, tf.uint8), rgb_downsample)   # Checks the factor.
    if action_mode not in ACTION_MODES:
      raise ExportError(f"unknown action mode {action_mode!r}; valid: {', '.join(ACTION_MODES)}")
    self._network = network
    self._config = network_config
    self._downsample = int(rgb_downsample)
    self._pooling = rgb_pooling
    self._action_mode = action_mode
    self._state_template = tree.map_structure(lambda x: x[0], network.initial_state(1))
    flat_state = tree.flatten(self._state_template)
    key_spec = tf.TensorSpec([2], tf.uint32, name="key")
    state_spec = tuple(tf.TensorSpec(x.shape, x.dtype) for x in flat_state)
    timestep_spec = {
        "step_type": tf.TensorSpec([], tf.int32),
        "observation": {"RGB": tf.TensorSpec(list(rgb_shape), tf.uint8)},
    }
    if network_config.last_step_inputs:   # The player's reward, and its last action.
      timestep_spec["reward"] = tf.TensorSpec([], tf.float32)
      state_spec += (tf.TensorSpec([], tf.int32),)
    self.initial_state = tf.function(self._initial_state, input_signature=[key_spec])
    self.step = tf.function(self._step, input_signature=[key_spec, timestep_spec, state_spec])
    self.function_signatures = tf.function(self._function_signatures, input_signature=[])
    self.function_tables = tf.function(lambda: {}, input_signature=[])

  def _initial_state(self, key):
    state = tree.map_structure(lambda x: x[0], self._network.initial_state(1))
    previous_action = (tf.zeros([], tf.int32),) if self._config.last_step_inputs else ()
    return key, tuple(tree.flatten(state)) + previous_action

  def _step(self, key, timestep, prev_state):
    seeds = tf.random.experimental.stateless_split(tf.cast(key, tf.int64), num=2)
    next_key = tf.cast(seeds[0], tf.uint32)
    first = tf.equal(timestep["step_type"], 0)     # StepType.FIRST: start afresh.
    _, initial = self._initial_state(key)
    state = tuple(tf.where(first, i, s) for i, s in zip(initial, prev_state))
    num_core = len(tree.flatten(self._state_template))
    state, previous_action = state[:num_core], state[num_core:]
    state = tree.unflatten_as(self._state_template, list(state))
    rgb = downsample_rgb(timestep["observation"]["RGB"], self._downsample, self._pooling)
    if self._own_colour_cell is not None:
      rgb = tf.concat([rgb, own_colour_mask(timestep["observation"]["RGB"],
                                            self._own_colour_cell, self._downsample)], -1)
    last_step = None
    if self._config.last_step_inputs:   # As networks.last_step_features: zeros on FIRST.
      features = tf.concat([tf.reshape(tf.cast(timestep["reward"], tf.float32), [1]),
                            tf.one_hot(previous_action[0], self._config.last_step_inputs - 1)], 0)
      last_step = tf.where(first, tf.zeros_like(features), features)[None]
    batched_state = tree.map_structure(lambda x: x[None], state)
    outputs, new_state = self._network(
        networks_lib.policy_inputs(self._config, rgb[None], last_step), batched_state)
    scores = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
    scores = scores[0]
    if self._action_mode == "greedy":
      action = tf.argmax(scores, output_type=tf.int32)
    else:   # A draw from the policy's logits, with training's own sampler.
      action = impala_builder.sample_categorical(scores, seeds[1], tf.int32)
    new_state = tuple(tree.flatten(tree.map_structure(lambda x: x[0], new_state)))
    if self._config.last_step_inputs:
      new_state += (action,)
    return next_key, ((action, {"scores": scores}), new_state)

  def _function_signatures(self):
    kind = int(inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = lambda *names: [(tf.constant(n), tf.constant(kind)) for n in names]
    return {"initial_state": params("key"), "step": params("key", "timestep", "prev_state")}


@dataclasses.dataclass
class ExportedPlayer:
  name: str
  path: str        # Relative to the export directory.
  player: int
  role: str


@dataclasses.dataclass
class ExportManifest:
  """What an export directory holds (written as manifest.json beside the models)."""
  substrate: str
  agent: str
  base: str
  players: List[ExportedPlayer]
  source: str = ""
  env_steps: int = 0
  action_mode: str = "sample"

  def save(self, directory: str) -> None:
    with open(os.path.join(directory, MANIFEST), "w") as f:
      json.dump(dataclasses.asdict(self), f, indent=1)

  @classmethod
  def load(cls, directory: str) -> "ExportManifest":
    path = os.path.join(directory, MANIFEST)
    try:
      with open(path) as f:
        d = json.load(f)
      d["players"] = [ExportedPlayer(**p) for p in d["players"]]
      return cls(**d)
    except FileNotFoundError as e:
      raise ExportError(f"{directory} is not an exported population (no {MANIFEST}); "
                        "make one with python -m launch.export") from e
    except (json.JSONDecodeError, TypeError, KeyError) as e:
      raise ExportError(f"{path} is not a readable export manifest ({e})") from e

  def model_paths(self, directory: str) -> Dict[str, str]:
    return {p.name: os.path.join(directory, p.path) for p in self.players}


def check_permitted(observations: Sequence[str] = POLICY_OBSERVATIONS) -> None:
  """Every observation a bot reads must be one scenarios give focal players."""
  from meltingpot import scenario  # pylint: disable=g-import-not-at-top
  extra = sorted(set(observations) - set(scenario.PERMITTED_OBSERVATIONS))
  if extra:
    raise ExportError(f"policies read {extra}, which scenarios do not give focal players; "
                      f"permitted: {sorted(scenario.PERMITTED_OBSERVATIONS)}")


def save_bot(bot: MeltingPotBot, path: str) -> None:
  tf.saved_model.save(bot, path)


def export_run(workdir: str, out: str, name_prefix: Optional[str] = None,
               action_mode: Optional[str] = None) -> ExportManifest:
  """Writes one SavedModel per player of the training run in `workdir` to `out`."""
  from acme.tf import savers as tf2_savers  # pylint: disable=g-import-not-at-top
  from acme.utils import counting  # pylint: disable=g-import-not-at-top
  from meltingpot import substrate as mp_substrate  # pylint: disable=g-import-not-at-top
  from recip_acme import experiments  # pylint: disable=g-import-not-at-top

  check_permitted()
  workdir = os.path.abspath(os.path.expanduser(workdir))
  try:
    config = experiments.load_run_config(workdir)
  except experiments.RunError as e:
    raise ExportError(str(e).replace("--resume: ", "")) from e
  path = checkpointing.latest_checkpoint(workdir)
  if path is None:
    raise ExportError(f"no checkpoint in {checkpointing.checkpoint_dir(workdir)}; "
                      "has the run saved one yet?")
  if os.path.exists(os.path.join(out, MANIFEST)):
    raise ExportError(f"{out} already holds an export; choose another --out "
                      "(nothing was overwritten)")
  mode = action_mode or ("greedy" if config.base == "r2d2" else "sample")
  env = melting_pot.MeltingPotSubstrate(config.substrate, config.adapter)
  try:
    raw_rgb_shape = env.raw_rgb_shape
    own_colour_cell = env.avatar_cell if config.adapter.own_colour_channel else None
    builder = experiments.make_builder(config, env)   # As the run built it.
  finally:
    env.close()
  networks = builder.make_networks()
  counter = counting.Counter()
  objects = {f"group{g}_network": group.network for g, group in enumerate(networks.groups)}
  objects["counter"] = tf2_savers.SaveableAdapter(counter)
  try:
    tf.train.Checkpoint(**objects).restore(path).expect_partial().assert_existing_objects_matched()
  except (tf.errors.OpError, AssertionError, ValueError) as e:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise ExportError(f"unreadable or mismatched checkpoint {path} ({first[:200]})") from e
  env_steps = int(counter.get_counts().get("env_steps", 0))
  roles = mp_substrate.get_factory(config.substrate).default_player_roles()
  prefix = name_prefix or f"{config.agent}_{os.path.basename(workdir.rstrip('/'))}"
  os.makedirs(out, exist_ok=True)
  players = []
  for group in networks.groups:
    if group.naive_partner:   # A training partner (naive_partners), not the run's agent.
      continue
    bot = MeltingPotBot(group.network, builder.network_config, raw_rgb_shape,
                        config.adapter.rgb_downsample, mode, config.adapter.rgb_pooling,
                        own_colour_cell)
    for i in group.players:
      rel = f"player_{i}"
      save_bot(bot, os.path.join(out, rel))
      players.append(ExportedPlayer(f"{prefix}_p{i}", rel, i, roles[i]))
  manifest = ExportManifest(config.substrate, config.agent, config.base,
                            sorted(players, key=lambda p: p.player), source=path,
                            env_steps=env_steps, action_mode=mode)
  manifest.save(out)
  return manifest


def load_bot(path: str):
  """Melting Pot's own policy class on an exported model."""
  from meltingpot.utils.policies import saved_model_policy  # pylint: disable=g-import-not-at-top
  return saved_model_policy.SavedModelPolicy(path)
