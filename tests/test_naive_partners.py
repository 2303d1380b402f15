"""ReciprocatorConfig.naive_partners: a partner pool on Melting Pot (a project extension).

What it promises: copy e plays pairing e mod (N + 1) (Reciprocator self-play, then a
naive learner in each slot); each policy group's network acts for exactly its seats;
each learner samples exactly its seats' data, the naive partners the game's reward
alone and the Reciprocators r + w r_rec; episode rows name the pairing; an export
holds the Reciprocators only; bad settings are one-line errors; a saved run keeps it.
"""

import dataclasses
import json
import os

import numpy as np
import pandas as pd
import pytest
import sonnet as snt
import tensorflow as tf

from recip_acme import comparison
from recip_acme import experiments
from recip_acme import export
from recip_acme.agents.impala import builder as impala_builder
from recip_acme.agents.reciprocator import acting
from tests.test_training import _small

# Coins: copy 0 self-play, copy 1 slot 0's naive learner, copy 2 slot 1's.
GROUPS_OF_COPY = [[0, 1], [2, 1], [0, 3]]


def test_copies_cycle_through_self_play_and_a_naive_learner_in_each_slot():
  assert acting.naive_partner_seats(2, 6) == [
      [(0, 0), (2, 0), (3, 0), (5, 0)],    # Slot 0's Reciprocator.
      [(0, 1), (1, 1), (3, 1), (4, 1)],    # Slot 1's Reciprocator.
      [(1, 0), (4, 0)],                    # Slot 0's naive learner.
      [(2, 1), (5, 1)]]                    # Slot 1's naive learner.
  with pytest.raises(ValueError, match="num_envs must be a multiple of 3; got 4"):
    acting.naive_partner_seats(2, 4)


class _Favourite(snt.RNNCore):
  """Logits that make `action` certain, whatever the input."""

  def __init__(self, action: int, num_actions: int):
    super().__init__(name=f"favourite_{action}")
    self._logits = 50.0 * tf.one_hot(action, num_actions)

  def __call__(self, inputs, state):
    rows = tf.shape(inputs)[0]
    return (tf.tile(self._logits[None], [rows, 1]), tf.zeros([rows])), state

  def initial_state(self, batch_size):
    return tf.zeros([batch_size, 1])


def test_each_group_acts_for_its_seats_and_nowhere_else():
  seats = acting.naive_partner_seats(2, 3)
  groups = [acting.PolicyGroup(_Favourite(g, 5), [s[0][1]], seats=s) for g, s in enumerate(seats)]
  cores = [g.network.initial_state(len(g.seats)) for g in groups]
  seeds = tf.random.experimental.stateless_split(tf.constant([3, 0], tf.int64), len(groups))
  step = acting.joint_policy_step(groups, impala_builder.ImpalaBuilder(), tf.zeros([3, 2, 4]),
                                  cores, seeds, num_players=2)
  np.testing.assert_array_equal(step.actions.numpy(), GROUPS_OF_COPY)
  for player in range(2):   # The estimators' policy input: each seat's own group's.
    np.testing.assert_array_equal(step.probabilities[player].numpy().argmax(-1),
                                  np.array(GROUPS_OF_COPY)[:, player])


def _pool_config(**overrides):
  config = _small(**overrides)
  config.reciprocator.naive_partners = True
  config.reciprocator.num_envs = 3
  return config


