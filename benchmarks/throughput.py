"""Throughput of the Reciprocator stack, as ratios measured in one run.

1. Actor: raw substrate steps/s with random actions vs the joint actor's steps/s
   (policy inference for all players, VoI and reciprocal reward, Reverb writes), on
   coins (11x11 observations) and clean_up. Targets: >= 0.5 of raw on coins.
2. Learner: the wrapped IMPALA learner's updates/s with the adapter on
   (reciprocator: shaped dataset) vs off (independent). Target: overhead <= 25 %.

  python benchmarks/throughput.py [--seconds 15] [--num_envs 1,4,8]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

import recip_acme  # noqa: E402,F401
from recip_acme import training  # noqa: E402
from substrates import melting_pot  # noqa: E402


def raw_rate(substrate: str, seconds: float) -> float:
  env = melting_pot.MeltingPotSubstrate(substrate)
  rng = np.random.default_rng(0)
  env.raw_reset()
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    ts = env.raw_step(rng.integers(0, env.num_actions[0], env.num_players))
    steps += 1
    if ts.last():
      env.raw_reset()
  env.close()
  return steps / (time.perf_counter() - start)


def _start(config):
  """An agent whose actor records policy data, and its first timesteps."""
  agent = training.build_agent(config)
  agent.actor.record_policy_data = True
  timesteps = [env.reset() for env in agent.envs]
  for e, ts in enumerate(timesteps):
    agent.actor.observe_first(e, ts)
  return agent, timesteps


def _step(agent, timesteps):
  """One joint step of every environment, restarting those whose episode ended."""
  actions = agent.actor.select_actions(timesteps)
  nxt = [env.step(a) for env, a in zip(agent.envs, actions)]
  agent.actor.observe(actions, nxt)
  for e, ts in enumerate(nxt):
    if ts.last():
      nxt[e] = agent.envs[e].reset()
      agent.actor.observe_first(e, nxt[e])
  return nxt


def actor_rate(substrate: str, agent_kind: str, num_envs: int, seconds: float) -> float:
  """Joint actor + substrate + Reverb writes; no learner steps."""
  config = training.default_config(substrate, agent_kind)
  config.reciprocator.num_envs = num_envs
  agent, timesteps = _start(config)
  for _ in range(20):  # Warm-up: tracing.
    timesteps = _step(agent, timesteps)
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    timesteps = _step(agent, timesteps)
    steps += num_envs
  rate = steps / (time.perf_counter() - start)
  agent.close()
  return rate


def learner_rate(agent_kind: str, seconds: float) -> float:
  """IMPALA updates/s on coins; the table is filled first, so only learning is timed."""
  config = training.default_config("coins", agent_kind)
  config.reciprocator.num_envs = 4
  agent, timesteps = _start(config)
  learner = agent.learner.learners[0]
  batch, seq = config.impala.batch_size, config.impala.sequence_length
  for _ in range(40 * batch * seq // len(agent.envs) + seq):
    timesteps = _step(agent, timesteps)
  learner.step()  # Warm-up: tracing.
  updates, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds and updates < 38:
    learner.step()
    updates += 1
  rate = updates / (time.perf_counter() - start)
  agent.close()
  return rate


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--seconds", type=float, default=15.0)
  parser.add_argument("--num_envs", default="1,4,8")
  args = parser.parse_args()
  env_counts = [int(x) for x in args.num_envs.split(",")]
  print("== actor: environment steps per second (ratio to the raw substrate)")
  for substrate in ("coins", "clean_up"):
    raw = raw_rate(substrate, args.seconds)
    print(f"{substrate:9s} raw substrate, random actions: {raw:8.0f} steps/s")
    for kind in ("reciprocator", "independent"):
      for num_envs in env_counts:
        rate = actor_rate(substrate, kind, num_envs, args.seconds)
        print(f"{substrate:9s} joint actor {kind:12s} num_envs={num_envs}: {rate:8.0f} steps/s"
              f"  ratio {rate / raw:5.2f}")
  print("== learner: IMPALA updates per second on coins (batch 16 x 20 steps)")
  on = learner_rate("reciprocator", args.seconds)
  off = learner_rate("independent", args.seconds)
  print(f"adapter on (reciprocator): {on:6.2f} updates/s")
  print(f"adapter off (independent): {off:6.2f} updates/s")
  print(f"adapter overhead: {100 * (off / on - 1):+.1f} % time per update")


if __name__ == "__main__":
  main()
