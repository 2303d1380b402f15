"""recip_acme.reciprocal: hand-computed cases for every variant, lag, decay, chunking."""

import numpy as np
import pytest
import tensorflow as tf

from recip_acme import reciprocal

# voi[t][j][i]: influence of j's action at t on i.
VOI_2P = [[[0.0, 1.0], [2.0, 0.5]],
          [[0.1, -1.0], [3.0, 0.0]],
          [[0.0, 2.0], [-1.0, 0.2]]]
VOI_3P = [[[0, 1, -1], [2, 0, 0], [1, 0, 1]],
          [[1, 2, 0], [0, 0, 1], [0, -2, 0]],
          [[0, 1, 1], [-1, 0, 0], [2, 0, 0]]]

# Worked by hand; e.g. "balance", 2 players, decay 0.5, player 0 against player 1:
#   increments VoI(1->0) - VoI(0->1) = 1, 4, -3 -> balances 1, 4.5, -0.75;
#   lagged balances X = 0, 1, 4.5; rewards X * VoI(0->1) = 0, -1, 9.
# Step 0's reward is always 0 (one-step lag, balances start at 0).
EXPECTED_2P_DECAY_HALF = {
    "balance": [[0, 0], [-1, -3], [9, 4.5]],
    "signed_balance": [[0, 0], [-1, -3], [2, 1]],
    "balance_signed_influence": [[0, 0], [-1, -1], [4.5, 4.5]],
    "received": [[0, 0], [-2, 3], [8, 0.5]],
    "signed_received": [[0, 0], [-1, 3], [2, 1]],
    "received_minus_debit": [[0, 0], [-0.5, -3], [8.5, 4.6]],
    "signed_received_minus_debit": [[0, 0], [-1, -3], [2, 1]],
    # Player 1's balances are -1 and -4.5 when it is paid: clipped to 0, no reward.
    "forgiving_balance": [[0, 0], [-1, 0], [9, 0]],
    # Player 0 owes 1 at t=1 and harms (-1): -1; at t=2 it helps (2): not paid.
    "owed_harm_penalty": [[0, 0], [-1, 0], [0, 0]],
    # With HARM_2P: player 0 owes 1 at t=1 and harms by -1 where its policy harms by
    # -0.5 on average: 1 * (-1 + 0.5); at t=2 it owes 4.5 and helps: 4.5 * (0 + 0.5).
    "centered_owed_harm": [[0, 0], [-0.5, 0], [2.25, 0]],
    "lagged_product": [[0, 0], [-2, 3], [6, 1]],  # No accumulation, whatever the decay.
}
# expected_harm[t][i][j] for the 2-player table: i's harm to j averaged over i's policy.
HARM_2P = [[[0.0, -0.5], [-0.25, 0.0]]] * 3
# Three players, decay 1 (the paper's lambda): rewards are averaged over the 2 opponents.
# e.g. "balance", player 0: pair (0,1) gives 0, 2, -1 and pair (0,2) gives 0, 0, 2.
EXPECTED_3P_DECAY_ONE = {
    "balance": [[0, 0, 0], [1, 0, 0], [0.5, -0.5, -2]],
    "signed_balance": [[0, 0, 0], [1, 0, 0], [0, -0.5, -1]],
    "balance_signed_influence": [[0, 0, 0], [0.5, 0, 0], [0.5, -0.5, -1]],
    "received": [[0, 0, 0], [2, 0, 0], [1.5, -1.5, -1]],
    "signed_received": [[0, 0, 0], [1, 0, 0], [1, -0.5, -1]],
    "received_minus_debit": [[0, 0, 0], [1, -0.5, 0], [0, 0, -3]],
    "signed_received_minus_debit": [[0, 0, 0], [1, -0.5, 0], [0, 0, -1]],
    # At t=2 player 0's balance towards 1 is -1 (clipped) and towards 2 is 2; player
    # 2's are -2 and 3, and it gives 2 to player 0 and 0 to player 1.
    "forgiving_balance": [[0, 0, 0], [1, 0, 0], [1, -0.5, 0]],
    # Only player 1 harms a partner it owes: at t=2 it owes player 0 1 and gives -1.
    "owed_harm_penalty": [[0, 0, 0], [0, 0, 0], [0, -0.5, 0]],
    "lagged_product": [[0, 0, 0], [2, 0, 0], [0, -1, 0]],
}


