"""Players that read their previous reward and action (NetworkConfig.observe_last_step).

What it promises (README, project extensions): the recurrent core reads
[r_t, one-hot(a_{t-1})] beside the pixels, zeros on an episode's first step; the
sequences a learner samples carry exactly that for every step; it works for IMPALA,
R2D2 and the independent learner alike; an exported player binds Melting Pot's
per-player reward and keeps its last action in its recurrent state, and acts as the
trained network does.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from recip_acme import export
from recip_acme import networks as networks_lib
from recip_acme import experiments
from substrates import melting_pot
from tests.test_training import _small


def _last_step_config(agent="reciprocator", base="impala", **overrides):
  config = _small(agent=agent, base=base, **overrides)
  config.network = networks_lib.NetworkConfig(
      conv_channels=(4,), mlp_sizes=(8,), lstm_size=8, observe_last_step=True)
  config.adapter = melting_pot.AdapterConfig(estimator_view="local", episode_step_limit=20)
  return config


def test_last_step_features_known_answer():
  features = networks_lib.last_step_features(
      reward=[[1., -2.], [0.5, 3.]], action=[[2, 0], [1, 1]], num_actions=3,
      valid=[[True], [False]])
  np.testing.assert_array_equal(features[0], [[1., 0., 0., 1.], [-2., 1., 0., 0.]])
  np.testing.assert_array_equal(features[1], np.zeros([2, 4]))   # First step: nothing.


@pytest.mark.parametrize("make", [networks_lib.make_impala_network,
                                  networks_lib.make_r2d2_network])
def test_the_policy_reads_the_last_step(make):
  config = networks_lib.NetworkConfig(conv_channels=(4,), mlp_sizes=(8,), lstm_size=8,
                                      observe_last_step=True, last_step_inputs=4)
  network = make(3, config)
  rgb = tf.cast(tf.random.uniform([2, 11, 11, 3], 0, 255, tf.int32, seed=3), tf.uint8)
  state = network.initial_state(2)
  harmed = networks_lib.policy_inputs(config, rgb, tf.constant([[-2., 1., 0., 0.]] * 2))
  paid = networks_lib.policy_inputs(config, rgb, tf.constant([[1., 1., 0., 0.]] * 2))
  out_harmed, _ = network(harmed, state)
  out_paid, _ = network(paid, state)
  logits = lambda out: out[0] if isinstance(out, tuple) else out
  assert np.abs(logits(out_harmed).numpy() - logits(out_paid).numpy()).max() > 1e-6
  with pytest.raises(ValueError, match="observe_last_step"):
    networks_lib.policy_inputs(config, rgb)   # It cannot act without them.


@pytest.mark.parametrize("agent", ["independent", "reciprocator"])
def test_learner_samples_each_steps_previous_reward_and_action(tmp_path, agent):
  """Every sampled step's last_step is the previous step's reward and action."""
  config = _last_step_config(agent=agent, num_steps=200)
  summary = experiments.train(config, str(tmp_path), verbose=False)
  assert summary["policy_learner_steps"] > 0
  agent_parts = experiments.build_agent(config)
  try:
    spec = agent_parts.builder.spec.player_specs[0].observations
    assert isinstance(spec, networks_lib.PlayerObservation)
    assert spec.last_step.shape == (1 + agent_parts.envs[0].num_actions[0],)
    assert spec.influence_balance.shape == (0,)
    actor, env = agent_parts.actor, agent_parts.envs[0]
    actor.record_policy_data = True
    timestep = env.reset()
    actor.observe_first(0, timestep)
    for _ in range(45):   # Two episode boundaries at episode_step_limit=20.
      actions = actor.select_actions([timestep])
      timestep = env.step(actions[0])
      actor.observe(actions, [timestep])
      if timestep.last():
        timestep = env.reset()
        actor.observe_first(0, timestep)
    checked = nonzero = 0
    for _ in range(4):
      data = next(agent_parts.learner.learners[0]._iterator).data
      if agent == "reciprocator":   # The adapter shaped the sampled rewards: undo it.
        rewards = data.reward.numpy() - (agent_parts.builder.reciprocal_weight.numpy()
                                         * data.extras["reciprocal_reward"].numpy())
      else:
        rewards = data.reward.numpy()
      last_step = data.observation.last_step.numpy()         # [B, T, 1 + A]
      actions, starts = data.action.numpy(), data.start_of_episode.numpy()
      for b in range(last_step.shape[0]):
        for t in range(last_step.shape[1]):
          if starts[b, t]:
            np.testing.assert_array_equal(last_step[b, t], 0.)
          elif t > 0:
            assert last_step[b, t, 0] == pytest.approx(rewards[b, t - 1], abs=1e-5)
            assert np.argmax(last_step[b, t, 1:]) == actions[b, t - 1]
            assert last_step[b, t, 1:].sum() == 1.
            checked += 1
            nonzero += last_step[b, t, 0] != 0
    assert checked > 0
  finally:
    agent_parts.close()


def test_r2d2_trains_with_the_last_step(tmp_path):
  summary = experiments.train(_last_step_config(agent="independent", base="r2d2", num_steps=60),
                           str(tmp_path), verbose=False)
  assert summary["env_steps"] == 60


def test_exported_player_binds_its_reward_and_acts_as_trained(tmp_path):
  """The SavedModel's scores equal the network's on the same last steps, and Melting
  Pot's own policy class can drive it with a per-player reward."""
  config = _last_step_config(num_steps=60)
  workdir = str(tmp_path / "run")
  experiments.train(config, workdir, verbose=False)
  manifest = export.export_run(workdir, str(tmp_path / "export"))
  path = os.path.join(str(tmp_path / "export"), manifest.players[0].path)
  model = tf.saved_model.load(path)
  agent = experiments.build_agent(config)
  env = melting_pot.MeltingPotSubstrate("coins")
  try:
    network = agent.networks.groups[0].network
    tf.train.Checkpoint(group0_network=network).restore(manifest.source).expect_partial()
    net_config = agent.builder.network_config
    raw = env.raw_reset()
    key, state = model.initial_state(tf.constant([1, 2], tf.uint32))
    core = network.initial_state(1)
    previous_action, first = 0, True
    for reward in (0., -2., 1., 0.):
      rgb = export.downsample_rgb(tf.constant(raw.observation[0]["RGB"]),
                                  config.adapter.rgb_downsample)
      features = networks_lib.last_step_features([reward], [previous_action],
                                                 net_config.last_step_inputs - 1, [not first])
      outputs, core = network(networks_lib.policy_inputs(net_config, rgb[None],
                                                         tf.constant(features)), core)
      timestep = {"step_type": tf.constant(0 if first else 1, tf.int32),
                  "reward": tf.constant(reward, tf.float32),
                  "observation": {"RGB": tf.constant(raw.observation[0]["RGB"])}}
      key, ((action, info), state) = model.step(key, timestep, state)
      np.testing.assert_allclose(info["scores"].numpy(), outputs[0][0].numpy(), atol=1e-5)
      assert int(state[-1]) == int(action)   # The last action rides in the state.
      previous_action, first = int(action), False
      raw = env.raw_step([int(action), 0])
  finally:
    agent.close()
  # Melting Pot's own policy, given each player's own reward as scenarios do.
  bot = export.load_bot(path)
  try:
    raw = env.raw_reset()
    state = bot.initial_state()
    for _ in range(3):
      action, state = bot.step(raw._replace(observation=raw.observation[0],
                                            reward=raw.reward[0]), state)
      assert 0 <= int(action) < env.num_actions[0]
      raw = env.raw_step([int(action), 0])
  finally:
    bot.close()
    env.close()
