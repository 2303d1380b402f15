"""The own-colour channel and the copies' redraws (AdapterConfig.own_colour_channel,
redraw_every): why they exist is results/coins_colour_memorisation."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from recip_acme import experiments
from recip_acme import export
from substrates import melting_pot

_COINS = melting_pot.AdapterConfig(rgb_pooling="max", estimator_view="local",
                                   own_colour_channel=True)


def _base_colour(name: str) -> np.ndarray:
  """The palette colour '*' Melting Pot gives a coins player of colour `name`."""
  from meltingpot.configs.substrates import coins  # pylint: disable=g-import-not-at-top
  return np.array(coins.COIN_PALETTES[f"coin_{name}"]["*"][:3], np.uint8)


def _built_with_colours(config: melting_pot.AdapterConfig, seed: int, count: int):
  """`count` seeded copies and each one's (player 0's, player 1's) colour names."""
  copies, colours = [], []
  melting_pot.random.seed(seed)
  for k in range(count):
    with melting_pot.recorded_colour_draws() as drawn:
      copies.append(melting_pot.MeltingPotSubstrate("coins", config, draw_key=(seed, k)))
    colours.append(drawn[0])   # The build's draw (a frame-limit look-up may follow).
  return copies, colours


def _raw_frames(env, steps: int, seed: int = 0):
  """Raw RGB of both players over `steps` random steps of one episode."""
  rng = np.random.default_rng(seed)
  frames = [[obs["RGB"] for obs in env.raw_reset().observation]]
  for _ in range(steps):
    frames.append([obs["RGB"] for obs in env.raw_step(rng.integers(0, 7, size=2)).observation])
  return frames


@pytest.fixture(scope="module")
def coins_frames():
  """Raw frames of 3 coins copies (different colours) and each copy's colours."""
  copies, colours = _built_with_colours(_COINS, seed=3, count=3)
  try:
    yield [(_raw_frames(env, 60, seed=k), names, env.avatar_cell)
           for k, (env, names) in enumerate(zip(copies, colours))]
  finally:
    for env in copies:
      env.close()


def test_own_colour_is_the_players_palette_colour(coins_frames):
  seen = set()
  for frames, names, cell in coins_frames:
    for frame in frames:
      for player, rgb in enumerate(frame):
        colour = melting_pot.own_colour(rgb, cell)
        np.testing.assert_array_equal(colour, _base_colour(names[player]))
        seen.add(names[player])
  assert len(seen) >= 3   # Several colour draws, not one copy's pair.


def test_the_channel_marks_exactly_the_cells_holding_the_players_colour(coins_frames):
  own_marked = partner_unmarked = 0
  for frames, names, cell in coins_frames:
    for frame in frames:
      for player, rgb in enumerate(frame):
        mask = melting_pot.own_colour_mask(rgb, melting_pot.own_colour(rgb, cell), 8)[..., 0]
        blocks = rgb.reshape(11, 8, 11, 8, 3).transpose(0, 2, 1, 3, 4).reshape(11, 11, 64, 3)
        own = np.all(blocks == _base_colour(names[player]), -1).any(-1)
        partner = np.all(blocks == _base_colour(names[1 - player]), -1).any(-1)
        np.testing.assert_array_equal(mask, np.where(own, 255, 0))
        assert mask[cell] == 255
        own_marked += int(own.sum()) - 1              # Own coins (the avatar aside).
        partner_unmarked += int((partner & (mask == 0)).sum())
  assert own_marked > 0 and partner_unmarked > 0   # The frames hold coins of both colours.


def test_the_adapter_adds_the_channel_and_its_spec():
  env = melting_pot.MeltingPotSubstrate("coins", _COINS)
  try:
    assert env.player_spec(0).observations.shape == (11, 11, 4)
    timestep = env.reset()
    for obs in timestep.observations:
      assert obs.shape == (11, 11, 4) and obs.dtype == np.uint8
      assert obs[env.avatar_cell][3] == 255
    plain = dataclasses.replace(_COINS, own_colour_channel=False)
    assert melting_pot.MeltingPotSubstrate("coins", plain).rgb_shape == (11, 11, 3)
  finally:
    env.close()


def test_no_avatar_in_view_marks_nothing():
  floor = np.zeros((88, 88, 3), np.uint8)
  assert melting_pot.own_colour(floor, (9, 5)) is None
  assert not melting_pot.own_colour_mask(floor, None, 8).any()
  assert not export.own_colour_mask(tf.constant(floor), (9, 5), 8).numpy().any()


