"""VoI with counterfactual='marginal': sum_{a_j} pi_j(a_j|s) Q(s, a_j, a^-j).

Known answers: (1) under j's policy the marginal VoI of j has mean exactly 0, whatever
the network (so estimator error cannot drift a balance); (2) where the joint
estimator ignores j's action, j's VoI is exactly 0; (3) fitted on a game where player
0's action 0 pays player 1 one point, VoI[0 -> 1] is 1 - pi_0(0) when 0 plays it and
-pi_0(0) otherwise, and player 1's VoI is about 0.
"""

import numpy as np
import pytest
import tensorflow as tf

from recip_acme.influence import config as config_lib
from recip_acme.influence import data as data_lib
from recip_acme.influence import learning
from recip_acme.influence import networks

N, A, F = 2, 3, 4


def _estimators(seed=0, players=N):
  tf.random.set_seed(seed)
  return networks.InfluenceEstimators(players, A, F, hidden_sizes=(16,), use_time_left=False,
                                      counterfactual="marginal")


def _policy(rng, batch, players=N):
  logits = rng.normal(size=(batch, players, A))
  return (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)


def test_marginal_voi_has_mean_exactly_zero_under_the_left_out_players_policy():
  rng = np.random.default_rng(0)
  est = _estimators(players=3)
  state = rng.normal(size=(5, F)).astype(np.float32)
  base = rng.integers(0, A, size=(5, 3))
  policy = _policy(rng, 5, players=3)
  for j in range(3):
    expected = np.zeros((5, 3), np.float32)
    for a_j in range(A):
      joint = base.copy()
      joint[:, j] = a_j
      voi = networks.value_of_influence(est(state, joint, None, policy), 0.9).numpy()
      expected += policy[:, j, a_j:a_j + 1] * voi[:, j, :]
    np.testing.assert_allclose(expected, 0.0, atol=1e-5)


def test_marginal_voi_is_exactly_zero_where_the_joint_estimator_ignores_j():
  rng = np.random.default_rng(1)
  est = _estimators()
  # Player 1's one-hot rows of the first layer read nothing.
  w = est.mlp.action_w.numpy()
  w[A:2 * A] = 0.0
  est.mlp.action_w.assign(w)
  state = rng.normal(size=(6, F)).astype(np.float32)
  joint = rng.integers(0, A, size=(6, N))
  voi = networks.value_of_influence(est(state, joint, None, _policy(rng, 6)), 0.9).numpy()
  np.testing.assert_allclose(voi[:, 1, :], 0.0, atol=1e-6)   # Float rounding only.
  assert np.abs(voi[:, 0, :]).max() > 1e-3   # Player 0's action still matters.


def fit_on_one_step_game(rewards_of, rng, seed=3):
  """Marginal estimators fitted on 8 episodes of uniformly random joint actions of N
  players; `rewards_of(joint [T, N]) -> [T, N]` is the game (immediate rewards only)."""
  episodes, length = 8, 200
  replay = data_lib.EpisodeReplay(episodes, gamma=0.0, seed=0)
  for _ in range(episodes):
    state = rng.normal(size=(length, F)).astype(np.float32)
    joint = rng.integers(0, A, size=(length, N))          # Uniform behaviour.
    replay.add_episode(state, joint, rewards_of(joint).astype(np.float32))
  est = _estimators(seed=seed)
  config = config_lib.InfluenceConfig(hidden_sizes=(16,), batch_size=256, epochs=40,
                                      samples_per_epoch=1600, use_time_left=False,
                                      counterfactual="marginal", gamma=0.0)
  learning.InfluenceLearner(est, replay, config).step()
  return est


def test_fitted_marginal_voi_recovers_a_known_influence():
  rng = np.random.default_rng(2)
  # Player 0's action 0 pays player 1.
  est = fit_on_one_step_game(
      lambda joint: np.stack([np.zeros(len(joint)), joint[:, 0] == 0], axis=1), rng)
  state = rng.normal(size=(A, F)).astype(np.float32)
  joint = np.stack([np.arange(A), np.zeros(A, int)], axis=1)   # Player 0 plays 0, 1, 2.
  uniform = np.full((A, N, A), 1.0 / A, np.float32)
  voi = networks.value_of_influence(est(state, joint, None, uniform), 0.0).numpy()
  np.testing.assert_allclose(voi[:, 0, 1], [1 - 1 / A, -1 / A, -1 / A], atol=0.1)
  np.testing.assert_allclose(voi[:, 1, :], 0.0, atol=0.05)


