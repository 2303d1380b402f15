"""The balance-aware critic (ReciprocatorConfig.value_sees_balance), a project extension.

What it promises: the value head reads each player's lagged influence balances, the
policy does not; the balances a learner samples are the actor's B[t-1] at each step;
exported players need only RGB; R2D2 refuses it; the independent learner ignores it.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from recip_acme import export
from recip_acme import networks as networks_lib
from recip_acme import reciprocal
from recip_acme import experiments
from substrates import melting_pot
from tests.test_training import _small


def _balance_config(**overrides):
  config = _small(**overrides)
  config.reciprocator.value_sees_balance = True
  config.adapter = melting_pot.AdapterConfig(estimator_view="local", episode_step_limit=60)
  return config


def test_balance_observation_drops_own_entry_and_subtracts_debit():
  balance = tf.constant([[0., 1., 2.], [3., 0., 5.], [6., 7., 0.]])
  debit = tf.constant([[9., 1., 1.], [1., 9., 1.], [1., 1., 9.]])
  state = reciprocal.ReciprocalState(balance, debit)
  np.testing.assert_allclose(reciprocal.balance_observation(state, "balance"),
                             [[1., 2.], [3., 5.], [6., 7.]])
  np.testing.assert_allclose(reciprocal.balance_observation(state, "grudge_minus_debit"),
                             [[0., 1.], [2., 4.], [5., 6.]])
  # Batched: [E, N, N] -> [E, N, N-1].
  batched = reciprocal.ReciprocalState(tf.stack([balance, -balance]), tf.stack([debit, debit]))
  out = reciprocal.balance_observation(batched, "balance")
  assert out.shape == (2, 3, 2)
  np.testing.assert_allclose(out[1], -np.array([[1., 2.], [3., 5.], [6., 7.]]))


def _outputs_at_balances(config, balances=(0.0, 5.0)):
  """((logits, value) per balance) of a fresh IMPALA network on one random RGB batch."""
  network = networks_lib.make_impala_network(4, config)
  rgb = tf.cast(tf.random.uniform([3, 11, 11, 3], 0, 255, tf.int32, seed=1), tf.uint8)
  state = network.initial_state(3)
  return rgb, [network(networks_lib.PlayerObservation(rgb, tf.zeros([3, 0]),
                                                      tf.fill([3, 1], b)), state)[0]
               for b in balances]


def test_policy_ignores_the_balance_and_value_reads_it():
  config = networks_lib.NetworkConfig(value_balance_inputs=1)
  rgb, ((logits_a, value_a), (logits_b, value_b)) = _outputs_at_balances(config)
  np.testing.assert_array_equal(logits_a.numpy(), logits_b.numpy())
  assert np.abs(value_a.numpy() - value_b.numpy()).max() > 1e-6
  # What an exported bot feeds it: the RGB and zero balances.
  inputs = networks_lib.policy_inputs(config, rgb)
  np.testing.assert_array_equal(inputs.influence_balance.numpy(), np.zeros([3, 1]))
  assert networks_lib.policy_inputs(networks_lib.NetworkConfig(), rgb) is rgb


def test_r2d2_refuses_a_balance_aware_critic():
  with pytest.raises(ValueError, match="actor-critic"):
    networks_lib.make_r2d2_network(4, networks_lib.NetworkConfig(value_balance_inputs=1))


def test_learner_samples_the_balances_the_actor_used(tmp_path):
  """Train briefly, then check a sampled sequence's balances against the actor's law."""
  config = _balance_config(num_steps=240)
  summary = experiments.train(config, str(tmp_path), verbose=False)
  assert summary["env_steps"] == 240
  assert summary["policy_learner_steps"] > 0
  # The run's own pieces, rebuilt: the spec the tables and the learner use.
  agent = experiments.build_agent(config)
  try:
    spec = agent.builder.spec.player_specs[0].observations
    assert isinstance(spec, networks_lib.PlayerObservation)
    assert spec.influence_balance.shape == (1,)
    env = agent.envs[0]
    actor = agent.actor
    actor.record_policy_data = True
    timestep = env.reset()
    actor.observe_first(0, timestep)
    seen = []
    for _ in range(12):
      before = reciprocal.balance_observation(
          reciprocal.ReciprocalState(*(v[0] for v in actor._rec_vars)), "balance").numpy()
      seen.append(before)
      actions = actor.select_actions([timestep])
      timestep = env.step(actions[0])
      actor.observe(actions, [timestep])
      info = actor.last_reciprocal()
      np.testing.assert_allclose(info["lagged_balance"][0][[0, 1], [1, 0]],
                                 before[:, 0], rtol=1e-5, atol=1e-6)
    # What the learner samples: each sequence's balances are a window of the actor's.
    sample = next(agent.learner.learners[0]._iterator)
    sampled = sample.data.observation.influence_balance.numpy()[..., 0]   # [B, T]
    trace = np.array(seen)[:, 0, 0]
    assert np.abs(trace).max() > 0      # The balances moved: the check can fail.
    for row in sampled:
      starts = [k for k in range(len(trace) - len(row) + 1)
                if np.allclose(trace[k:k + len(row)], row, atol=1e-6)]
      assert starts, (row, trace)
  finally:
    agent.close()


def test_independent_learner_ignores_the_setting(tmp_path):
  config = _balance_config(agent="independent", num_steps=60)
  agent = experiments.build_agent(config)
  try:
    assert agent.builder.network_config.value_balance_inputs == 0
    assert not isinstance(agent.builder.spec.player_specs[0].observations,
                          networks_lib.PlayerObservation)
  finally:
    agent.close()


@pytest.mark.parametrize("policy_sees_balance", [False, True])
def test_export_of_a_balance_aware_run_needs_rgb_only(tmp_path, policy_sees_balance):
  """Also a run whose policy reads its balance: exported, it acts at a zero balance."""
  config = _balance_config(num_steps=120)
  config.reciprocator.policy_sees_balance = policy_sees_balance
  workdir = str(tmp_path / "run")
  experiments.train(config, workdir, verbose=False)
  manifest = export.export_run(workdir, str(tmp_path / "export"))
  bot = export.load_bot(os.path.join(str(tmp_path / "export"), manifest.players[0].path))
  env = melting_pot.MeltingPotSubstrate("coins")
  try:
    raw = env.raw_reset()
    state = bot.initial_state()
    for _ in range(3):
      action, state = bot.step(raw._replace(observation=raw.observation[0]), state)
      assert 0 <= int(action) < env.num_actions[0]
      raw = env.raw_step([int(action), 0])
  finally:
    bot.close()
    env.close()


def test_policy_sees_balance_moves_the_logits_and_the_builder_wires_it():
  """policy_sees_balance: the balance reaches the policy (not only the critic)."""
  config = networks_lib.NetworkConfig(value_balance_inputs=1, policy_reads_balance=True)
  _, ((logits_a, _), (logits_b, _)) = _outputs_at_balances(config)
  assert np.abs(logits_a.numpy() - logits_b.numpy()).max() > 1e-6
  run_config = _small(num_steps=60)
  run_config.reciprocator.policy_sees_balance = True
  run_config.adapter = melting_pot.AdapterConfig(estimator_view="local", episode_step_limit=60)
  agent = experiments.build_agent(run_config)
  try:
    built = agent.builder.network_config
    assert built.policy_reads_balance and built.value_balance_inputs == 1
    assert agent.builder.spec.player_specs[0].observations.influence_balance.shape == (1,)
  finally:
    agent.close()
  with pytest.raises(ValueError, match="policy_sees_balance"):
    networks_lib.make_r2d2_network(4, config)
