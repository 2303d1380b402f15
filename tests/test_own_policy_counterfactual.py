"""ReciprocatorConfig.own_policy_counterfactual (a project extension; README).

What it promises: the balance accumulates the estimators' VoI (against a uniformly
random partner on the coins preset), while the influence the reward multiplies is
measured against the player's own behaviour policy, so that its mean under that policy
is exactly 0 in every state; the joint actor pays exactly (X + g) * that influence;
settings it cannot serve are one-line errors; a saved run keeps it.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from recip_acme import experiments
from recip_acme import reciprocal
from recip_acme.influence import networks as influence_networks
from tests.test_training import _small, stepped_actor


def _predictions():
  """Two players, two actions each, one state; player j's action changes player i's
  reward estimate by a known table (by_action[j][0, a_j, 0, i])."""
  reward_by_action = [np.array([[0.0, 0.0], [-2.0, 1.0]]),    # j = 0: a_0 -> [r_0, r_1].
                      np.array([[-2.0, 1.0], [-2.0, 1.0]])]   # j = 1: no effect at all.
  by_action = tuple(tf.constant(np.stack([r[:, None, :], 10 * r[:, None, :]]), tf.float32)
                    for r in reward_by_action)                # [2, A_j, B=1, N]
  joint = tf.constant([[-2.0, 1.0]])                          # Player 0 took action 1.
  uniform = tf.constant([[[0.5, 0.5], [0.5, 0.5]]])
  cf = tf.stack([tf.einsum("kb,mkbi->mbi", tf.transpose(uniform[:, j]), out)
                 for j, out in enumerate(by_action)], axis=1)
  return influence_networks.Predictions(joint, cf[0], 10 * joint, cf[1], by_action, uniform)


def test_the_counterfactual_is_re_averaged_over_the_given_policy():
  predictions = _predictions()
  own = tf.constant([[[0.9, 0.1], [0.3, 0.7]]])      # Player 0 rarely takes action 1.
  voi = influence_networks.value_of_influence(predictions, 1.0, future_term=False).numpy()
  again = influence_networks.against_policy(predictions, own)
  rewarded = influence_networks.value_of_influence(again, 1.0, future_term=False).numpy()
  # Against a uniform player 0, its action 1 moves player 1's reward by 1 - 0.5; against
  # its own policy (0.1 on action 1) by 1 - 0.1; on player 0's own reward -2 + 1 / -2 + 0.2.
  np.testing.assert_allclose(voi[0, 0], [-1.0, 0.5], atol=1e-6)
  np.testing.assert_allclose(rewarded[0, 0], [-1.8, 0.9], atol=1e-6)
  np.testing.assert_allclose(rewarded[0, 1], [0.0, 0.0], atol=1e-6)   # Player 1: no effect.
  with_future = influence_networks.value_of_influence(again, 0.5).numpy()
  np.testing.assert_allclose(with_future[0, 0], [-1.8 * 6, 0.9 * 6], atol=1e-5)
  np.testing.assert_allclose(again.policy.numpy(), own.numpy())


def test_against_its_own_policy_a_players_influence_has_mean_zero_in_every_state():
  rng = np.random.default_rng(7)
  batch, players, actions = 5, 3, 4
  by_action = tuple(tf.constant(rng.normal(size=(2, actions, batch, players)), tf.float32)
                    for _ in range(players))
  policy = rng.dirichlet(np.ones(actions), size=(batch, players)).astype(np.float32)
  zeros = tf.zeros([batch, players])
  base = influence_networks.Predictions(zeros, tf.zeros([players, batch, players]), zeros,
                                        tf.zeros([players, batch, players]), by_action)
  again = influence_networks.against_policy(base, policy)
  for j in range(players):
    per_action = by_action[j].numpy()[0] - again.cf_reward.numpy()[j][None]   # [A, B, N]
    mean = np.einsum("ba,abi->bi", policy[:, j], per_action)
    np.testing.assert_allclose(mean, 0.0, atol=1e-5)


def test_the_balance_reads_one_influence_and_the_reward_the_other():
  # Two players, decay 1, generosity 1. Step 0: player 1 harms player 0 (-1.5 on the
  # balance's VoI). Step 1: the reward multiplies X + g by the rewarded influence.
  voi = np.zeros([2, 2, 2], np.float32)
  voi[0, 1, 0] = -1.5
  voi[1, 0, 1] = -1.75                     # Player 0's take, against a uniform player 0.
  rewarded = voi.copy()
  rewarded[1, 0, 1] = -1.9                 # The same take, against player 0's own policy.
  state = None
  for t in range(2):
    step = reciprocal.reciprocal_step(voi[t], "balance", 1.0, state, generosity=1.0,
                                      rewarded_voi_t=rewarded[t])
    plain = reciprocal.reciprocal_step(voi[t], "balance", 1.0, state, generosity=1.0)
    state = step.final_state
  np.testing.assert_allclose(step.lagged_balance.numpy()[0, 1], -1.5)
  np.testing.assert_allclose(step.pair_rewards.numpy()[0, 1], (-1.5 + 1.0) * -1.9, rtol=1e-6)
  np.testing.assert_allclose(plain.pair_rewards.numpy()[0, 1], (-1.5 + 1.0) * -1.75, rtol=1e-6)
  # The state is the balance's alone: player 0's balance towards 1 after its take.
  np.testing.assert_allclose(state.balance.numpy()[0, 1], -1.5 + 1.75, rtol=1e-6)
  with pytest.raises(ValueError, match="rewarded_voi_t must have voi_t's shape"):
    reciprocal.reciprocal_step(voi[0], rewarded_voi_t=np.zeros([3, 3], np.float32))


def test_the_joint_actor_pays_the_balance_times_the_influence_against_its_own_policy():
  config = _small()
  config.reciprocator.own_policy_counterfactual = True
  config.reciprocator.generosity = 0.5
  decay = config.reciprocator.effective_balance_decay
  agent = experiments.build_agent(config)
  try:
    differs, balance = 0, np.zeros([2, 2])
    for _, info in stepped_actor(agent, 6):
      raw = agent.actor._last["reciprocal_reward"].numpy()[0]   # pylint: disable=protected-access
      voi, rewarded = info["voi"][0], info["rewarded_voi"][0]
      np.testing.assert_allclose(info["lagged_balance"][0], balance, rtol=1e-4, atol=1e-6)
      for i, j in ((0, 1), (1, 0)):
        np.testing.assert_allclose(raw[i], (balance[i, j] + 0.5) * rewarded[i, j],
                                   rtol=1e-4, atol=1e-6)
      differs += np.abs(rewarded - voi).max() > 1e-6
      balance = decay * balance + voi.T - voi     # B[i, j] += VoI[j, i] - VoI[i, j].
    assert differs    # Untrained estimators and policies: the two influences differ.
  finally:
    agent.close()


@pytest.mark.parametrize("counterfactual", ["marginal", "regression"])
def test_it_needs_the_uniform_counterfactual(counterfactual):
  with pytest.raises(ValueError,
                     match="own_policy_counterfactual needs counterfactual='marginal_uniform'"
                     ) as error:
    experiments.configure("coins", own_policy_counterfactual=True,
                          counterfactual=counterfactual)
  assert "\n" not in str(error.value)


def test_a_saved_run_keeps_it_and_the_preset_leaves_it_off():
  config = experiments.configure("coins", own_policy_counterfactual=True)
  saved = json.loads(json.dumps(experiments.config_to_dict(config)))
  assert experiments.config_from_dict(saved).reciprocator.own_policy_counterfactual
  assert not experiments.configure("coins").reciprocator.own_policy_counterfactual
