"""Value-of-influence estimators: analytic VoI recovered, counterfactuals blind to j."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from recip_acme.influence import config as config_lib
from recip_acme.influence import data as data_lib
from recip_acme.influence import learning
from recip_acme.influence import networks

# IPD payoffs[a0][a1] = (r0, r1), C = 0, D = 1.
IPD = np.array([[[-1, -1], [-3, 0]], [[0, -3], [-2, -2]]], np.float32)
P_COOPERATE = (0.7, 0.4)


def _policies():
  return [np.array([p, 1 - p]) for p in P_COOPERATE]


def _analytic_immediate_voi(payoff):
  """voi[a0, a1, j, i] = r_i(a) - sum_{a_j'} pi_j(a_j') r_i(a with a_j')."""
  pi = _policies()
  voi = np.zeros((2, 2, 2, 2))
  for a0, a1 in itertools.product(range(2), range(2)):
    for i in range(2):
      voi[a0, a1, 0, i] = payoff[a0, a1, i] - sum(pi[0][b] * payoff[b, a1, i] for b in range(2))
      voi[a0, a1, 1, i] = payoff[a0, a1, i] - sum(pi[1][b] * payoff[a0, b, i] for b in range(2))
  return voi


def _sample_actions(rng, size):
  return np.stack([(rng.random(size) > p).astype(np.int32) for p in P_COOPERATE], -1)


def _fit(replay, num_players, state_size, epochs=20, use_time_left=False, gamma=0.9):
  # The paper's settings (lr 0.01, batch 4096, 20 epochs); a constant lr leaves
  # ~0.05 of Adam noise in the final estimate, annealing it to 2 % within the refit
  # brings that to ~0.02, the sampling error of the data.
  config = config_lib.InfluenceConfig(
      hidden_sizes=(32, 32), learning_rate=0.01, final_learning_rate_fraction=0.02,
      batch_size=4096, epochs=epochs,
      samples_per_epoch=65536, use_time_left=use_time_left, gamma=gamma)
  tf.random.set_seed(0)
  estimators = networks.InfluenceEstimators(num_players, 2, state_size, config.hidden_sizes,
                                            use_time_left=use_time_left)
  learner = learning.InfluenceLearner(estimators, replay, config)
  assert learner.refit_due()
  learner.step()
  assert learner.num_fits == 1 and not learner.refit_due()
  return estimators


ALL_JOINT_ACTIONS = np.array(list(itertools.product(range(2), range(2))), np.int32)


def test_one_step_matrix_game_immediate_voi_matches_analytic():
  rng = np.random.default_rng(0)
  batch = 32768
  actions = _sample_actions(rng, batch)
  rewards = IPD[actions[:, 0], actions[:, 1]]
  replay = data_lib.EpisodeReplay(max_episodes=4, gamma=0.9, seed=0)
  replay.add_episode(np.ones((1, batch, 1)), actions[None], rewards[None])
  estimators = _fit(replay, 2, 1)

  predictions = estimators(np.ones((4, 1), np.float32), ALL_JOINT_ACTIONS)
  voi = networks.value_of_influence(predictions, gamma=0.9).numpy()  # [4, j, i]
  expected = _analytic_immediate_voi(IPD).reshape(4, 2, 2)
  np.testing.assert_allclose(voi, expected, atol=0.05)
  # One step: nothing follows, so the future term must be ~0.
  future = voi - networks.value_of_influence(predictions, 0.9, future_term=False).numpy()
  np.testing.assert_allclose(future, 0.0, atol=0.05)


# Step 1 pays each player a continuation c_i(a_0) that depends on step 0's joint action.
CONTINUATION = np.stack([np.array([[4, 0], [1, 2]]), np.array([[3, 1], [0, -2]])], -1).astype(np.float32)


def test_two_step_game_future_term_matches_known_continuation():
  rng = np.random.default_rng(1)
  batch, gamma = 32768, 0.9
  a0, a1 = _sample_actions(rng, batch), _sample_actions(rng, batch)
  r0 = IPD[a0[:, 0], a0[:, 1]]
  r1 = CONTINUATION[a0[:, 0], a0[:, 1]]
  # State: [start flag, one-hot of the previous joint action] (memory-1).
  s0 = np.zeros((batch, 5), np.float32)
  s0[:, 0] = 1
  s1 = np.zeros((batch, 5), np.float32)
  s1[np.arange(batch), 1 + 2 * a0[:, 0] + a0[:, 1]] = 1
  replay = data_lib.EpisodeReplay(max_episodes=4, gamma=gamma, seed=1)
  replay.add_episode(np.stack([s0, s1]), np.stack([a0, a1]), np.stack([r0, r1]),
                     time_left=np.stack([np.ones(batch), np.zeros(batch)]))
  estimators = _fit(replay, 2, 5, use_time_left=True, gamma=gamma)

  start = np.tile(np.array([[1, 0, 0, 0, 0]], np.float32), (4, 1))
  predictions = estimators(start, ALL_JOINT_ACTIONS, np.ones(4, np.float32))
  total = networks.value_of_influence(predictions, gamma).numpy().reshape(2, 2, 2, 2)
  immediate = networks.value_of_influence(predictions, gamma, future_term=False).numpy()
  future = total - immediate.reshape(2, 2, 2, 2)
  expected_future = gamma * _analytic_immediate_voi(CONTINUATION)
  np.testing.assert_allclose(immediate.reshape(2, 2, 2, 2), _analytic_immediate_voi(IPD), atol=0.05)
  np.testing.assert_allclose(future, expected_future, atol=0.05)
  np.testing.assert_allclose(total, _analytic_immediate_voi(IPD) + expected_future, atol=0.05)


@pytest.mark.parametrize("num_players", [2, 3, 7])
def test_counterfactual_estimator_never_sees_the_left_out_action(num_players):
  rng = np.random.default_rng(num_players)
  estimators = networks.InfluenceEstimators(num_players, 5, 6, (16,), use_time_left=True)
  state = rng.normal(size=(8, 6)).astype(np.float32)
  time_left = rng.random(8).astype(np.float32)
  actions = rng.integers(0, 5, size=(8, num_players)).astype(np.int32)
  base = estimators(state, actions, time_left)
  for j in range(num_players):
    changed = actions.copy()
    changed[:, j] = (changed[:, j] + 1 + rng.integers(0, 4, size=8)) % 5
    moved = estimators(state, changed, time_left)
    np.testing.assert_array_equal(moved.cf_reward[j].numpy(), base.cf_reward[j].numpy())
    np.testing.assert_array_equal(moved.cf_next_return[j].numpy(), base.cf_next_return[j].numpy())
    # ...while the joint estimators and the other counterfactuals do react to it.
    assert not np.allclose(moved.reward.numpy(), base.reward.numpy())
    others = [k for k in range(num_players) if k != j]
    assert not np.allclose(tf.gather(moved.cf_reward, others).numpy(),
                           tf.gather(base.cf_reward, others).numpy())


def test_estimators_are_independent_networks():
  n = 3
  estimators = networks.InfluenceEstimators(n, 4, 10, (8, 8))
  # 2(N+1) members, each with its own slice of every weight tensor.
  members = 2 * (n + 1)
  for v in estimators.trainable_variables:
    assert v.shape[0] == members or v.shape[-1] == members * 8, (v.name, v.shape)
  state = np.ones((2, 10), np.float32)
  with tf.GradientTape() as tape:
    out = estimators(state, np.zeros((2, n), np.int32), np.zeros(2, np.float32))
    loss = tf.reduce_sum(out.cf_reward[1])  # Member 2 only.
  grads = tape.gradient(loss, estimators.trainable_variables)
  for v, g in zip(estimators.trainable_variables, grads):
    g = tf.convert_to_tensor(g).numpy()
    if v.shape[0] == members:    # [K, ...]: member 2 is row 2.
      others = np.delete(g, 2, axis=0)
    else:                        # [in, K*H]: member 2 is columns 16:24.
      others = np.delete(g, np.s_[16:24], axis=1)
    assert np.abs(others).max() == 0.0, v.name


def test_value_of_influence_uses_gamma_once():
  # vhat regresses G_{t+1}; the future term is gamma * (vhat - vhat^-j), not gamma^2.
  p = networks.Predictions(
      reward=tf.constant([[1.0, 2.0]]),
      cf_reward=tf.constant([[[0.5, 1.0]], [[1.0, 0.0]]]),
      next_return=tf.constant([[10.0, 20.0]]),
      cf_next_return=tf.constant([[[4.0, 10.0]], [[10.0, 0.0]]]))
  voi = networks.value_of_influence(p, gamma=0.5).numpy()[0]
  # j=0 on i=0: (1 - 0.5) + 0.5 * (10 - 4) = 3.5; j=0 on i=1: (2 - 1) + 0.5 * (20 - 10) = 6
  # j=1 on i=0: 0 + 0; j=1 on i=1: (2 - 0) + 0.5 * 20 = 12.
  np.testing.assert_allclose(voi, [[3.5, 6.0], [0.0, 12.0]])


def test_discounted_next_returns():
  rewards = np.array([[1.0], [2.0], [3.0], [4.0]])
  out = data_lib.discounted_next_returns(rewards, 0.5)
  # G_1 = 2 + .5*3 + .25*4 = 4.5; G_2 = 3 + .5*4 = 5; G_3 = 4; after the last step: 0.
  np.testing.assert_allclose(out[:, 0], [4.5, 5.0, 4.0, 0.0])


def test_refit_schedule_initial_batch_then_every_k():
  replay = data_lib.EpisodeReplay(max_episodes=2, gamma=0.9, seed=0)
  config = config_lib.InfluenceConfig(hidden_sizes=(4,), batch_size=8, epochs=1,
                                      samples_per_epoch=8, replay_episodes=2,
                                      refit_every=2, initial_episodes=3, use_time_left=False)
  learner = learning.InfluenceLearner(networks.InfluenceEstimators(2, 2, 1, (4,), False),
                                      replay, config)
  fits = []
  for _ in range(8):
    replay.add_episode(np.ones((4, 1)), np.zeros((4, 2), np.int32), np.ones((4, 2)))
    fits.append(learner.maybe_step())
  assert fits == [False, False, True, False, True, False, True, False]
  assert replay.num_samples() == 8  # Only the last K = 2 episodes are kept.


def test_first_fit_runs_its_own_epochs_then_refits_run_epochs():
  """first_fit_epochs sizes only the fit from scratch; warm-started refits use epochs."""
  replay = data_lib.EpisodeReplay(max_episodes=1, gamma=0.9, seed=0)
  config = config_lib.InfluenceConfig(hidden_sizes=(4,), batch_size=4, epochs=1,
                                      first_fit_epochs=3, samples_per_epoch=8,
                                      replay_episodes=1, use_time_left=False)
  learner = learning.InfluenceLearner(networks.InfluenceEstimators(2, 2, 1, (4,), False),
                                      replay, config)
  steps = []
  learner._counter.increment = lambda **counts: steps.append(  # pylint: disable=protected-access
      counts["influence_sgd_steps"]) or {}
  for _ in range(3):
    replay.add_episode(np.ones((8, 1)), np.zeros((8, 2), np.int32), np.ones((8, 2)))
    learner.step()
  assert steps == [6, 2, 2]   # 3 epochs, then 1, of 8 samples in batches of 4.
  with pytest.raises(ValueError, match="first_fit_epochs"):
    config_lib.InfluenceConfig(first_fit_epochs=0)


def test_learner_exposes_variables_for_actors():
  estimators = networks.InfluenceEstimators(2, 3, 4, (8,), False)
  replay = data_lib.EpisodeReplay(1, 0.9)
  learner = learning.InfluenceLearner(estimators, replay, config_lib.InfluenceConfig())
  (variables,) = learner.get_variables(["influence"])
  assert len(variables) == len(estimators.variables)
  for a, b in zip(variables, estimators.variables):
    np.testing.assert_array_equal(a, b.numpy())


def test_bad_config_and_inputs_are_rejected():
  with pytest.raises(ValueError, match="batch_size"):
    config_lib.InfluenceConfig(batch_size=0)
  with pytest.raises(ValueError, match="at least 2 players"):
    networks.InfluenceEstimators(1, 2, 3)
  estimators = networks.InfluenceEstimators(2, 2, 3, (4,), use_time_left=True)
  with pytest.raises(ValueError, match="time_left"):
    estimators(np.zeros((1, 3), np.float32), np.zeros((1, 2), np.int32))
