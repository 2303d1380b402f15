"""The paper's games: payoffs, observation layouts, coin rules on hand-built states."""

import numpy as np
import pytest

from substrates import paper_games as games


def test_ipd_payoffs_and_horizon():
  env = games.BatchedIPD(batch_size=4)
  first = env.reset()
  np.testing.assert_array_equal(first.observations[:, :, 0], 1.0)  # Start state.
  actions = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
  out = env.step(actions)
  np.testing.assert_array_equal(out.rewards, [[-1, -1], [-3, 0], [0, -3], [-2, -2]])
  for _ in range(31):   # Steps 2..32.
    assert not out.done
    out = env.step(actions)
  assert out.done and out.step == 32


def test_ipd_observation_is_egocentric_memory_one():
  # Layout: [start, CC, CD, DC, DD] with (mine, theirs).
  obs = games.BatchedIPD.observe(np.array([[0, 1]]), 1)   # Player 0 C, player 1 D.
  np.testing.assert_array_equal(obs[0, 0], [0, 0, 1, 0, 0])  # Player 0 sees CD.
  np.testing.assert_array_equal(obs[0, 1], [0, 0, 0, 1, 0])  # Player 1 sees DC.


def _coins(num_players=2, batch=1):
  return games.BatchedCoins(batch, num_players=num_players, seed=0)


def test_coins_own_coin_pays_one_and_nobody_loses():
  env = _coins()
  env.set_state(agents=[[[0, 0], [2, 2]]], coins=[[[0, 1], [1, 1]]])
  out = env.step(np.array([[0, 4]]))     # Player 0 moves right onto its own coin.
  np.testing.assert_array_equal(out.rewards, [[1.0, 0.0]])
  np.testing.assert_array_equal(out.info["coins_taken"][0], [[1, 0], [0, 0]])


def test_coins_other_coin_penalises_its_owner_by_n_over_n_minus_one():
  env = _coins()
  env.set_state(agents=[[[0, 0], [2, 2]]], coins=[[[1, 1], [0, 1]]])
  out = env.step(np.array([[0, 4]]))     # Player 0 takes player 1's coin.
  np.testing.assert_array_equal(out.rewards, [[1.0, -2.0]])
  env3 = _coins(num_players=3)
  env3.set_state(agents=[[[0, 0], [2, 2], [2, 0]]], coins=[[[1, 1], [0, 1], [1, 0]]])
  out = env3.step(np.array([[0, 4, 4]]))  # Player 0 takes player 1's coin: -3/2.
  np.testing.assert_allclose(out.rewards, [[1.0, -1.5, 0.0]])


def test_coins_two_takers_both_paid_and_owner_pays_once_per_other_taker():
  env = _coins(num_players=3)
  # Players 0 and 1 both step onto player 2's coin at (1, 1); player 2 stays away.
  env.set_state(agents=[[[1, 0], [0, 1], [2, 2]]], coins=[[[0, 0], [2, 0], [1, 1]]])
  out = env.step(np.array([[0, 2, 4]]))   # 0: right -> (1,1); 1: down -> (1,1).
  np.testing.assert_allclose(out.rewards, [[1.0, 1.0, -3.0]])


def test_coins_torus_wraps_and_taken_coins_respawn():
  env = games.BatchedCoins(500, seed=1)
  agents = np.tile([[[0, 2], [2, 2]]], (500, 1, 1))
  coins = np.tile([[[0, 0], [1, 1]]], (500, 1, 1))
  env.set_state(agents, coins)
  out = env.step(np.tile([[0, 4]], (500, 1)))   # Right from column 2 wraps to column 0.
  np.testing.assert_array_equal(env.agents[:, 0], np.tile([0, 0], (500, 1)))
  np.testing.assert_array_equal(out.rewards[:, 0], 1.0)
  # Player 0's coin respawned uniformly (incl. on a player), player 1's did not move.
  cells = env.coins[:, 0, 0] * 3 + env.coins[:, 0, 1]
  assert len(np.unique(cells)) == 9
  np.testing.assert_array_equal(env.coins[:, 1], np.tile([1, 1], (500, 1)))


def test_coins_observation_layout_is_egocentric():
  env = _coins(num_players=3)
  out = env.set_state(agents=[[[0, 0], [0, 1], [0, 2]]], coins=[[[1, 0], [1, 1], [1, 2]]])
  planes = out.observations[0].reshape(3, 6, 3, 3)
  # Player 1's view: itself, then player 2, then player 0; coins likewise.
  view = planes[1]
  assert view[0, 0, 1] == 1 and view[1, 0, 2] == 1 and view[2, 0, 0] == 1
  assert view[3, 1, 1] == 1 and view[4, 1, 2] == 1 and view[5, 1, 0] == 1
  assert view.sum() == 6
  np.testing.assert_array_equal(out.state[0], planes[0].reshape(-1))  # Global = player 0's.


