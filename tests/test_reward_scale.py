"""The reward-scale diagnostic's per-fifth statistics (launch.reward_scale): pooled over episodes, weighted by length."""

import numpy as np
import pandas as pd

from recip_acme.experiments import records


def test_fifths_pool_episode_statistics_by_length():
  # Fifth 1: two episodes (rewards +-1 for 100 steps, mean 0; then all 0.5 for 300 steps).
  episodes = pd.DataFrame({
      "env_steps": [100, 400, 1000], "length": [100, 300, 600],
      "extrinsic_reward_per_step": [0.0, 0.5, 0.0], "extrinsic_reward_std": [1.0, 0.0, 2.0],
      "abs_weighted_reciprocal_reward": [0.2, 0.6, 1.0]})
  table = records.reward_scale_by_fifth(episodes, num_steps=2000)
  first = table.iloc[0]
  mean = (0 * 100 + 0.5 * 300) / 400
  std = np.sqrt((1.0 * 100 + 0.25 * 300) / 400 - mean ** 2)
  assert first["episodes"] == 2 and first["steps"] == 400
  np.testing.assert_allclose(first["extrinsic_reward_std"], std)
  np.testing.assert_allclose(first["mean_abs_weighted_reciprocal_reward"], (20 + 180) / 400)
  np.testing.assert_allclose(first["ratio"], 0.5 / std)
  assert table.iloc[2]["ratio"] == 0.5            # The 600-step episode ends in fifth 3.
  assert table.iloc[1]["episodes"] == 0


def test_extrinsic_scale_matches_mean_abs_reciprocal_to_extrinsic_std():
  from recip_acme import reciprocal  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  scale = reciprocal.ExtrinsicScale(horizon=2000)
  assert scale.factor() == 0.0                         # Nothing seen yet.
  for _ in range(4000):
    # Sparse game reward (+1 w.p. 0.05, std ~0.218) and a spiky r_rec: 0 on 98% of
    # steps, +-50 otherwise (mean |r_rec| = 1, rms ~7.1).
    ext = (rng.random(2) < 0.05).astype(np.float64)
    rec = np.where(rng.random(2) < 0.02, rng.choice([-50.0, 50.0], 2), 0.0)
    scale.update(ext, rec)
  # Mean |factor * r_rec| equals std(r_ext): the factor is std / mean|r_rec| (~0.22),
  # not std / rms (~0.03, which leaves the typical r_rec 7x smaller than the game's).
  np.testing.assert_allclose(scale.factor(), np.sqrt(0.05 * 0.95) / 1.0, rtol=0.25)


def test_extrinsic_scale_is_zero_while_the_game_pays_nothing():
  from recip_acme import reciprocal  # pylint: disable=g-import-not-at-top
  scale = reciprocal.ExtrinsicScale(horizon=100)
  for _ in range(50):
    scale.update(np.zeros(3), np.full(3, 0.7))
  assert scale.factor() == 0.0
  scale.update(np.array([1.0, 0.0, 0.0]), np.full(3, 0.7))
  assert scale.factor() > 0.0


def test_extrinsic_scale_rms_matches_the_second_moment():
  from recip_acme import reciprocal  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  scale = reciprocal.ExtrinsicScale(horizon=2000, statistic="rms")
  for _ in range(4000):
    ext = (rng.random(2) < 0.05).astype(np.float64)
    rec = np.where(rng.random(2) < 0.02, rng.choice([-50.0, 50.0], 2), 0.0)
    scale.update(ext, rec)
  # std(r_ext) ~0.218, rms(r_rec) = 50 * sqrt(0.02) ~7.07.
  np.testing.assert_allclose(scale.factor(), np.sqrt(0.05 * 0.95) / (50 * np.sqrt(0.02)),
                             rtol=0.25)
  import pytest  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="statistic must be one of mean_abs, rms"):
    reciprocal.ExtrinsicScale(horizon=10, statistic="max")
