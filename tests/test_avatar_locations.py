"""The estimators' state can show where an egocentric action takes each avatar."""

import numpy as np
import pytest

from substrates import melting_pot

TURN_LEFT, NOOP = 5, 0   # Melting Pot coins' action set.


def _avatar_block(env, state, player):
  width = 2 + melting_pot.NUM_ORIENTATIONS
  start = env.state_size - width * env.num_players + width * player
  return state[start:start + width]


def test_coins_state_carries_positions_and_orientations():
  env = melting_pot.MeltingPotSubstrate(
      "coins", melting_pot.AdapterConfig(avatar_locations=True))
  try:
    plain_size = int(np.prod(env.world_shape)) + 1
    assert env.state_size == plain_size + 2 * (2 + melting_pot.NUM_ORIENTATIONS)
    ts = env.reset()
    assert ts.state.shape == (env.state_size,)
    assert "POSITION" not in ts.signals and "ORIENTATION" not in ts.signals
    assert env.player_spec(0).observations.shape == env.rgb_shape   # Players: RGB only.
    seen = []
    for _ in range(4):   # Player 0 turns left 4 times, player 1 waits.
      ts = env.step([TURN_LEFT, NOOP])
      block = _avatar_block(env, ts.state, 0)
      assert block[2:].sum() == 1.0 and np.all((0 <= block[:2]) & (block[:2] <= 1))
      seen.append(int(np.argmax(block[2:])))
    # Four left turns visit all four orientations, in N <- E <- S <- W order, in place.
    assert sorted(seen) == [0, 1, 2, 3]
    assert all((a - b) % 4 == 1 for a, b in zip(seen, seen[1:]))
    assert len({tuple(_avatar_block(env, ts.state, 1))}) == 1
  finally:
    env.close()


def test_the_switch_is_on_for_our_build_only():
  from meltingpot import substrate  # pylint: disable=g-import-not-at-top
  from meltingpot.configs.substrates import coins  # pylint: disable=g-import-not-at-top
  env = melting_pot.MeltingPotSubstrate(
      "coins", melting_pot.AdapterConfig(avatar_locations=True))
  env.close()
  assert coins._ENABLE_DEBUG_OBSERVATIONS is False  # pylint: disable=protected-access
  plain = substrate.get_factory("coins").build(("default",) * 2)
  try:
    assert "ORIENTATION" not in plain.observation_spec()[0]
  finally:
    plain.close()


def test_substrates_without_locations_say_so():
  with pytest.raises(ValueError, match="no debug observations, so no avatar locations"):
    melting_pot.MeltingPotSubstrate(
        "collaborative_cooking__asymmetric", melting_pot.AdapterConfig(avatar_locations=True))


@pytest.mark.parametrize("pooling", melting_pot.RGB_POOLINGS)
def test_local_view_is_the_cells_around_each_avatar(pooling):
  # The estimators' cells are pooled as the policy's input is: with max pooling the
  # estimators must see the coin colours the policy sees (results/coin_colours).
  from recip_acme import influence_check  # pylint: disable=g-import-not-at-top
  env = melting_pot.MeltingPotSubstrate(
      "coins", melting_pot.AdapterConfig(estimator_view="local", rgb_pooling=pooling))
  try:
    assert env.avatar_cell == influence_check.AVATAR_CELL == (9, 5)
    assert env.state_size == 2 * 3 * 3 * 3 + 1
    ts = env.reset()
    for _ in range(30):
      ts = env.step([1, 2])   # Walk about.
    cells = ts.state[:-1].reshape(2, 3, 3, 3)
    for i, obs in enumerate(ts.observations):   # obs: the 11 x 11 downsampled view.
      np.testing.assert_allclose(cells[i], obs[8:11, 4:7].astype(np.float32) / 255.0)
      assert cells[i, 1, 1].sum() > 0            # The avatar itself, never black.
  finally:
    env.close()


@pytest.mark.parametrize("pooling", melting_pot.RGB_POOLINGS)
@pytest.mark.parametrize("rgb_downsample", [8, 4])
def test_local_cells_are_the_raw_window_pooled_by_cell(pooling, rgb_downsample):
  # With 8-pixel blocks the adapter reuses the policy view's pooled cells; with any
  # other block size it pools the window itself. Either way: the raw 3x3-cell window
  # around each avatar, pooled per 8x8 cell.
  env = melting_pot.MeltingPotSubstrate(
      "coins", melting_pot.AdapterConfig(estimator_view="local", rgb_pooling=pooling,
                                         rgb_downsample=rgb_downsample))
  try:
    env.raw_reset()
    for _ in range(30):
      raw = env.raw_step([1, 2])
    cells = env._convert(raw).state[:-1].reshape(2, 3, 3, 3)  # pylint: disable=protected-access
    for i, obs in enumerate(raw.observation):
      window = obs["RGB"][64:88, 32:56]                 # Cells 8-10 x 4-6 of 11 x 11.
      np.testing.assert_allclose(cells[i],
                                 melting_pot.downsample_rgb(window, 8, pooling) / 255.0)
  finally:
    env.close()


def test_local_radius_must_fit_the_view():
  with pytest.raises(ValueError, match="does not fit the 11x11-cell view"):
    melting_pot.MeltingPotSubstrate(
        "coins", melting_pot.AdapterConfig(estimator_view="local", local_radius=2))
  with pytest.raises(ValueError, match="estimator_view must be one of world, local"):
    melting_pot.AdapterConfig(estimator_view="pixels")