def test_coins_episode_metrics():
  taken = np.zeros((2, 1, 2, 2), np.int64)
  taken[0, 0, 0, 0] = 1   # Player 0 took its own coin.
  taken[1, 0, 1, 0] = 1   # Player 1 took player 0's coin.
  rewards = np.array([[[1.0, 0.0]], [[-2.0, 1.0]]])
  m = games.coins_episode_metrics(taken, rewards)
  assert m["p_own_coin"] == 0.5 and m["own_coins_p0"] == 1 and m["other_coins_p1"] == 1
  assert m["total_reward"] == 0.0 and m["reward_p0"] == -1.0
  # The reciprocal reward each player got where it took its own coin, the other's, none.
  taken = np.concatenate([taken, np.zeros((1, 1, 2, 2), np.int64)])   # Step 2: no take.
  rewards = np.concatenate([rewards, np.zeros((1, 1, 2))])
  r_rec = np.array([[[0.5, 7.0]], [[3.0, -1.5]], [[-4.0, 2.0]]])
  m = games.coins_episode_metrics(taken, rewards, r_rec)
  assert m["reciprocal_reward_at_own_coin_p0"] == 0.5
  assert m["reciprocal_reward_at_other_coin_p1"] == -1.5
  assert m["reciprocal_reward_at_none_coin_p0"] == -0.5      # Steps 1 and 2: (3 - 4) / 2.
  assert m["reciprocal_reward_at_none_coin_p1"] == 4.5       # Steps 0 and 2.
  assert np.isnan(m["reciprocal_reward_at_other_coin_p0"])
  # What r_rec was made of at a partner-coin take: step 1, player 1 took player 0's coin.
  voi = np.zeros((3, 1, 2, 2))
  voi[1, 0, 1, 0] = -1.75    # voi[t, b, j, i]: player 1's VoI on player 0 at step 1.
  voi[1, 0, 0, 1] = 0.25
  balance = np.zeros((3, 1, 2, 2))
  balance[1, 0, 1, 0] = -0.5  # balance[t, b, i, j]: player 1's balance towards player 0.
  m = games.coins_episode_metrics(taken, rewards, r_rec, voi, balance)
  assert m["voi_on_partner_at_other_coin_p1"] == -1.75
  assert m["partner_voi_at_lost_coin_p0"] == -1.75
  assert m["balance_at_other_coin_p1"] == -0.5
  assert np.isnan(m["voi_on_partner_at_other_coin_p0"])   # Player 0 took no partner coin.
  probabilities = np.full((3, 1, 2), 0.5)
  probabilities[1, 0, 1] = 0.9
  m = games.coins_episode_metrics(taken, rewards, r_rec, voi, balance, probabilities)
  assert m["action_probability_at_other_coin_p1"] == 0.9
  assert np.isnan(m["action_probability_at_other_coin_p0"])


def test_coins_metrics_after_a_take():
  # What a take of the partner's coin costs the taker over the next `window` steps.
  taken = np.zeros((5, 1, 2, 2), np.int64)     # [t, b, taker, owner]
  taken[0, 0, 0, 1] = 1                        # Player 0 takes player 1's coin ...
  taken[1, 0, 1, 0] = taken[2, 0, 1, 0] = 1    # ... and player 1 answers twice.
  taken[2, 0, 0, 0] = 1                        # Player 0 takes its own coin at t=2 and
  taken[4, 0, 0, 0] = 1                        # t=4 (no full window left: not counted).
  rewards = np.array([[1.0, -2.0], [-2.0, 1.0], [-1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
  m = games.coins_episode_metrics(taken, rewards[:, None], window=2)
  assert m["partner_takes_after_other_coin_p0"] == 2.0   # Steps 1-2.
  assert m["partner_takes_after_own_coin_p0"] == 0.0     # Steps 3-4.
  assert m["reward_after_other_coin_p0"] == -3.0
  assert m["reward_after_own_coin_p0"] == 1.0
  assert m["partner_takes_after_other_coin_p1"] == 0.0   # Player 1's takes at t=1, 2.
  assert m["reward_after_other_coin_p1"] == 0.5          # Steps 2-3: 1, steps 3-4: 0.
  assert np.isnan(m["partner_takes_after_own_coin_p1"])


@pytest.mark.parametrize("n", [2, 3])
def test_coins_random_play_earns_zero_in_expectation(n):
  # The paper's note: collecting indiscriminately (P(own) ~ 1/N) earns 0 on average.
  env = games.BatchedCoins(4096, num_players=n, seed=2)
  env.reset()
  rng = np.random.default_rng(3)
  total = np.zeros(4096)
  for _ in range(32):
    total += env.step(rng.integers(0, 5, (4096, n))).rewards.sum(axis=1)
  assert abs(total.mean()) < 0.1
