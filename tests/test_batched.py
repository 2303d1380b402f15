"""The paper games train through the same adapter and the same Acme IMPALA learner."""

import numpy as np
import tensorflow as tf

from recip_acme import reciprocal
from recip_acme.agents.impala import config as impala_config
from recip_acme.agents.reciprocator import acting
from recip_acme.agents.reciprocator import batched
from recip_acme.influence import config as influence_config
from substrates import paper_games as games


def test_reciprocator_vs_naive_learner_on_ipd_trains_through_acme_impala():
  env = games.BatchedIPD(16)
  config = batched.BatchedConfig(
      reciprocal_weights=(5.0, 0.0), variant="lagged_product", updates_per_episode=2,
      hidden=8, lstm=8,
      influence=influence_config.InfluenceConfig(
          hidden_sizes=(8,), batch_size=64, epochs=1, samples_per_epoch=128,
          replay_episodes=1, refit_every=3, initial_episodes=1, future_term=False))
  trainer = batched.BatchedReciprocators(env, config)
  try:
    fits = [trainer.run_episode()["influence_fitted"] for _ in range(4)]
    assert fits == [True, False, False, True]       # Initial fit, then every 3 episodes.
    # Policies were frozen for the first episode only: 3 episodes x 2 updates each.
    for learner in trainer.learners:
      assert learner._counter.get_counts()["steps"] == 6
    # The naive learner's adapter weight is 0: it learns from extrinsic rewards only.
    assert [float(w.numpy()) for w in trainer.weights] == [5.0, 0.0]
    stats = trainer.run_episode()
    assert stats["rewards"].shape == (32, 16, 2)
    assert np.isfinite(stats["reciprocal_rewards"]).all()
  finally:
    trainer.close()


def test_acme_learner_snapshots_are_off(tmp_path, monkeypatch):
  from recip_acme.agents import base
  calls = []

  class Learner:
    class _snapshotter:  # noqa: N801 - mimics Acme's attribute.
      @staticmethod
      def save(force=False):
        calls.append(force)
        return True

  learner = base.without_acme_snapshots(Learner())
  assert learner._snapshotter.save() is False and calls == []


def test_memoryless_policy_with_custom_value_loss_weight_trains():
  """lstm=0 (the paper's IPD policy of the memory-1 state) is still an RNNCore Acme's
  IMPALA learner unrolls; its parameters move and its policy ignores history."""
  env = games.BatchedIPD(16)
  config = batched.BatchedConfig(
      reciprocal_weights=(0.0, 0.0), updates_per_episode=2, hidden=8, lstm=0,
      impala=impala_config.ImpalaConfig(baseline_cost=0.01, learning_rate=1e-2))
  trainer = batched.BatchedReciprocators(env, config)
  try:
    network = trainer.networks[0]
    assert network.initial_state(3) == ()
    before = [v.numpy().copy() for v in network.trainable_variables]
    for _ in range(2):
      trainer.run_episode()
    after = [v.numpy() for v in network.trainable_variables]
    assert any(not np.allclose(a, b) for a, b in zip(after, before))
    assert trainer.learners[0]._baseline_cost == 0.01
  finally:
    trainer.close()