def _harm_for(variant, voi, seed=0):
  """A made-up expected harm (<= 0, voi's shape) for the variants that read one."""
  if not reciprocal.get_variant(variant).needs_expected_harm:
    return None
  return -np.abs(np.random.default_rng(seed).normal(size=np.shape(voi)))


def _reference(voi, variant, decay, harm=None):
  """A naive per-step loop shaped like the published code (a second, independent oracle)."""
  spec = reciprocal.get_variant(variant)
  decay = spec.fixed_decay if spec.fixed_decay is not None else decay
  voi = np.asarray(voi, np.float64)
  num_steps, num_players = voi.shape[0], voi.shape[-1]
  out = np.zeros(voi.shape[:-1])
  for i in range(num_players):
    for j in range(num_players):
      if i == j:
        continue
      grudge = np.zeros(voi.shape[1:-2])
      debit = np.zeros(voi.shape[1:-2])
      for t in range(num_steps):
        given, received = voi[t, ..., i, j], voi[t, ..., j, i]
        x = grudge - debit
        if spec.reward == "sign_of_balance":
          r = np.sign(x) * given
        elif spec.reward == "sign_of_influence":
          r = x * np.sign(given)
        elif spec.reward == "positive_balance":
          r = np.maximum(x, 0) * given
        elif spec.reward == "owed_harm":
          r = np.maximum(x, 0) * np.minimum(given, 0.0)
        elif spec.reward == "centered_owed_harm":
          r = np.maximum(x, 0) * (np.minimum(given, 0.0) - np.asarray(harm)[t, ..., i, j])
        else:
          r = x * given
        out[t, ..., i] += r / (num_players - 1)
        if spec.increment == "net":
          grudge = decay * grudge + received - given
        elif spec.increment == "received":
          grudge = decay * grudge + received
        else:
          grudge = decay * grudge + received
          debit = decay * debit + given + voi[t, ..., j, j]
  return out


@pytest.mark.parametrize("variant", sorted(EXPECTED_2P_DECAY_HALF))
def test_two_players_hand_computed(variant):
  rewards, _ = reciprocal.reciprocal_rewards(
      np.array(VOI_2P, np.float64), variant=variant, balance_decay=0.5,
      expected_harm=HARM_2P)   # Read only by the variants that need it.
  np.testing.assert_allclose(rewards.numpy(), EXPECTED_2P_DECAY_HALF[variant], atol=1e-12)


@pytest.mark.parametrize("variant", sorted(EXPECTED_3P_DECAY_ONE))
def test_three_players_hand_computed(variant):
  rewards, _ = reciprocal.reciprocal_rewards(
      np.array(VOI_3P, np.float64), variant=variant, balance_decay=1.0)
  np.testing.assert_allclose(rewards.numpy(), EXPECTED_3P_DECAY_ONE[variant], atol=1e-12)


def test_hand_computed_tables_agree_with_the_naive_loop():
  for variant, expected in EXPECTED_2P_DECAY_HALF.items():
    np.testing.assert_allclose(_reference(VOI_2P, variant, 0.5, HARM_2P), expected, atol=1e-12)
  for variant, expected in EXPECTED_3P_DECAY_ONE.items():
    np.testing.assert_allclose(_reference(VOI_3P, variant, 1.0), expected, atol=1e-12)


