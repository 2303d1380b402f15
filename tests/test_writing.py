"""The joint writer's items equal, step for step, those Acme's own adders write.

For each base learner (IMPALA: period = length, or overlapping; R2D2: overlapping
sequences with burn-in), episodes of several lengths are written twice: by the base
builder's own Acme adder, one per player, and by one JointTrajectoryWriter for all
players. Every item of every
player table must be the same, field by field, in the same order; the joint item of
each episode must hold that episode's states, actions, rewards and time left.
"""

import dm_env
import numpy as np
import pytest
import reverb
import tree
from recip_acme.agents.impala import builder as impala_builder
from recip_acme.agents.impala import config as impala_config
from recip_acme.agents.r2d2 import builder as r2d2_builder
from recip_acme.agents.r2d2 import config as r2d2_config
from recip_acme.agents.reciprocator import learning
from recip_acme.agents.reciprocator import writing

NUM_PLAYERS = 3
STATE_SIZE = 4


def _queue(name, signature=None):
  return reverb.Table(name=name, sampler=reverb.selectors.Fifo(),
                      remover=reverb.selectors.Fifo(), max_size=10_000,
                      rate_limiter=reverb.rate_limiters.MinSize(1), max_times_sampled=1,
                      signature=signature)


def _drain(client, table):
  """Every item of a table, oldest first, as lists of per-field arrays."""
  size = client.server_info()[table].current_size
  items = []
  for sample in client.sample(table, num_samples=size, unpack_as_table_signature=True):
    items.append(tree.map_structure(lambda *steps: np.stack(steps), *[s.data for s in sample]))
  return items


class _ServerInfoOnly:
  """A client with Reverb's public server_info and nothing else (table_counts' fallback)."""

  def __init__(self, client):
    self.server_info = client.server_info


def _assert_table_counts_match_server_info(client):
  """learning.table_counts reads the same sizes and completed inserts as server_info,
  through the raw protos and through its fallback; none of them is 0 by accident."""
  info = client.server_info()
  expected = {name: learning.TableCounts(t.current_size,
                                         t.rate_limiter_info.insert_stats.completed)
              for name, t in info.items()}
  assert all(c.current_size > 0 and c.inserts > 0 for c in expected.values())
  assert learning.table_counts(client) == expected
  assert learning.table_counts(_ServerInfoOnly(client)) == expected


def _episode(rng, length):
  """Per step: observations, actions, rewards, extras of every player; states."""
  def obs():
    return {"rgb": rng.integers(0, 255, (3, 3, 3)).astype(np.uint8),
            "last_step": rng.normal(size=2).astype(np.float32)}

  def extras():
    return {"core_state": (rng.normal(size=4).astype(np.float32),
                           rng.normal(size=4).astype(np.float32)),
            "logits": rng.normal(size=3).astype(np.float32),
            "reciprocal_reward": np.float32(rng.normal())}
  steps = []
  for _ in range(length + 1):
    steps.append(dict(observations=[obs() for _ in range(NUM_PLAYERS)],
                      actions=[np.int64(a) for a in rng.integers(0, 3, NUM_PLAYERS)],
                      rewards=rng.normal(size=NUM_PLAYERS).astype(np.float32),
                      extras=[extras() for _ in range(NUM_PLAYERS)],
                      state=rng.normal(size=STATE_SIZE).astype(np.float32),
                      time_left=np.float32(rng.uniform())))
  return steps


BUILDERS = {
    "impala": impala_builder.ImpalaBuilder(impala_config.ImpalaConfig()),
    "impala_short": impala_builder.ImpalaBuilder(impala_config.ImpalaConfig(sequence_length=5)),
    "impala_overlap": impala_builder.ImpalaBuilder(
        impala_config.ImpalaConfig(sequence_length=6, sequence_period=3)),
    "r2d2": r2d2_builder.R2D2Builder(r2d2_config.R2D2Config()),
    "r2d2_period_1": r2d2_builder.R2D2Builder(
        r2d2_config.R2D2Config(burn_in_length=1, trace_length=2, replay_period=1)),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_joint_writer_items_equal_the_learners_own_adder_items(name):
  builder = BUILDERS[name]
  layout = builder.sequence_layout()
  length, period = layout.sequence_length, layout.period
  rng = np.random.default_rng(length * 10 + period)
  episodes = [_episode(rng, k) for k in (7, length, length + 1, 2 * length + 3, 1, 41)]
  tables = ([_queue(f"acme_{i}") for i in range(NUM_PLAYERS)]
            + [_queue(f"joint_{i}") for i in range(NUM_PLAYERS)] + [_queue("episodes", writing.joint_experience_signature(
                STATE_SIZE, np.int64, NUM_PLAYERS))])
  server = reverb.Server(tables, port=None)
  try:
    client = reverb.Client(f"localhost:{server.port}")
    adders = [builder.make_adder(client, f"acme_{i}") for i in range(NUM_PLAYERS)]
    first = episodes[0][0]
    writer = writing.JointTrajectoryWriter(
        client, [f"joint_{i}" for i in range(NUM_PLAYERS)],
        layout, first["observations"], first["extras"], joint_table="episodes", state_size=STATE_SIZE,
        max_episode_steps=50)
    for episode in episodes:
      start = episode[0]
      for i, adder in enumerate(adders):
        adder.add_first(dm_env.restart(start["observations"][i]))
      writer.first(start["observations"], start["state"], start["time_left"], True)
      for t, (now, after) in enumerate(zip(episode[:-1], episode[1:])):
        last = t == len(episode) - 2
        make = dm_env.termination if last else dm_env.transition
        for i, adder in enumerate(adders):
          adder.add(now["actions"][i],
                    make(after["rewards"][i], after["observations"][i]), now["extras"][i])
        writer.step(now["actions"], after["rewards"], 0.0 if last else 1.0,
                    [tree.flatten(e) for e in now["extras"]], after["observations"], last,
                    after["state"], after["time_left"])
    writer.close()
    for adder in adders:
      adder.reset()
    _assert_table_counts_match_server_info(client)
    for i in range(NUM_PLAYERS):
      expected, written = _drain(client, f"acme_{i}"), _drain(client, f"joint_{i}")
      assert len(written) == len(expected) > len(episodes)
      for want, got in zip(expected, written):
        tree.map_structure(np.testing.assert_array_equal, want, got)
    joint = _drain(client, "episodes")
    assert len(joint) == len(episodes)
    for episode, item in zip(episodes, joint):
      np.testing.assert_array_equal(item["state"], np.stack([s["state"] for s in episode[:-1]]))
      np.testing.assert_array_equal(item["time_left"], [s["time_left"] for s in episode[:-1]])
      for i in range(NUM_PLAYERS):
        np.testing.assert_array_equal(item["actions"][i], [s["actions"][i] for s in episode[:-1]])
        np.testing.assert_array_equal(item["rewards"][i], [s["rewards"][i] for s in episode[1:]])
  finally:
    server.stop()
