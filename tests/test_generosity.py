"""ReciprocatorConfig.generosity: generous reciprocity (a project extension; README).

What it promises: the reward reads the balance plus a constant g >= 0, so a partner's
net harm up to g is forgiven (harming that partner is still charged) and only harm
beyond it is paid as retaliation; the balance itself (logged, carried between chunks,
read by balance-aware networks) is unchanged; g = 0 is ALGORITHM.md; the joint actor
computes exactly this online; bad values are one-line errors; a saved run keeps it.
"""

import json

import numpy as np
import pytest

from recip_acme import experiments
from recip_acme import reciprocal
from tests.test_training import _small, stepped_actor

# Two players, decay 1. Step 0: player 1 takes from player 0 (VoI -1.6 on 0). Steps 1
# and 2: player 0 takes from player 1 (VoI -1.6 on 1): the first answers the take, the
# second is unprovoked.
TAKE = -1.6
VOI = np.zeros([3, 2, 2], np.float32)
VOI[0, 1, 0] = TAKE
VOI[1, 0, 1] = TAKE
VOI[2, 0, 1] = TAKE


@pytest.mark.parametrize("generosity, answer, repeat", [
    # Player 0's balance towards 1 is -1.6 at step 1 and 0 at step 2.
    (0.0, 2.56, 0.0),      # ALGORITHM.md: the answer is paid 1.6 * 1.6; at 0, nothing.
    (1.0, 0.96, -1.6),     # (-1.6 + 1) * -1.6; the unprovoked take is charged.
    (2.0, -0.64, -3.2),    # A debt below g is forgiven: even the answer is charged.
])
def test_harm_is_charged_until_the_partners_net_harm_exceeds_the_generosity(
    generosity, answer, repeat):
  terms = reciprocal.reciprocal_terms(VOI, "balance", 1.0, generosity=generosity)
  np.testing.assert_allclose(terms.pair_rewards.numpy()[:, 0, 1], [0.0, answer, repeat],
                             atol=1e-5)
  # The balance is not shifted: what is logged and carried is ALGORITHM.md's.
  np.testing.assert_allclose(terms.lagged_balance.numpy()[:, 0, 1], [0.0, TAKE, 0.0],
                             atol=1e-6)


@pytest.mark.parametrize("variant", ["balance", "received_minus_debit"])
def test_generosity_adds_g_times_the_influence_given_and_nothing_else(variant):
  voi = np.random.default_rng(5).normal(size=(2000, 3, 3, 3))  # Blocked: > 1024 steps.
  plain = reciprocal.reciprocal_terms(voi, variant, 0.9)
  generous = reciprocal.reciprocal_terms(voi, variant, 0.9, generosity=0.7)
  off_diagonal = 1.0 - np.eye(3)
  np.testing.assert_allclose(generous.pair_rewards.numpy() - plain.pair_rewards.numpy(),
                             0.7 * voi * off_diagonal, atol=1e-5)
  for a, b in zip(generous.final_state, plain.final_state):
    np.testing.assert_allclose(a, b, atol=1e-6)
  # The online step gives the same rewards.
  state = None
  for t in range(4):
    step = reciprocal.reciprocal_step(voi[t], variant, 0.9, state, generosity=0.7)
    np.testing.assert_allclose(step.rewards, generous.rewards[t], atol=1e-6)
    state = step.final_state


def test_the_joint_actor_pays_the_generous_reward():
  config = _small()
  config.reciprocator.generosity = 1.5
  agent = experiments.build_agent(config)
  try:
    checked = 0
    for _, info in stepped_actor(agent, 6):
      raw = agent.actor._last["reciprocal_reward"].numpy()[0]
      voi, balance = info["voi"][0], info["lagged_balance"][0]
      for i, j in ((0, 1), (1, 0)):
        np.testing.assert_allclose(raw[i], (balance[i, j] + 1.5) * voi[i, j], rtol=1e-4,
                                   atol=1e-6)
        checked += abs(voi[i, j]) > 0
    assert checked   # Untrained estimators give non-zero influences.
  finally:
    agent.close()


@pytest.mark.parametrize("value", [-0.5, float("nan"), float("inf")])
def test_bad_generosity_is_a_one_line_error(value):
  with pytest.raises(ValueError, match="generosity must be a finite number >= 0") as error:
    experiments.configure("coins", "reciprocator", generosity=value)
  assert "\n" not in str(error.value)
  with pytest.raises(ValueError, match="generosity must be a finite number >= 0"):
    reciprocal.reciprocal_terms(VOI, generosity=value)


def test_a_saved_run_keeps_its_generosity():
  config = experiments.configure("coins", "reciprocator", generosity=2.0)
  saved = json.loads(json.dumps(experiments.config_to_dict(config)))
  assert experiments.config_from_dict(saved).reciprocator.generosity == 2.0
  assert experiments.configure("coins", "reciprocator").reciprocator.generosity == 0.0