def test_published_names_are_aliases():
  for published, descriptive in [("petty_payoff", "balance"), ("petty", "received"),
                                 ("signed_grudge", "signed_received"),
                                 ("signed_petty_payoff", "signed_balance"),
                                 ("signed_grudge_petty_payoff", "balance_signed_influence"),
                                 ("grudge_minus_debit", "received_minus_debit"),
                                 ("signed_grudge_minus_debit", "signed_received_minus_debit")]:
    a, _ = reciprocal.reciprocal_rewards(VOI_2P, variant=published, balance_decay=0.5)
    np.testing.assert_allclose(a.numpy(), EXPECTED_2P_DECAY_HALF[descriptive], atol=1e-6)
  assert reciprocal.DEFAULT_VARIANT == "balance"
  assert reciprocal.get_variant("petty_payoff").name == "balance"


def test_forgiving_balance_never_pays_for_harm():
  # The reason for the variant: harming an opponent (given < 0) is never rewarded,
  # whatever the history, while "balance" rewards it after the opponent harmed first.
  voi = np.random.default_rng(3).normal(size=(200, 3, 3))
  forgiving = reciprocal.reciprocal_terms(voi, "forgiving_balance", 0.9).pair_rewards.numpy()
  balance = reciprocal.reciprocal_terms(voi, "balance", 0.9)
  harm = voi < 0
  assert np.all(forgiving[harm] <= 0)
  assert np.any(balance.pair_rewards.numpy()[harm] > 0)
  # Where the balance is positive the two agree.
  positive = balance.lagged_balance.numpy() > 0
  np.testing.assert_allclose(forgiving[positive], balance.pair_rewards.numpy()[positive])


def test_owed_harm_penalty_pays_nothing_and_charges_harm_to_a_creditor():
  # The reason for the variant: no step is paid (a step where i could have harmed j
  # and did not is a positive influence, and paying it taught coin avoidance), while
  # harm to a partner i owes costs what `forgiving_balance` charges for it.
  voi = np.random.default_rng(4).normal(size=(200, 3, 3))
  penalty = reciprocal.reciprocal_terms(voi, "owed_harm_penalty", 0.9).pair_rewards.numpy()
  forgiving = reciprocal.reciprocal_terms(voi, "forgiving_balance", 0.9).pair_rewards.numpy()
  harm = voi < 0
  assert np.all(penalty <= 0)
  assert np.all(penalty[~harm] == 0)
  np.testing.assert_allclose(penalty[harm], forgiving[harm])
  assert np.any(penalty < 0)


def test_centered_owed_harm_is_zero_mean_over_the_players_own_actions():
  # The reason for the variant: owed_harm_penalty's mean over i's own actions is
  # negative wherever i could harm j (a cost of being there). Here every step's VoI of
  # each of i's A actions is made zero-mean under pi_i, as the marginal estimator's is;
  # whatever i's balance, the reward averaged over i's actions at step t is then 0,
  # and harming more than i's policy does on average is charged.
  rng = np.random.default_rng(5)
  steps, players, actions = 30, 3, 4
  pi = rng.dirichlet(np.ones(actions), size=(steps, players))            # [T, N(i), A]
  q = rng.normal(size=(steps, players, players, actions))                # [T, i, j, A]
  per_action = q - np.einsum("tia,tija->tij", pi, q)[..., None]          # VoI of each a_i.
  harm = np.einsum("tia,tija->tij", pi, np.minimum(per_action, 0.0))
  taken = rng.integers(0, actions, size=(steps, players))
  voi = np.take_along_axis(per_action, taken[:, :, None, None], axis=-1)[..., 0]
  penalty = reciprocal.reciprocal_terms(voi, "owed_harm_penalty", 0.9)
  for t in (3, 17, 29):
    for i in range(players):
      mean, penalty_mean = np.zeros(players), np.zeros(players)
      for a in range(actions):    # i's action at step t replaced by each a.
        alt = voi.copy()
        alt[t, i] = per_action[t, i, :, a]
        centered = reciprocal.reciprocal_terms(alt, "centered_owed_harm", 0.9,
                                               expected_harm=harm).pair_rewards.numpy()
        mean += pi[t, i, a] * centered[t, i]
        penalty_mean += pi[t, i, a] * reciprocal.reciprocal_terms(
            alt, "owed_harm_penalty", 0.9).pair_rewards.numpy()[t, i]
      np.testing.assert_allclose(mean, 0.0, atol=1e-9)
      owed = penalty.lagged_balance.numpy()[t, i] > 0
      owed[i] = False
      assert np.all(penalty_mean[owed] < 0)     # What the centering removes.
  centered = reciprocal.reciprocal_terms(voi, "centered_owed_harm", 0.9, expected_harm=harm)
  worse = (np.minimum(voi, 0) < harm) & (centered.lagged_balance.numpy() > 0)
  assert np.any(worse) and np.all(centered.pair_rewards.numpy()[worse] < 0)


