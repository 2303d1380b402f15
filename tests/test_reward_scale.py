"""The reward-scale diagnostic's per-fifth statistics (launch.reward_scale): pooled over episodes, weighted by length."""

import numpy as np
import pandas as pd

from recip_acme import records


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