def test_policy_diagnostics_see_a_saturated_softmax():
  """A policy pinned at one action has ~0 entropy and ~0 gradient left (the naive
  learner's state in #15); a fresh one has log 2-ish entropy and a gradient to follow."""
  env = games.BatchedIPD(4)
  config = batched.BatchedConfig(reciprocal_weights=(0.0, 0.0), hidden=8, lstm=0)
  trainer = batched.BatchedReciprocators(env, config)
  try:
    states = env.all_states()
    assert states.shape == (5, 5) and (states.sum(axis=1) == 1).all()
    fresh = trainer.policy_diagnostics(states)[0]
    assert np.isnan(fresh["param_change"])                  # Nothing to compare with yet.
    assert fresh["logits"].shape == (5, 2)
    assert (fresh["entropy"] > 0.3).all() and (fresh["entropy"] <= np.log(2) + 1e-6).all()
    assert fresh["grad_norm_entropy"] > 1e-3 and fresh["grad_norm_least_likely"] > 1e-3
    # Pin player 0 at cooperation: zero policy weights, bias C - D = 40.
    head = [v for v in trainer.networks[0].trainable_variables    # The logits layer.
            if "policy_value" in v.name and v.shape[-1] == env.num_actions]
    assert len(head) == 2
    for v in head:
      v.assign(np.zeros(v.shape, np.float32) if len(v.shape) == 2 else
               np.array([20.0, -20.0], np.float32))
    pinned = trainer.policy_diagnostics(states)[0]
    assert pinned["param_change"] > 20.0                      # The bias moved by 20 each way.
    np.testing.assert_allclose(pinned["logits"][:, 0] - pinned["logits"][:, 1], 40.0)
    assert pinned["entropy"].max() < 1e-12
    assert pinned["grad_norm_least_likely"] < 1e-12 and pinned["grad_norm_entropy"] < 1e-12
    # Player 1 was not touched.
    again = trainer.policy_diagnostics(states)
    assert again[1]["entropy"].min() > 0.3
    assert again[0]["param_change"] == 0.0 and again[1]["param_change"] == 0.0
  finally:
    trainer.close()


def test_separate_torsos_keep_value_learning_off_the_policy():
  """shared_torso=False: Acme's IMPALA learner trains it unchanged, and the value output
  has no path to the policy's parameters (nor the logits to the value's)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  env = games.BatchedIPD(8)
  config = batched.BatchedConfig(reciprocal_weights=(0.0, 0.0), updates_per_episode=2,
                                 hidden=8, lstm=0, shared_torso=False)
  trainer = batched.BatchedReciprocators(env, config)
  try:
    network = trainer.networks[0]
    policy = [v for v in network.trainable_variables if "/policy/" in v.name]
    value = [v for v in network.trainable_variables if "/value/" in v.name]
    assert policy and value and len(policy) + len(value) == len(network.trainable_variables)
    with tf.GradientTape(persistent=True) as tape:
      (logits, values), _ = network(tf.constant(env.all_states()), network.initial_state(5))
    assert all(g is None for g in tape.gradient(values, policy))
    assert all(g is None for g in tape.gradient(logits, value))
    before = [v.numpy().copy() for v in policy]
    for _ in range(2):
      trainer.run_episode()
    assert any(not np.allclose(v.numpy(), b) for v, b in zip(policy, before))
  finally:
    trainer.close()


def test_return_normalization_gives_the_learner_standardised_returns():
  """Known answer: the learner's own Monte-Carlo return of the new rewards is the batch's
  standardised return (the paper's PPO target); the bootstrap step is left alone."""
  import reverb  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from acme.adders import reverb as adders  # pylint: disable=g-import-not-at-top
  from recip_acme.agents.reciprocator import learning  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  b, t, gamma = 6, 5, 0.9
  rewards = rng.normal(-2.0, 0.3, (b, t + 1)).astype(np.float32)
  discounts = np.ones((b, t + 1), np.float32)
  discounts[:, t - 1:] = 0.0                                  # Whole episodes.
  data = adders.Step(observation=np.zeros((b, t + 1, 1), np.float32),
                     action=np.zeros((b, t + 1), np.int64), reward=rewards,
                     discount=discounts, start_of_episode=np.zeros((b, t + 1), bool),
                     extras={})
  sample = reverb.ReplaySample(info=None, data=tree_map_tensor(data))
  out = learning.return_normalization_transform(gamma)(sample).data.reward.numpy()
  # Brute force: G_t = sum_k gamma^k r_{t+k} within the episode (steps 0..t-1).
  g = np.zeros((b, t))
  for i in range(t - 1, -1, -1):
    g[:, i] = rewards[:, i] + (gamma * g[:, i + 1] if i + 1 < t else 0.0)
  expected = (g - g.mean()) / (g.std() + 1e-5)
  mine = learning.discounted_returns(tf.constant(out[:, :-1]),
                                     tf.constant(gamma * discounts[:, :-1])).numpy()
  np.testing.assert_allclose(mine, expected, atol=1e-4)
  np.testing.assert_allclose(out[:, -1], rewards[:, -1])


def tree_map_tensor(data):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tree  # pylint: disable=g-import-not-at-top
  return tree.map_structure(tf.constant, data)


def _coins_nl_vs_nl(**settings):
  return games.BatchedCoins(16, seed=0), batched.BatchedConfig(
      reciprocal_weights=(0.0, 0.0), hidden=8, lstm=8, **settings)


def test_minibatches_visit_every_game_equally_often():
  # 16 games in minibatches of 4, 8 steps: each minibatch is learned from twice, in turn,
  # and together they hold exactly the episode's games.
  env, config = _coins_nl_vs_nl(updates_per_episode=8, games_per_update=4)
  trainer = batched.BatchedReciprocators(env, config)
  samples = [[] for _ in trainer.learners]
  try:
    for learner, seen in zip(trainer.learners, samples):
      learner.step = (lambda it, out: (lambda: out.append(next(it).data)))(
          learner._iterator, seen)
    stats = trainer.run_episode()
    for player, seen in enumerate(samples):
      actions = [s.action.numpy() for s in seen]                      # [4 games, T+1] each.
      assert len(actions) == 8 and all(a.shape == (4, 33) for a in actions)
      for first, second in zip(actions[::2], actions[1::2]):
        np.testing.assert_array_equal(first, second)
      games_seen = np.concatenate(actions[::2])[:, :32]               # [16, T]
      np.testing.assert_array_equal(games_seen, stats["actions"][:, :, player].T)
    assert all(t.current_size == 0 for t in trainer.client.server_info().values())
  finally:
    trainer.close()


def test_minibatch_settings_that_do_not_divide_are_refused():
  import pytest  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="games_per_update=5 must divide the batch of 16"):
    _coins_nl_vs_nl(games_per_update=5)[1].minibatches(16)
  with pytest.raises(ValueError, match="updates_per_episode=6 must be a multiple of the 4"):
    _coins_nl_vs_nl(games_per_update=4, updates_per_episode=6)[1].minibatches(16)
  assert _coins_nl_vs_nl()[1].minibatches(16) == 1           # Default: the whole batch.