def test_expected_harm_averages_the_negative_voi_of_every_action_j_could_take():
  # Oracle: call the estimators once per action of j (j's action replaced), take the
  # VoI each gives against the same counterfactual, clip at 0, weight by pi_j.
  rng = np.random.default_rng(4)
  est = _estimators(seed=5, players=3)
  state = rng.normal(size=(5, F)).astype(np.float32)
  base = rng.integers(0, A, size=(5, 3))
  policy = _policy(rng, 5, players=3)
  for future_term in (True, False):
    harm = networks.expected_harm(est(state, base, None, policy), 0.9, future_term).numpy()
    assert harm.shape == (5, 3, 3)
    for j in range(3):
      expected = np.zeros((5, 3), np.float32)
      for a_j in range(A):
        joint = base.copy()
        joint[:, j] = a_j
        voi = networks.value_of_influence(est(state, joint, None, policy), 0.9,
                                          future_term).numpy()
        expected += policy[:, j, a_j:a_j + 1] * np.minimum(voi[:, j, :], 0.0)
      np.testing.assert_allclose(harm[:, j, :], expected, atol=1e-5)
    assert np.all(harm <= 0) and np.any(harm < -1e-4)


def test_expected_harm_needs_the_marginal_counterfactual():
  tf.random.set_seed(0)
  est = networks.InfluenceEstimators(N, A, F, hidden_sizes=(16,), use_time_left=False)
  predictions = est(np.zeros((2, F), np.float32), np.zeros((2, N), np.int64))
  with pytest.raises(ValueError, match="counterfactual='marginal'"):
    networks.expected_harm(predictions, 0.9)


def test_the_centered_variant_needs_the_marginal_counterfactual_in_the_config():
  from recip_acme.agents.reciprocator import config as reciprocator_config
  reciprocator_config.ReciprocatorConfig(     # The marginal counterfactual: accepted.
      variant="centered_owed_harm",
      influence=config_lib.InfluenceConfig(counterfactual="marginal"))
  with pytest.raises(ValueError, match="needs counterfactual='marginal'"):
    reciprocator_config.ReciprocatorConfig(
        variant="centered_owed_harm",
        influence=config_lib.InfluenceConfig(counterfactual="regression"))


def test_marginal_needs_the_policy_and_the_returns_estimator():
  with pytest.raises(ValueError, match="behaviour probabilities"):
    _estimators()(np.zeros((1, F), np.float32), np.zeros((1, N), np.int64))
  with pytest.raises(ValueError, match="future_estimator='returns'"):
    config_lib.InfluenceConfig(counterfactual="marginal", future_estimator="transition")
  with pytest.raises(ValueError, match="counterfactual must be one of"):
    config_lib.InfluenceConfig(counterfactual="both")


def test_the_uniform_marginal_counts_a_predictable_harm_in_full():
  """Known answer: with the joint estimator fixed, VoI under 'marginal_uniform' equals
  the behaviour marginal's VoI evaluated with a uniform policy; a j that takes its
  action with probability ~1 has behaviour-marginal VoI ~0 but uniform VoI
  Q(a_j) - mean_a Q(a)."""
  rng = np.random.default_rng(6)
  behaviour = _estimators(seed=7)
  tf.random.set_seed(7)
  uniform = networks.InfluenceEstimators(N, A, F, hidden_sizes=(16,), use_time_left=False,
                                         counterfactual="marginal_uniform")
  for u, b in zip(uniform.trainable_variables, behaviour.trainable_variables):
    u.assign(b)
  assert not uniform.needs_policy
  state = rng.normal(size=(4, F)).astype(np.float32)
  joint = rng.integers(0, A, size=(4, N))
  flat = np.full((4, N, A), 1.0 / A, np.float32)
  np.testing.assert_allclose(
      networks.value_of_influence(uniform(state, joint), 0.9).numpy(),
      networks.value_of_influence(behaviour(state, joint, None, flat), 0.9).numpy(),
      atol=1e-6)
  certain = np.zeros((4, N, A), np.float32)
  certain[np.arange(4)[:, None], np.arange(N)[None], joint] = 1.0   # Each plays its action.
  voi_behaviour = networks.value_of_influence(behaviour(state, joint, None, certain), 0.9)
  np.testing.assert_allclose(voi_behaviour.numpy(), 0.0, atol=1e-6)
  assert np.abs(networks.value_of_influence(uniform(state, joint), 0.9).numpy()).max() > 1e-3


def test_the_uniform_marginal_needs_the_returns_estimator_and_is_refused_where_zero_mean_is_needed():
  with pytest.raises(ValueError, match="needs future_estimator='returns'"):
    config_lib.InfluenceConfig(counterfactual="marginal_uniform", future_estimator="transition")
  from recip_acme.agents.reciprocator import config as reciprocator_config
  uniform = config_lib.InfluenceConfig(counterfactual="marginal_uniform")
  with pytest.raises(ValueError, match="needs counterfactual='marginal'"):
    reciprocator_config.ReciprocatorConfig(variant="centered_owed_harm", influence=uniform)
  with pytest.raises(ValueError, match="needs counterfactual='marginal'"):
    reciprocator_config.ReciprocatorConfig(subtract_partner_influence=True, influence=uniform)