def test_centered_owed_harm_without_expected_harm_says_what_is_missing():
  with pytest.raises(ValueError, match="needs expected_harm"):
    reciprocal.reciprocal_rewards(VOI_2P, "centered_owed_harm")
  with pytest.raises(ValueError, match="expected_harm must have voi's shape"):
    reciprocal.reciprocal_rewards(VOI_2P, "centered_owed_harm", expected_harm=np.zeros((3, 2)))


def test_lag_step_t_influence_does_not_pay_at_step_t():
  # All influence at step 0 only: nothing can be paid at step 0, and step 1 pays
  # (balance from step 0) x (influence at step 1) = 0 as well.
  voi = np.zeros((3, 2, 2))
  voi[0] = [[0, 5], [7, 0]]
  rewards, state = reciprocal.reciprocal_rewards(voi, "balance", 1.0)
  np.testing.assert_array_equal(rewards.numpy(), np.zeros((3, 2)))
  np.testing.assert_allclose(state.balance.numpy(), [[0, 2], [-2, 0]])


@pytest.mark.parametrize("decay", [0.0, 0.3, 1.0])
def test_decay_of_the_balance(decay):
  # A single received influence of 1 at t=0, then i gives 1 every step: reward at t
  # is the balance decayed t-1 times.
  voi = np.zeros((5, 2, 2))
  voi[0, 1, 0] = 1.0
  voi[1:, 0, 1] = 1.0
  terms = reciprocal.reciprocal_terms(voi, "received", balance_decay=decay)
  expected = [0.0] + [decay ** (t - 1) for t in range(1, 5)]
  np.testing.assert_allclose(terms.rewards.numpy()[:, 0], expected, atol=1e-7)
  np.testing.assert_allclose(terms.lagged_balance.numpy()[1:, 0, 1], expected[1:], atol=1e-7)


@pytest.mark.parametrize("variant", reciprocal.variant_names())
@pytest.mark.parametrize("shape", [(40, 2, 2), (40, 3, 3), (40, 5, 4, 4)])
def test_matches_naive_loop_on_random_influences(variant, shape):
  voi = np.random.default_rng(len(shape) + shape[-1]).normal(size=shape)
  harm = _harm_for(variant, voi)
  rewards, _ = reciprocal.reciprocal_rewards(voi, variant, balance_decay=0.9, expected_harm=harm)
  np.testing.assert_allclose(rewards.numpy(), _reference(voi, variant, 0.9, harm), atol=1e-9)


@pytest.mark.parametrize("variant", reciprocal.variant_names())
def test_chunked_equals_one_pass(variant):
  voi = np.random.default_rng(7).normal(size=(50, 8, 3, 3)).astype(np.float32)
  harm = _harm_for(variant, voi)
  part = lambda h, s: None if h is None else h[s]
  whole, whole_state = reciprocal.reciprocal_rewards(voi, variant, 0.95, expected_harm=harm)
  first, state = reciprocal.reciprocal_rewards(voi[:17], variant, 0.95,
                                               expected_harm=part(harm, slice(None, 17)))
  second, final_state = reciprocal.reciprocal_rewards(voi[17:], variant, 0.95, state,
                                                      part(harm, slice(17, None)))
  np.testing.assert_allclose(np.concatenate([first, second]), whole, rtol=1e-5, atol=1e-5)
  for a, b in zip(final_state, whole_state):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_long_sequences_are_blocked_without_changing_results():
  voi = np.random.default_rng(3).normal(size=(2500, 2, 2))
  for variant in ("balance", "centered_owed_harm"):   # The harm is blocked with voi.
    harm = _harm_for(variant, voi)
    rewards, _ = reciprocal.reciprocal_rewards(voi, variant, 0.99, expected_harm=harm)
    np.testing.assert_allclose(rewards.numpy(), _reference(voi, variant, 0.99, harm), atol=1e-8)


