"""ReciprocatorConfig.reciprocal_players: Reciprocators beside naive learners on Melting Pot.

What it promises: the listed players' learners sample r + w r_rec; every other player's
learner samples the game's reward exactly, although the estimators give it a non-zero
r_rec; the running scale of r_rec reads the Reciprocators' values only; bad player lists
are one-line errors; a saved run keeps the setting.
"""

import json

import numpy as np
import pytest

from recip_acme import experiments
from tests.test_training import _small, assert_learners_sample, stepped_actor


def _mixed(**overrides):
  config = _small(**overrides)
  config.reciprocator.reciprocal_players = (0,)
  config.reciprocator.reciprocal_scale = "extrinsic_rms"
  return config


def test_the_naive_player_learns_from_the_game_reward_and_the_reciprocator_from_both():
  agent = experiments.build_agent(_mixed())
  try:
    actor = agent.actor
    weight = float(agent.builder.reciprocal_weight.numpy())
    expected, unmasked, squares = [[], []], [], []
    for timestep, info in stepped_actor(agent, 8, rewards=lambda k: [k, -3 * k]):
      raw = actor._last["reciprocal_reward"].numpy()[0]
      unmasked.append(raw)
      squares.append(raw[0] ** 2)
      for i in range(2):
        expected[i].append(timestep.rewards[i] + weight * info["reciprocal_reward"][0, i])
      assert info["reciprocal_reward"][0, 1] == 0.0
    # Untrained estimators give both players a reciprocal reward; only player 0 gets it.
    assert np.abs(np.array(unmasked)[:, 1]).max() > 1e-6
    assert np.abs(np.array(expected[0]) - np.arange(1, 9)).max() > 1e-6
    np.testing.assert_allclose(expected[1], -3.0 * np.arange(1, 9))
    assert_learners_sample(agent, expected)
    # The running rms of r_rec is the Reciprocator's alone (a running mean while the
    # window is not yet full).
    _, _, _, rec_size = actor.reward_scale._current()
    assert rec_size == pytest.approx(np.mean(squares), rel=1e-5)
  finally:
    agent.close()


@pytest.mark.parametrize("settings, message", [
    ({"reciprocal_players": ["one"]}, "reciprocal_players must be player indices"),
    ({"reciprocal_players": ["0", "0"]}, "distinct player indices"),
    ({"reciprocal_players": ["0"], "share_policy": True}, "one policy per player"),
    ({"reciprocal_players": ["0"], "policy_sees_balance": True}, "exclude each other"),
])
def test_bad_player_lists_are_one_line_errors(settings, message):
  with pytest.raises(ValueError, match=message) as error:
    experiments.configure("coins", "reciprocator", **settings)
  assert "\n" not in str(error.value)
  with pytest.raises(ValueError, match="needs agent=reciprocator"):
    experiments.configure("coins", "independent", reciprocal_players=["0"])


def test_a_player_the_substrate_does_not_have_is_refused_when_the_agent_is_built():
  config = _small()
  config.reciprocator.reciprocal_players = (2,)
  with pytest.raises(ValueError, match=r"this substrate has players 0\.\.1"):
    experiments.build_agent(config)


def test_a_saved_run_keeps_its_reciprocal_players():
  config = experiments.configure("coins", "reciprocator", reciprocal_players=["1"])
  saved = json.loads(json.dumps(experiments.config_to_dict(config)))
  assert experiments.config_from_dict(saved).reciprocator.reciprocal_players == (1,)