def test_the_in_graph_twin_matches_the_adapter(coins_frames):
  rng = np.random.default_rng(0)
  frames = [rgb for frames, _, _ in coins_frames for frame in frames[::10] for rgb in frame]
  # A tie: two colours with 20 pixels each in the avatar's cell; the smaller code wins.
  tie = np.zeros((88, 88, 3), np.uint8)
  avatar = tie[72:80, 40:48]   # Cell (9, 5); its top-left pixel stays the (black) floor.
  for index, colour in ((range(1, 21), (200, 10, 10)), (range(21, 41), (10, 200, 10))):
    avatar[np.array(index) // 8, np.array(index) % 8] = colour
  frames += [tie, rng.integers(0, 4, (88, 88, 3), dtype=np.uint8)]
  for rgb in frames:
    for factor in (8, 4, 1):
      ours = melting_pot.own_colour_mask(rgb, melting_pot.own_colour(rgb, (9, 5)), factor)
      graph = export.own_colour_mask(tf.constant(rgb), (9, 5), factor).numpy()
      np.testing.assert_array_equal(graph, ours)
  np.testing.assert_array_equal(melting_pot.own_colour(tie, (9, 5)), (10, 200, 10))


def test_an_exported_bot_sees_the_channel_the_trainer_saw():
  config = experiments.configure("coins", "reciprocator", own_colour_channel=True)
  env = melting_pot.MeltingPotSubstrate("coins", config.adapter)
  try:
    builder = experiments.make_builder(config, env)
    network = builder.make_networks().groups[0].network
    bot = export.MeltingPotBot(network, builder.network_config, env.raw_rgb_shape,
                               config.adapter.rgb_downsample, "greedy",
                               config.adapter.rgb_pooling, env.avatar_cell)
    rng = np.random.default_rng(2)
    raw = env.raw_reset()
    key, state = bot.initial_state(tf.constant([0, 7], tf.uint32))
    core = network.initial_state(1)
    for t in range(4):
      rgb = raw.observation[0]["RGB"]
      key, ((_, info), state) = bot.step(
          key, {"step_type": tf.constant(0 if t == 0 else 1, tf.int32),
                "observation": {"RGB": tf.constant(rgb)}}, state)
      seen = np.concatenate([melting_pot.downsample_rgb(rgb, 8, "max"), melting_pot.own_colour_mask(
          rgb, melting_pot.own_colour(rgb, env.avatar_cell), 8)], -1)
      (logits, _), core = network(tf.constant(seen[None]), core)
      np.testing.assert_allclose(info["scores"].numpy(), logits[0].numpy(), atol=1e-4)
      raw = env.raw_step(rng.integers(0, 7, size=2))
  finally:
    env.close()


def _colours_per_episode(config, draw_key, episodes):
  with melting_pot.recorded_colour_draws() as drawn:
    melting_pot.random.seed(draw_key[0])
    env = melting_pot.MeltingPotSubstrate("coins", config, draw_key=draw_key)
  try:
    seen = []   # Per episode, each player's avatar cell (max-pooled: its base colour).
    for _ in range(episodes):
      timestep = env.reset()
      seen.append(tuple(tuple(obs[env.avatar_cell][:3]) for obs in timestep.observations))
      while not timestep.last():
        timestep = env.step([0, 0])
    return seen, drawn
  finally:
    env.close()


def test_copies_redraw_every_k_episodes_from_their_key():
  short = dataclasses.replace(_COINS, episode_step_limit=2, redraw_every=2)
  seen, drawn = _colours_per_episode(short, (4, 1), 6)
  assert seen[0] == seen[1] and seen[2] == seen[3] and seen[4] == seen[5]
  assert len(set(seen[::2])) > 1          # New draws (with 5 colours, 3 draws differ here).
  again, _ = _colours_per_episode(short, (4, 1), 6)
  assert again == seen                    # One key, one sequence: paired comparisons.
  other, _ = _colours_per_episode(short, (4, 2), 6)
  assert other != seen
  never, _ = _colours_per_episode(dataclasses.replace(short, redraw_every=0), (4, 1), 6)
  assert len(set(never)) == 1 and never[0] == seen[0]   # Draw 0 is the seeded build.


def test_redraws_need_the_local_estimator_view_and_a_count_of_episodes():
  with pytest.raises(ValueError, match="redraw_every needs estimator_view 'local'"):
    melting_pot.AdapterConfig(redraw_every=2)
  with pytest.raises(ValueError, match="redraw_every must be >= 0"):
    melting_pot.AdapterConfig(estimator_view="local", redraw_every=-1)
  config = experiments.configure("coins", "independent", own_colour_channel=True,
                                 redraw_every=3)
  assert config.adapter.own_colour_channel and config.adapter.redraw_every == 3