def test_policy_inputs_append_each_players_balance_towards_the_others():
  observations = np.zeros((1, 3, 2), np.float32)
  balance = np.arange(9, dtype=np.float32).reshape(1, 3, 3)   # B[., i, j] = 3i + j.
  rows = reciprocal.balance_observation(
      reciprocal.ReciprocalState(balance, np.zeros_like(balance)), "balance")
  inputs = batched.policy_inputs(observations, rows, np.array([True, False, True]))
  assert inputs.shape == (1, 3, 4)
  np.testing.assert_array_equal(inputs[0, 0, 2:], [1, 2])      # B[0, 1], B[0, 2].
  np.testing.assert_array_equal(inputs[0, 1, 2:], [0, 0])      # A naive learner: zeros.
  np.testing.assert_array_equal(inputs[0, 2, 2:], [6, 7])      # B[2, 0], B[2, 1].


def test_policy_that_sees_its_balance_reads_the_lagged_balance_it_is_paid_by():
  """With policy_sees_balance the Reciprocator acts on B[t-1] (the balance r_rec[t]
  multiplies), the naive learner on zeros, and the policy's output depends on it."""
  env = games.BatchedCoins(8, seed=0)
  config = batched.BatchedConfig(
      reciprocal_weights=(1.0, 0.0), updates_per_episode=1, hidden=8, lstm=8,
      policy_sees_balance=True,
      influence=influence_config.InfluenceConfig(
          hidden_sizes=(8,), batch_size=64, epochs=1, samples_per_epoch=128,
          replay_episodes=1, refit_every=1, initial_episodes=1, future_term=False))
  trainer = batched.BatchedReciprocators(env, config)
  seen = []
  act = trainer._act

  def recording_act(*args):
    out = act(*args)
    seen.append(out["policy_inputs"].numpy())   # What the policy read at this step.
    return out

  trainer._act = recording_act
  try:
    assert trainer.spec.observations.shape == (env.observation_size + 1,)
    trainer.run_episode()                  # The estimators' first fit.
    seen.clear()
    stats = trainer.run_episode()
    lagged = stats["balance"]              # [T, B, N(i), N(j)]
    assert np.abs(lagged[:, :, 0, 1]).max() > 0
    for t in range(len(lagged)):
      np.testing.assert_allclose(seen[t][:, 0, -1], lagged[t][:, 0, 1], rtol=1e-6)
      assert not seen[t][:, 1, -1].any()
    network = trainer.networks[0]
    probe = seen[5][:, 0]
    shifted = probe.copy()
    shifted[:, -1] += 5.0
    (logits, _), _ = network(probe, network.initial_state(8))
    (moved, _), _ = network(shifted, network.initial_state(8))
    assert not np.allclose(logits.numpy(), moved.numpy())
    assert trainer.policy_diagnostics(seen[0][:, 0, :-1])[0]["logits"].shape == (8, 5)
  finally:
    trainer.close()


