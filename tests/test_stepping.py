"""Substrate copies stepped in a child process (`--substrate_process`), or half of
them (`--substrate_split`).

What it promises: the child's copies step and reset as this process's copies do;
the acting loop, which writes one step behind while the copies step, hands the
Reverb writers exactly the calls the plain sequential loop (act, step, write) makes;
a run with the child trains; a bad substrate is a one-line error; and the child does
not outlive a killed parent.

Melting Pot copies are not bit-reproducible (two builds with one seed give the same
map sizes and draws from Python's random, but their first observations can differ),
so the loop's writes are compared on a scripted substrate, and the child's copies on
what must agree: shapes, dtypes, steps, episode ends and resets.
"""

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import dm_env
import numpy as np
import pytest

from recip_acme import experiments
from recip_acme.experiments import environment_loop
from substrates import melting_pot
from substrates import stepping
from tests.conftest import process_alive
from tests.test_training import _small

_SHORT = melting_pot.AdapterConfig(episode_step_limit=12)
_PRELOAD = ("recip_acme",)   # The stack workarounds, before Melting Pot imports Acme.


def _assert_same_timestep(a, b):
  """What two copies of a substrate agree on, whatever their random draws."""
  assert a.step_type == b.step_type and a.step == b.step and a.discount == b.discount
  for x, y in [*zip(a.observations, b.observations), (a.rewards, b.rewards),
               (a.state, b.state), *((a.signals[k], b.signals[k]) for k in a.signals)]:
    assert x.shape == y.shape and x.dtype == y.dtype
  assert a.signals.keys() == b.signals.keys()
  assert len(a.observations) == len(b.observations)


def test_child_process_copies_step_and_reset_as_local_copies_do():
  local = stepping.LocalSubstrates(melting_pot.seeded_copies("coins", _SHORT, 2, seed=5))
  worker = stepping.SubstrateWorker("coins", _SHORT, 2, seed=5, preload=_PRELOAD)
  try:
    assert len(worker) == len(local) == 2
    for a, b in zip(local.reset_all(), worker.reset_all()):
      _assert_same_timestep(a, b)
    rng = np.random.default_rng(0)
    resets = 0
    for _ in range(30):   # Two and a half episodes of 12 steps.
      actions = rng.integers(0, 7, size=(2, 2))
      local.step_async(actions)
      worker.step_async(actions)
      for (ta, fa), (tb, fb) in zip(local.step_wait(), worker.step_wait()):
        _assert_same_timestep(ta, tb)
        assert (fa is None) == (fb is None) == (not ta.last())
        if fa is not None:
          _assert_same_timestep(fa, fb)
          assert fa.first()
          resets += 1
    assert resets == 4
  finally:
    worker.close()
    for env in local.envs:
      env.close()
  assert not worker.alive()


def _map_fingerprint(timestep) -> int:
  """What tells one coins map from another in a world-view state (walls and coins: the
  maps are 10-15 cells a side), equal for two builds of one seed's k-th copy."""
  return int((timestep.state != 0).sum())


def test_split_copies_play_the_seeds_maps_in_copy_order_and_step_as_local_ones():
  short_world = dataclasses.replace(_SHORT, estimator_view="world")
  local = stepping.LocalSubstrates(melting_pot.seeded_copies("coins", short_world, 4, seed=5))
  split = stepping.SplitSubstrates(
      stepping.LocalSubstrates(melting_pot.seeded_copies("coins", short_world, 2, seed=5)),
      stepping.SubstrateWorker("coins", short_world, 2, seed=5, preload=_PRELOAD, skip=2))
  try:
    assert len(split) == 4
    first_local, first_split = local.reset_all(), split.reset_all()
    expected = [_map_fingerprint(ts) for ts in first_local]
    assert len(set(expected)) > 1   # The seed's copies differ, so the order is tested.
    assert [_map_fingerprint(ts) for ts in first_split] == expected
    rng = np.random.default_rng(0)
    for _ in range(13):   # One episode of 12 steps and a reset.
      actions = rng.integers(0, 7, size=(4, 2))
      local.step_async(actions)
      split.step_async(actions)
      for (ta, fa), (tb, fb) in zip(local.step_wait(), split.step_wait()):
        _assert_same_timestep(ta, tb)
        assert (fa is None) == (fb is None)
  finally:
    split.close()
    for env in local.envs + split.local.envs:
      env.close()
  assert not split.alive()


