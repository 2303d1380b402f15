"""ReciprocatorConfig.subtract_partner_influence, a project extension (README).

What it promises: each player's learner samples r_i + w r_rec - sum_{j != i} VoI_imm[j -> i],
where VoI_imm is the marginal immediate VoI. Known answers: (1) the sum leaves out i's
own VoI; (2) fitted on a game where player 1's action alone sets player 0's reward,
player 0's reward minus it is E_{pi_1}[r_0] whatever player 1 did, while player 1's
reward, set by its own action, keeps that action's effect; (3) the learner samples
exactly what the actor computed; (4) configurations where it would not be zero-mean are
refused.
"""

import numpy as np
import pytest
import tensorflow as tf

from recip_acme import experiments
from recip_acme.agents.reciprocator import config as config_lib
from recip_acme.influence import config as influence_config
from recip_acme.influence import networks
from tests.test_marginal_counterfactual import fit_on_one_step_game
from tests.test_training import _small, assert_learners_sample, stepped_actor

A, F = 3, 4


def _estimators(players, seed=0):
  tf.random.set_seed(seed)
  return networks.InfluenceEstimators(players, A, F, hidden_sizes=(16,), use_time_left=False,
                                      counterfactual="marginal")


def test_partner_influence_sums_the_others_immediate_voi_and_leaves_out_ones_own():
  rng = np.random.default_rng(0)
  est = _estimators(3, seed=1)
  state = rng.normal(size=(5, F)).astype(np.float32)
  joint = rng.integers(0, A, size=(5, 3))
  logits = rng.normal(size=(5, 3, A))
  policy = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
  predictions = est(state, joint, None, policy)
  partner = networks.partner_reward_influence(predictions).numpy()          # [B, N(i)]
  voi = networks.value_of_influence(predictions, 0.9, future_term=False).numpy()
  for i in range(3):
    expected = sum(voi[:, j, i] for j in range(3) if j != i)
    np.testing.assert_allclose(partner[:, i], expected, atol=1e-6)
    assert np.abs(voi[:, i, i]).max() > 1e-4    # Own VoI is not 0, so leaving it out shows.


def test_reward_minus_partner_influence_is_the_reward_expected_under_the_partners_policy():
  rng = np.random.default_rng(2)
  # Player 1 decides r_0; r_1 is player 1's own doing.
  est = fit_on_one_step_game(lambda joint: np.stack(
      [np.where(joint[:, 1] == 0, 1.0, -2.0), joint[:, 1] == 2], axis=1), rng)
  pi_1 = np.array([0.7, 0.2, 0.1], np.float32)
  policy = np.tile(np.stack([np.full(A, 1 / A), pi_1])[None], [A, 1, 1]).astype(np.float32)
  state = rng.normal(size=(A, F)).astype(np.float32)
  joint = np.stack([np.zeros(A, int), np.arange(A)], axis=1)      # Player 1 plays 0, 1, 2.
  partner = networks.partner_reward_influence(est(state, joint, None, policy)).numpy()
  r_0 = np.where(joint[:, 1] == 0, 1.0, -2.0)
  expected_r_0 = 0.7 * 1.0 + 0.3 * -2.0                           # E_{pi_1}[r_0] = 0.1.
  np.testing.assert_allclose(r_0 - partner[:, 0], expected_r_0, atol=0.15)
  np.testing.assert_allclose(partner[:, 1], 0.0, atol=0.1)         # r_1 keeps a_1's effect.


def test_refused_without_the_marginal_counterfactual_or_the_estimators():
  marginal = influence_config.InfluenceConfig(counterfactual="marginal")
  with pytest.raises(ValueError, match="needs counterfactual='marginal'"):
    config_lib.ReciprocatorConfig(
        subtract_partner_influence=True,
        influence=influence_config.InfluenceConfig(counterfactual="regression"))
  with pytest.raises(ValueError, match="needs the influence estimators"):
    config_lib.ReciprocatorConfig(reciprocal=False, subtract_partner_influence=True,
                                  influence=marginal)
  with pytest.raises(ValueError, match="needs counterfactual=.marginal."):  # launch.train: one line
    experiments.configure("coins", "reciprocator", subtract_partner_influence=True,
                          counterfactual="regression")


def test_every_learner_samples_its_reward_plus_reciprocal_minus_partner_influence():
  config = _small()
  config.reciprocator.subtract_partner_influence = True
  # The control variate needs the behaviour marginal (coins' preset: marginal_uniform).
  config.reciprocator.influence.counterfactual = "marginal"
  agent = experiments.build_agent(config)
  try:
    weight = float(agent.builder.reciprocal_weight.numpy())
    expected = [[], []]
    for timestep, info in stepped_actor(agent, 8, rewards=lambda k: [k, -3 * k]):
      assert np.abs(info["partner_influence"]).max() > 1e-5   # Untrained, but not 0.
      for i in range(2):
        expected[i].append(timestep.rewards[i] + weight * info["reciprocal_reward"][0, i]
                           - info["partner_influence"][0, i])
    assert_learners_sample(agent, expected)
  finally:
    agent.close()


def test_episode_rows_report_the_spread_the_control_variate_leaves(tmp_path):
  import pandas as pd
  from substrates import melting_pot
  config = _small(num_steps=120)
  config.reciprocator.subtract_partner_influence = True
  config.reciprocator.influence.counterfactual = "marginal"
  config.adapter = melting_pot.AdapterConfig(episode_step_limit=60)
  experiments.train(config, str(tmp_path), verbose=False)
  episodes = pd.read_csv(tmp_path / "episodes.csv")
  assert len(episodes) == 2
  assert (episodes["controlled_reward_std"] > 0).all()   # r - partner influence varies.