def test_acting_with_and_without_xla_computes_the_same_step():
  """jit_compile_acting only changes how the step is compiled, not what it computes:
  from the same random seed, the same actions, logits, VoI and reciprocal rewards."""
  env = games.BatchedCoins(8, num_players=2, seed=0)
  config = batched.BatchedConfig(
      reciprocal_weights=(1.0, 1.0), hidden=8, lstm=4, seed=3,
      influence=influence_config.InfluenceConfig(hidden_sizes=(8,), batch_size=64,
                                                 epochs=1, samples_per_epoch=64,
                                                 initial_episodes=1))
  trainer = batched.BatchedReciprocators(env, config)
  try:
    trainer.run_episode()                                    # Fits the estimators.
    step = env.reset()
    cores = [net.initial_state(8) for net in trainer.networks]
    start = reciprocal.initial_state([8], 2)
    inputs = (step.observations, step.state, np.ones(8, np.float32), cores,
              start.balance + 0.5, start.debit)
    compiled = trainer._act(*inputs)                         # pylint: disable=protected-access
    graph = tf.function(trainer._act_impl, autograph=False, jit_compile=False)(*inputs)  # pylint: disable=protected-access
    # The sampled actions may differ (XLA draws its own random stream); given the
    # XLA step's actions, the influence step without XLA must pay the same.
    plain = tf.function(lambda *a: acting.influence_step(trainer._influence_settings, *a),  # pylint: disable=protected-access
                        autograph=False)(
        step.state, compiled["actions"], inputs[2],
        [tf.nn.softmax(l) for l in compiled["logits"]],
        reciprocal.ReciprocalState(inputs[4], inputs[5]))
  finally:
    trainer.close()
  assert trainer._act.function_spec.jit_compile               # pylint: disable=protected-access
  assert np.abs(compiled["voi"].numpy()).max() > 0
  for a, b in zip(compiled["logits"], graph["logits"]):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(compiled["voi"].numpy(), plain.voi.numpy(), rtol=1e-3, atol=1e-5)
  np.testing.assert_allclose(compiled["reciprocal_reward"].numpy(),
                             plain.terms.rewards.numpy(), rtol=1e-3, atol=1e-5)


def test_acting_compiles_with_xla_only_for_small_batches_by_default():
  small = batched.BatchedReciprocators(games.BatchedIPD(8), batched.BatchedConfig(
      reciprocal_weights=(0.0, 0.0), hidden=4, lstm=0))
  try:
    assert small._act.function_spec.jit_compile  # pylint: disable=protected-access
  finally:
    small.close()
  plain = batched.BatchedReciprocators(games.BatchedIPD(8), batched.BatchedConfig(
      reciprocal_weights=(0.0, 0.0), hidden=4, lstm=0, jit_compile_acting=False))
  try:
    assert not plain._act.function_spec.jit_compile  # pylint: disable=protected-access
  finally:
    plain.close()
  assert batched.XLA_ACTING_BELOW == 1024
