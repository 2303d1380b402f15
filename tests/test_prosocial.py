"""The prosocial learner (agent="prosocial", ReciprocatorConfig.collective_reward).

What it promises: every player's learner samples, at every step, the mean extrinsic
reward of that step's players, through the same adapter path the Reciprocator uses
(an extra written by the actor, added by a dataset transform); the game's own rewards
are what the run records.
"""

import numpy as np
import pytest

from recip_acme import experiments
from recip_acme.agents.reciprocator import acting
from recip_acme.agents.reciprocator import config as config_lib
from tests.test_training import _small


def test_collective_shaping_turns_each_reward_into_the_mean():
  rewards = np.array([[1.0, -2.0], [0.0, 0.0], [3.0, 1.0]], np.float32)
  shaped = rewards + acting.collective_shaping(rewards)
  np.testing.assert_allclose(shaped, [[-0.5, -0.5], [0.0, 0.0], [2.0, 2.0]])


def test_prosocial_and_reciprocal_exclude_each_other():
  with pytest.raises(ValueError, match="exclude each other"):
    config_lib.ReciprocatorConfig(reciprocal=True, collective_reward=True)


def test_every_learner_samples_the_mean_reward_of_its_step():
  config = _small(agent="prosocial")
  assert config.reciprocator.collective_reward and not config.reciprocator.reciprocal
  agent = experiments.build_agent(config)
  try:
    env, actor = agent.envs[0], agent.actor
    timestep = env.reset()
    actor.observe_first(0, timestep)
    for k in range(1, 9):
      actions = actor.select_actions([timestep])
      timestep = env.step(actions[0])
      # Known rewards: player 0 gets k, player 1 gets -3k; the mean is -k.
      timestep = timestep._replace(rewards=np.array([k, -3 * k], np.float32))
      actor.observe(actions, [timestep])
    means = {-float(k) for k in range(1, 9)}
    for learner in agent.learner.learners:     # One per player on coins.
      sample = next(learner._iterator)
      rewards = sample.data.reward.numpy()
      mask = sample.data.discount.numpy() > 0   # Padding after an episode's end aside.
      seen = set(np.round(rewards[mask], 5).tolist())
      assert seen and seen <= means, seen
  finally:
    agent.close()