def test_inside_tf_function_with_unknown_length():
  fn = tf.function(
      lambda v: reciprocal.reciprocal_rewards(v, "balance", 0.5),
      input_signature=[tf.TensorSpec([None, 2, 2], tf.float64)])
  rewards, state = fn(tf.constant(VOI_2P, tf.float64))
  np.testing.assert_allclose(rewards.numpy(), EXPECTED_2P_DECAY_HALF["balance"])
  np.testing.assert_allclose(state.balance.numpy(), [[0, -0.75], [0.75, 0]])


def test_per_pair_terms_are_exposed_for_logging():
  terms = reciprocal.reciprocal_terms(VOI_3P, "balance", 1.0)
  assert terms.pair_rewards.shape == (3, 3, 3)
  np.testing.assert_allclose(terms.pair_rewards.numpy()[:, 0, 1], [0, 2, -1])
  np.testing.assert_allclose(terms.lagged_balance.numpy()[:, 0, 1], [0, 1, -1])
  np.testing.assert_array_equal(np.diagonal(terms.pair_rewards.numpy(), axis1=1, axis2=2), 0)


def test_unknown_variant_lists_the_valid_ones():
  with pytest.raises(ValueError) as e:
    reciprocal.reciprocal_rewards(VOI_2P, variant="grudge")
  for name in ["balance", "lagged_product", "petty_payoff", "signed_grudge"]:
    assert name in str(e.value)


@pytest.mark.parametrize("voi_shape,state_shape", [
    ((3, 2), None), ((3, 2, 3), None), ((3, 1, 1), None), ((3, 2, 2), (3, 3))])
def test_mismatched_shapes_name_the_shapes(voi_shape, state_shape):
  state = None
  if state_shape:
    state = reciprocal.ReciprocalState(np.zeros(state_shape), np.zeros(state_shape))
  with pytest.raises(ValueError) as e:
    reciprocal.reciprocal_rewards(np.zeros(voi_shape), initial_state=state)
  assert str(tuple(voi_shape)).replace(" ", "") in str(e.value).replace(" ", "")


def test_bad_decay_is_rejected():
  with pytest.raises(ValueError, match="balance_decay"):
    reciprocal.reciprocal_rewards(VOI_2P, balance_decay=1.5)


def test_normalize_and_linear_weight():
  out = reciprocal.normalize(tf.constant([[1.0, 2.0], [3.0, 6.0]])).numpy()
  assert abs(out.mean()) < 1e-6 and abs(out.std() - 1) < 1e-3
  assert reciprocal.linear_weight(0, 0.5, 2.0, 100) == 0.5
  assert reciprocal.linear_weight(50, 0.5, 2.0, 100) == 1.25
  assert reciprocal.linear_weight(500, 0.5, 2.0, 100) == 2.0
  assert reciprocal.linear_weight(3, 0.5, 2.0, 0) == 2.0


@pytest.mark.parametrize("variant", reciprocal.variant_names())
def test_online_step_equals_the_sequence_computation(variant):
  voi = np.random.default_rng(11).normal(size=(6, 4, 3, 3))
  harm = _harm_for(variant, voi)
  whole = reciprocal.reciprocal_terms(voi, variant, 0.8, expected_harm=harm)
  state = None
  for t in range(6):
    step = reciprocal.reciprocal_step(voi[t], variant, 0.8, state,
                                      None if harm is None else harm[t])
    np.testing.assert_allclose(step.rewards, whole.rewards[t], atol=1e-9)
    np.testing.assert_allclose(step.lagged_balance, whole.lagged_balance[t], atol=1e-9)
    state = step.final_state
  for a, b in zip(state, whole.final_state):
    np.testing.assert_allclose(a, b, atol=1e-9)
