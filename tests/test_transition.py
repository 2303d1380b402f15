"""The model-based future term (published Coins code): contraction, data, end to end."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from recip_acme.influence import config as config_lib
from recip_acme.influence import data as data_lib
from recip_acme.influence import learning
from recip_acme.influence import networks
from recip_acme.influence import transition
from substrates import paper_games


@pytest.mark.parametrize("factors", [(2, 3, 2), (5,), (4, 2), (3, 3, 3, 3), (2, 9, 3)])
def test_expected_value_equals_the_sum_over_every_state(factors):
  # Every split of the factors into the matmul's and the weighted sum's groups.
  rng = np.random.default_rng(0)
  table = rng.normal(size=(int(np.prod(factors)), 2)).astype(np.float32)   # [prod, N]
  probs = [rng.dirichlet(np.ones(c), size=(3, 4)).astype(np.float32) for c in factors]
  got = transition.expected_value([tf.constant(p) for p in probs], tf.constant(table)).numpy()
  want = np.zeros((3, 4, 2))
  for k, labels in enumerate(itertools.product(*(range(c) for c in factors))):
    p = np.prod([probs[f][..., c] for f, c in enumerate(labels)], axis=0)   # [3, 4]
    want += p[..., None] * table[k]
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_all_states_rows_are_the_one_hots_of_their_labels_in_table_order():
  factors = (2, 3, 2)
  states = transition.all_states(factors)
  assert states.shape == (12, 7)
  for k, labels in enumerate(itertools.product(*(range(c) for c in factors))):
    want = np.concatenate([np.eye(c)[l] for c, l in zip(factors, labels)])
    np.testing.assert_array_equal(states[k], want)
    # A distribution sure of these labels picks exactly this row of a table.
    sure = [tf.constant(np.eye(c, dtype=np.float32)[l][None]) for c, l in zip(factors, labels)]
    table = tf.constant(np.arange(24, dtype=np.float32).reshape(12, 2))
    np.testing.assert_allclose(transition.expected_value(sure, table).numpy()[0], table[k])


def test_replay_pairs_each_step_with_the_next_state_of_its_own_game():
  replay = data_lib.EpisodeReplay(max_episodes=2, gamma=0.9, seed=0, with_next_state=True)
  t, b = 3, 2
  # Two episodes of distinct rows (the second one's values follow the first's): a
  # step's next state must never come from the other episode.
  episodes = np.arange(2 * t * b * 2, dtype=np.float32).reshape(2, t, b, 2) + 1
  for state in episodes:
    replay.add_episode(state, np.zeros((t, b, 2), np.int32), np.zeros((t, b, 2)))
  batch = replay.sample(300)
  for row in range(300):
    episode, step, game = np.argwhere((episodes == batch.state[row]).all(-1))[0]
    state = episodes[episode]
    if step == t - 1:
      assert batch.has_next_state[row] == 0
      assert not batch.next_state[row].any()
    else:
      assert batch.has_next_state[row] == 1
      np.testing.assert_array_equal(batch.next_state[row], state[step + 1, game])
  # Without the option (the return estimators), samples carry no next states.
  plain = data_lib.EpisodeReplay(max_episodes=1, gamma=0.9, seed=0)
  plain.add_episode(episodes[0], np.zeros((t, b, 2), np.int32), np.zeros((t, b, 2)))
  assert plain.sample(4).next_state is None


def test_transition_estimator_needs_one_hot_factors_matching_the_state():
  with pytest.raises(ValueError, match="state_factors"):
    networks.InfluenceEstimators(2, 5, 36, (8,), future_estimator="transition")
  with pytest.raises(ValueError, match="state_factors"):
    networks.InfluenceEstimators(2, 5, 36, (8,), future_estimator="transition",
                                 state_factors=(9, 9))
  with pytest.raises(ValueError, match="unknown future_estimator"):
    networks.InfluenceEstimators(2, 5, 36, (8,), future_estimator="model")
  with pytest.raises(ValueError, match="future_estimator"):
    config_lib.InfluenceConfig(future_estimator="model")


def _random_coins_replay(episodes: int, batch: int, seed: int = 0):
  env = paper_games.BatchedCoins(batch, num_players=2, seed=seed)
  rng = np.random.default_rng(seed)
  replay = data_lib.EpisodeReplay(max_episodes=episodes, gamma=0.9, seed=seed,
                                  with_next_state=True)
  for _ in range(episodes):
    step = env.reset()
    states, actions, rewards = [], [], []
    for _ in range(env.episode_length):
      a = rng.integers(0, 5, size=(batch, 2))
      states.append(step.state)
      actions.append(a)
      step = env.step(a)
      rewards.append(step.rewards)
    replay.add_episode(np.stack(states), np.stack(actions), np.stack(rewards))
  return env, replay


def test_fitted_model_gives_the_future_influence_of_a_move_on_a_known_value():
  """Random play on Coins; V(s') := [player 0 stands on cell 0 after the move].

  Then E[V | s, a] is 1 exactly when player 0's move takes it to cell 0, and
  without player 0's action it is 1/5 for each of the 5 moves that can: player 0's
  future influence on anyone is 1[a0 reaches cell 0] - (moves reaching cell 0) / 5,
  and player 1's is 0 (its move cannot change where player 0 ends up).
  """
  env, replay = _random_coins_replay(episodes=8, batch=512)
  config = config_lib.InfluenceConfig(
      hidden_sizes=(64, 64), learning_rate=0.01, final_learning_rate_fraction=0.05,
      batch_size=2048, epochs=20, samples_per_epoch=131072, use_time_left=False,
      future_estimator="transition", gamma=1.0)
  tf.random.set_seed(0)
  estimators = networks.InfluenceEstimators(2, 5, env.state_size, config.hidden_sizes,
                                            use_time_left=False,
                                            future_estimator="transition",
                                            state_factors=env.state_factors)
  learner = learning.InfluenceLearner(estimators, replay, config)
  learner.step()
  table = np.zeros((9 ** 4, 2), np.float32)
  table[: 9 ** 3] = 1.0                         # Labels (0, *, *, *): player 0 at cell 0.
  estimators.transition.value_table.assign(table)

  # Every joint action from states where player 0 is next to cell 0 or on it.
  agents = np.array([[[0, 1], [2, 2]], [[1, 0], [1, 1]], [[0, 0], [2, 1]], [[2, 2], [0, 0]]])
  coins = np.array([[[1, 1], [2, 0]]] * len(agents))
  joint = np.array(list(itertools.product(range(5), range(5))))         # [25, 2]
  n = len(agents) * len(joint)
  env_b = paper_games.BatchedCoins(n, num_players=2)
  step = env_b.set_state(np.repeat(agents, len(joint), 0), np.repeat(coins, len(joint), 0))
  actions = np.tile(joint, (len(agents), 1))
  voi = networks.value_of_influence(estimators(step.state, actions), gamma=1.0).numpy()
  future = voi - networks.value_of_influence(estimators(step.state, actions), 1.0,
                                             future_term=False).numpy()
  reached = (np.repeat(agents, len(joint), 0)[:, 0] + paper_games.MOVES[actions[:, 0]]) % 3
  hits = (reached == 0).all(-1).astype(np.float32)                      # a0 reaches cell 0.
  ways = np.array([sum(((a[0] + m) % 3 == 0).all() for m in paper_games.MOVES)
                   for a in agents], np.float32)
  want = hits - np.repeat(ways, len(joint)) / 5.0
  for i in range(2):
    np.testing.assert_allclose(future[:, 0, i], want, atol=0.1)
    np.testing.assert_allclose(future[:, 1, i], 0.0, atol=0.1)


def test_refit_tabulates_the_critic_over_every_state():
  env, replay = _random_coins_replay(episodes=1, batch=16)
  config = config_lib.InfluenceConfig(hidden_sizes=(8,), batch_size=64, epochs=1,
                                      samples_per_epoch=64, use_time_left=True,
                                      future_estimator="transition")
  estimators = networks.InfluenceEstimators(2, 5, env.state_size, (8,),
                                            future_estimator="transition",
                                            state_factors=env.state_factors)
  learning.InfluenceLearner(estimators, replay, config).step()
  table = estimators.transition.value_table.numpy()
  rows = [0, 1234, 9 ** 4 - 1]
  critic = estimators.transition.critic(transition.all_states(env.state_factors)[rows]).numpy()
  np.testing.assert_allclose(table[rows], critic, rtol=1e-5, atol=1e-6)
  assert np.abs(table).sum() > 0
