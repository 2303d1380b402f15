"""The stack recip_acme stands on: would fail if an install step or workaround broke."""

import multiprocessing

import numpy as np
import pytest


def test_imports():
  import acme
  import meltingpot
  import recip_acme
  import reverb
  from acme.agents.tf import impala
  from acme.agents.tf import r2d2
  from importlib import metadata
  assert metadata.version("dm-acme") == "0.4.0"
  assert metadata.version("dm-reverb") == "0.14.0"
  assert metadata.version("dm-meltingpot") == "2.4.1"
  assert metadata.version("tensorflow") == "2.15.1"
  assert impala.IMPALA and r2d2.R2D2 and meltingpot.substrate
  assert recip_acme.__version__


def test_impala_trains_20_episodes_on_fake_env_through_reverb():
  """Acme's own TF IMPALA agent, its own Reverb server, its own adders."""
  import acme
  import sonnet as snt
  from acme import specs
  from acme.agents.tf import impala
  from acme.testing import fakes
  from acme.tf import networks
  from acme.utils import counting

  environment = fakes.DiscreteEnvironment(
      num_actions=5, num_observations=10, obs_dtype=np.float32, episode_length=10)
  spec = specs.make_environment_spec(environment)
  network = snt.DeepRNN([
      snt.Flatten(), snt.LSTM(16), snt.nets.MLP([32]),
      networks.PolicyValueHead(spec.actions.num_values)])
  counter = counting.Counter()
  agent = impala.IMPALA(
      environment_spec=spec, network=network, sequence_length=3, sequence_period=3,
      batch_size=6, counter=counting.Counter(counter, prefix="learner"),
      logger=_silent())
  loop = acme.EnvironmentLoop(environment, agent, counter=counter, logger=_silent())
  loop.run(num_episodes=20)
  counts = counter.get_counts()
  assert counts["episodes"] == 20
  assert counts["steps"] == 200
  assert counts["learner_steps"] > 0  # The learner really sampled and stepped.


def _silent():
  from acme.utils import loggers
  return loggers.NoOpLogger()


@pytest.mark.parametrize("name,num_players", [
    ("coins", 2),
    ("prisoners_dilemma_in_the_matrix__repeated", 2),
    ("clean_up", 7),
])
def test_meltingpot_substrate_builds_resets_and_steps(name, num_players):
  from meltingpot import substrate
  factory = substrate.get_factory(name)
  roles = factory.default_player_roles()
  assert len(roles) == num_players
  env = factory.build(roles)
  try:
    action_specs = env.action_spec()
    obs_specs = env.observation_spec()
    assert len(action_specs) == len(obs_specs) == num_players
    assert "RGB" in obs_specs[0] and "WORLD.RGB" in obs_specs[0]
    timestep = env.reset()
    assert timestep.first() and len(timestep.observation) == num_players
    rng = np.random.default_rng(0)
    for _ in range(20):
      actions = [int(rng.integers(spec.num_values)) for spec in action_specs]
      timestep = env.step(actions)
      assert len(timestep.reward) == num_players
      for obs, spec in zip(timestep.observation, obs_specs):
        assert obs["RGB"].shape == spec["RGB"].shape
  finally:
    env.close()


def _reverb_writer_process(address: str, queue) -> None:
  """In another process: write one trajectory, then sample it back over loopback."""
  try:
    import reverb
    client = reverb.Client(address)
    with client.trajectory_writer(num_keep_alive_refs=3) as writer:
      for t in range(3):
        writer.append({"obs": np.full((2,), t, np.float32), "action": np.int64(t)})
      writer.create_item("trajectories", priority=1.0,
                         trajectory={"obs": writer.history["obs"][:],
                                     "action": writer.history["action"][:]})
      writer.flush()
    dataset = reverb.TrajectoryDataset.from_table_signature(
        server_address=address, table="trajectories", max_in_flight_samples_per_worker=1)
    sample = next(iter(dataset.take(1)))
    queue.put(sample.data["action"].numpy().tolist())
  except Exception as e:  # pragma: no cover - reported back to the parent.
    queue.put(f"error: {e!r}")


def test_reverb_server_and_client_in_two_processes():
  import reverb
  import tensorflow as tf
  table = reverb.Table(
      name="trajectories", sampler=reverb.selectors.Uniform(),
      remover=reverb.selectors.Fifo(), max_size=10,
      rate_limiter=reverb.rate_limiters.MinSize(1),
      signature={"obs": tf.TensorSpec([3, 2], tf.float32),
                 "action": tf.TensorSpec([3], tf.int64)})
  server = reverb.Server([table], port=None)
  try:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_reverb_writer_process,
                       args=(f"localhost:{server.port}", queue))
    proc.start()
    result = queue.get(timeout=120)
    proc.join(timeout=30)
    assert result == [0, 1, 2], result
    assert proc.exitcode == 0
    info = reverb.Client(f"localhost:{server.port}").server_info()
    assert info["trajectories"].current_size == 1
  finally:
    server.stop()
