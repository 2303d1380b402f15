"""The paper games train through the same adapter and the same Acme IMPALA learner."""

import numpy as np

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
      baseline_cost=0.01, learning_rate=1e-2)
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