def test_each_learner_samples_its_seats_and_the_naive_partners_the_game_reward():
  agent = experiments.build_agent(_pool_config())
  try:
    actor = agent.actor
    assert actor.pairings == ["R-R", "N-R", "R-N"]
    assert [agent.builder.groups_of_copy(e) for e in range(3)] == GROUPS_OF_COPY
    weight = float(agent.builder.reciprocal_weight.numpy())
    actor.record_policy_data = True
    timesteps = [env.reset() for env in agent.envs]
    for e, timestep in enumerate(timesteps):
      actor.observe_first(e, timestep)
    expected, unmasked = [[] for _ in range(4)], []
    for k in range(1, 9):
      actions = actor.select_actions(timesteps)
      # Known rewards that say which copy and slot they came from.
      timesteps = [env.step(actions[e])._replace(rewards=np.array(
          [100.0 * e + k, -100.0 * e - k - 50.0], np.float32)) for e, env in enumerate(agent.envs)]
      unmasked.append(actor._last["reciprocal_reward"].numpy())
      info = actor.last_reciprocal()
      for e in range(3):
        for slot, g in enumerate(GROUPS_OF_COPY[e]):
          expected[g].append(timesteps[e].rewards[slot] + weight * info["reciprocal_reward"][e, slot])
          if g >= 2:
            assert info["reciprocal_reward"][e, slot] == 0.0
      actor.observe(actions, timesteps)
    # Untrained estimators give the naive partners' seats a reciprocal reward too.
    assert np.abs(np.array(unmasked)[:, [1, 2], [0, 1]]).max() > 1e-6
    for g, learner in enumerate(agent.learner.learners):
      sample = next(learner._iterator)
      seen = sample.data.reward.numpy()[sample.data.discount.numpy() > 0]
      assert seen.size
      gaps = np.abs(seen[:, None] - np.array(expected[g])[None]).min(axis=1)
      assert gaps.max() < 1e-3, (g, seen, expected[g])
    # The naive partners sample the game's reward exactly: copy 1 slot 0, copy 2 slot 1.
    np.testing.assert_allclose(expected[2], 100.0 + np.arange(1, 9))
    np.testing.assert_allclose(expected[3], -250.0 - np.arange(1, 9))
  finally:
    agent.close()


def test_a_pool_run_names_each_episodes_pairing_and_exports_its_reciprocators(tmp_path):
  config = _pool_config(num_steps=90)
  config.adapter = dataclasses.replace(config.adapter, episode_step_limit=20)
  workdir = str(tmp_path / "run")
  experiments.train(config, workdir, verbose=False)
  episodes = pd.read_csv(os.path.join(workdir, "episodes.csv"))
  assert set(episodes["pairing"]) == {"R-R", "N-R", "R-N"}
  assert (episodes["pairing"] == episodes["env"].map(["R-R", "N-R", "R-N"].__getitem__)).all()
  manifest = export.export_run(workdir, str(tmp_path / "export"))
  assert [(p.name.rsplit("_", 1)[1], p.player) for p in manifest.players] == [("p0", 0), ("p1", 1)]


@pytest.mark.parametrize("settings, message", [
    ({"share_policy": True}, "excludes share_policy and reciprocal_players"),
    ({"reciprocal_players": ["0"]}, "excludes share_policy and reciprocal_players"),
    ({"policy_sees_balance": True}, "naive_partners and policy_sees_balance exclude"),
])
def test_bad_settings_are_one_line_errors(settings, message):
  with pytest.raises(ValueError, match=message) as error:
    experiments.configure("coins", "reciprocator", naive_partners=True, **settings)
  assert "\n" not in str(error.value)
  with pytest.raises(ValueError, match="naive_partners needs agent=reciprocator"):
    experiments.configure("coins", "independent", naive_partners=True)


def test_num_envs_that_do_not_cycle_the_pairings_are_refused_when_the_agent_is_built():
  config = _pool_config()
  config.reciprocator.num_envs = 2
  with pytest.raises(ValueError, match="num_envs must be a multiple of 3; got 2"):
    experiments.build_agent(config)


def test_a_saved_run_keeps_its_partner_pool():
  config = experiments.configure("coins", "reciprocator", naive_partners=True, num_envs=3)
  saved = json.loads(json.dumps(experiments.config_to_dict(config)))
  assert experiments.config_from_dict(saved).reciprocator.naive_partners is True


def test_a_comparison_can_count_a_pool_runs_self_play_only():
  rows = pd.DataFrame({"env_steps": [10, 20, 30], "pairing": ["R-R", "N-R", "R-R"]})
  kept = comparison.only_pairing(rows, "R-R")
  assert list(kept["env_steps"]) == [10, 30]
  plain = pd.DataFrame({"env_steps": [10, 20]})   # An independent run: kept whole.
  assert comparison.only_pairing(plain, "R-R") is plain
  with pytest.raises(ValueError, match="no episode of pairing 'N-N'; this run has N-R, R-R"):
    comparison.only_pairing(rows, "N-N")