def test_a_bad_substrate_in_the_child_is_a_one_line_error():
  with pytest.raises(ValueError, match="no_such_substrate") as info:
    stepping.SubstrateWorker("no_such_substrate", melting_pot.AdapterConfig(), 1, seed=0,
                             preload=_PRELOAD)
  assert "\n" not in str(info.value)


def _recorded_writes(agent):
  """Every call the actor makes to its copies' writers, in order, as plain data."""
  calls = []

  def spy(e, name, method):
    def record(*args, **kwargs):
      calls.append((e, name, _plain(args), _plain(kwargs)))
      return method(*args, **kwargs)
    return record

  for e, writer in enumerate(agent.actor._writers):  # pylint: disable=protected-access
    writer.first, writer.step = spy(e, "first", writer.first), spy(e, "step", writer.step)
  return calls


def _plain(x):
  if isinstance(x, dict):
    return {k: _plain(v) for k, v in sorted(x.items())}
  if isinstance(x, (list, tuple)):
    return [_plain(v) for v in x]
  if hasattr(x, "_fields"):   # PlayerObservation and other named tuples.
    return [_plain(v) for v in x]
  return np.array(x, copy=True)


def _assert_same_calls(a, b):
  assert len(a) == len(b)
  for call_a, call_b in zip(a, b):
    assert call_a[:2] == call_b[:2]
    for x, y in zip(_leaves(call_a[2:]), _leaves(call_b[2:])):
      np.testing.assert_array_equal(x, y)


def _leaves(x):
  if isinstance(x, dict):
    return [leaf for v in x.values() for leaf in _leaves(v)]
  if isinstance(x, (list, tuple)):
    return [leaf for v in x for leaf in _leaves(v)]
  return [x]


class _ScriptedCopy:
  """A substrate copy whose timesteps are a fixed function of (copy, step, actions):
  shaped like `template` (a real copy's first timestep), episodes of 12 steps."""

  def __init__(self, template, index: int):
    self._template, self._index, self._step = template, index, 0

  def _timestep(self, step_type, actions):
    t = self._template
    rng = np.random.default_rng([self._index, self._step, *[int(a) for a in actions]])
    return t._replace(
        step_type=step_type, step=self._step,
        observations=[rng.integers(0, 256, o.shape).astype(o.dtype) for o in t.observations],
        rewards=(np.zeros_like(t.rewards) if step_type.first() else
                 rng.integers(-1, 2, t.rewards.shape).astype(t.rewards.dtype)),
        state=rng.random(t.state.shape).astype(t.state.dtype),
        signals={k: rng.integers(0, 2, v.shape).astype(v.dtype) for k, v in t.signals.items()})

  def reset(self):
    self._step = 0
    return self._timestep(dm_env.StepType.FIRST, [])

  def step(self, actions):
    self._step += 1
    return self._timestep(dm_env.StepType.LAST if self._step == 12 else dm_env.StepType.MID,
                          actions)


def _scripted_copies(agent):
  template = agent.envs[0].reset()
  return [_ScriptedCopy(template, e) for e in range(len(agent.envs))]


def _sequential_writes(config, steps):
  """The plain loop: act, step every copy, write at once."""
  agent = experiments.build_agent(config)
  try:
    calls, envs, actor = _recorded_writes(agent), _scripted_copies(agent), agent.actor
    actor.record_policy_data = True
    timesteps = [env.reset() for env in envs]
    for e, ts in enumerate(timesteps):
      actor.observe_first(e, ts)
    for _ in range(steps):
      actions = actor.select_actions(timesteps)
      timesteps = [env.step(a) for env, a in zip(envs, actions)]
      actor.observe(actions, timesteps)
      for e, ts in enumerate(timesteps):
        if ts.last():
          timesteps[e] = envs[e].reset()
          actor.observe_first(e, timesteps[e])
    return calls
  finally:
    agent.close()


def _loop_writes(config, steps):
  """The acting loop: asks for the step, writes the previous one, collects."""
  agent = experiments.build_agent(config)
  try:
    calls = _recorded_writes(agent)
    loop = environment_loop.ActingLoop(stepping.LocalSubstrates(_scripted_copies(agent)),
                                       agent.actor, config, lambda: 1.0, lambda: True)
    ended = sum(len(loop.step()) for _ in range(steps))
    assert ended == 2 * (steps // 12)
    agent.actor.flush_writes()
    return calls
  finally:
    agent.close()


@pytest.mark.parametrize("agent_kind,inputs", [("reciprocator", False), ("independent", False),
                                               ("reciprocator", True)])
def test_the_loop_writing_one_step_behind_writes_what_the_plain_loop_writes(agent_kind, inputs):
  """`inputs`: players also observe their last reward and action and their balance, which
  the next step changes before a deferred write runs."""
  config = _small(agent=agent_kind)
  config.reciprocator.num_envs = 2
  if inputs:
    config.network = dataclasses.replace(config.network, observe_last_step=True)
    config.reciprocator = dataclasses.replace(config.reciprocator, policy_sees_balance=True)
  steps = 26   # Two episodes per copy and a part of a third.
  expected = _sequential_writes(config, steps)
  written = _loop_writes(config, steps)
  assert sum(call[1] == "first" for call in written) == 2 * 3
  assert sum(call[1] == "step" for call in written) == 2 * steps
  _assert_same_calls(expected, written)


def test_a_run_with_its_substrates_in_a_child_process_acts_and_learns():
  config = _small()
  config.reciprocator.num_envs = 2
  config.adapter = _SHORT
  config.substrate_process = True
  agent = experiments.build_agent(config)
  try:
    assert isinstance(agent.substrates, stepping.SubstrateWorker)
    assert len(agent.envs) == 1 and len(agent.substrates) == 2   # One copy for the specs.
    worker = agent.substrates
    calls = _recorded_writes(agent)
    loop = environment_loop.ActingLoop(agent.substrates, agent.actor, config, lambda: 1.0,
                                       lambda: True)
    rows = [row for _ in range(26) for row in loop.step()]
    assert [row["length"] for row in rows] == [12] * 4
    assert all(np.isfinite(row["mean_reciprocal_reward"]) for row in rows)
    agent.actor.flush_writes()
    assert sum(call[1] == "step" for call in calls) == 2 * 26
    did = agent.learner.step()   # The written episodes are there to learn from.
    assert did["influence_fit"] or did["policy_steps"] > 0, did
  finally:
    agent.close()
  assert not worker.alive()


def test_a_run_with_half_its_substrates_in_a_child_process_acts_and_learns():
  config = _small()
  config.reciprocator.num_envs = 3   # One here, two in the child.
  config.adapter = _SHORT
  config.substrate_split = True
  agent = experiments.build_agent(config)
  try:
    assert isinstance(agent.substrates, stepping.SplitSubstrates)
    assert len(agent.envs) == 1 and len(agent.substrates) == 3
    calls = _recorded_writes(agent)
    loop = environment_loop.ActingLoop(agent.substrates, agent.actor, config, lambda: 1.0,
                                       lambda: True)
    rows = [row for _ in range(26) for row in loop.step()]
    assert sorted(row["env"] for row in rows) == [0, 0, 1, 1, 2, 2]
    assert [row["length"] for row in rows] == [12] * 6
    agent.actor.flush_writes()
    assert sum(call[1] == "step" for call in calls) == 3 * 26
    did = agent.learner.step()
    assert did["influence_fit"] or did["policy_steps"] > 0, did
  finally:
    agent.close()
  assert not agent.substrates.alive()


@pytest.mark.parametrize("settings,allowed", [
    (dict(substrate_split=True, substrate_process=True), "exclude each other"),
    (dict(substrate_split=True, num_envs=1), "num_envs >= 2")])
def test_a_substrate_split_that_cannot_work_is_a_one_line_error(settings, allowed):
  with pytest.raises(experiments.RunError, match=allowed) as info:
    experiments.configure("coins", "reciprocator", **settings)
  assert "\n" not in str(info.value)


def test_the_child_exits_when_its_parent_is_killed(tmp_path):
  script = textwrap.dedent("""
      import sys, time
      import recip_acme
      from substrates import melting_pot, stepping
      worker = stepping.SubstrateWorker("coins", melting_pot.AdapterConfig(), 1, seed=0,
                                        preload=("recip_acme",))
      print(worker.pid, flush=True)
      time.sleep(600)
  """)
  parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  try:
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=30)
    deadline = time.time() + 30
    while time.time() < deadline and process_alive(child):
      time.sleep(0.2)
    assert not process_alive(child), f"substrate worker {child} outlived its killed parent"
  finally:
    if parent.poll() is None:
      parent.kill()
