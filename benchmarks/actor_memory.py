"""Where an actor process's resident memory grows (#14: no growth over 10 minutes).

Each part runs alone in a fresh process for --seconds on coins (default preset, 2
substrate copies as a Ray actor has) and prints its resident-memory growth per 1,000
calls, measured from the end of a warm-up (--warmup seconds) to the end. Parts, from
the outside in:

  tf_function   a trivial tf.function (one matmul) called with the same tensors: the
                control for TensorFlow's own per-call growth on Python 3.11
                (tensorflow/tensorflow#62551, "Python >=3.11 TF memory leaks", TF 2.15)
  tf_read       an eager read of one variable (`v.numpy()`), the same control
  substrate     Melting Pot's own step, random actions (no adapter)
  adapter       our MeltingPotSubstrate.step (observation conversion, state)
  network       one IMPALA network's forward pass in a tf.function, batch 4
  policy        JointActor.select_actions alone (all players' policies + VoI)
  actor         select_actions + substrate + observe, writes switched off
  actor_writes  the same with the joint Reverb writer (tables cleared every 100 steps)

  python benchmarks/actor_memory.py [--seconds 120] [--parts substrate,adapter,...]
"""

import argparse
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

PARTS = ("tf_function", "tf_read", "substrate", "adapter", "network", "policy", "actor",
         "actor_writes")


def _rss_mib() -> float:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmRSS:"):
        return int(line.split()[1]) / 1024
  raise RuntimeError("no VmRSS in /proc/self/status")


def _make_call(part: str):
  """A function doing one unit of the part's work (one joint step or one call)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import recip_acme  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from recip_acme import experiments  # pylint: disable=g-import-not-at-top
  from substrates import melting_pot  # pylint: disable=g-import-not-at-top
  from recip_acme.experiments import environment_loop  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  if part in ("tf_function", "tf_read"):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    weights = tf.Variable(tf.ones([8, 4]))
    x = tf.ones([3, 8])
    matmul = tf.function(lambda x: tf.matmul(x, weights), autograph=False)
    return (lambda: matmul(x)) if part == "tf_function" else (lambda: weights.numpy())
  if part in ("substrate", "adapter"):
    env = melting_pot.MeltingPotSubstrate("coins")
    actions = lambda: rng.integers(0, env.num_actions[0], env.num_players)  # noqa: E731
    if part == "substrate":
      env.raw_reset()
      return lambda: env.raw_step(actions()).last() and env.raw_reset()
    env.reset()
    return lambda: env.step(actions()).last() and env.reset()
  config = experiments.default_config("coins", "reciprocator")
  if part != "actor_writes":   # No Reverb writes: the writer's methods do nothing.
    from recip_acme.agents.reciprocator import writing  # pylint: disable=g-import-not-at-top
    for method in ("first", "step", "close"):
      setattr(writing.JointTrajectoryWriter, method, lambda self, *a, **k: None)
  agent = experiments.build_agent(config)
  if part == "network":
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    network = agent.networks.groups[0].network
    observation = tf.zeros([4, *agent.envs[0].rgb_shape], tf.uint8)
    state = network.initial_state(4)
    forward = tf.function(network, autograph=False)
    return lambda: forward(observation, state)
  if part == "policy":
    timesteps = agent.substrates.reset_all()
    for e, timestep in enumerate(timesteps):
      agent.actor.observe_first(e, timestep)
    return lambda: agent.actor.select_actions(timesteps)
  tables = [t.name for t in agent.builder.make_replay_tables(networks=agent.networks)]
  # The run's own acting loop (episode rows included), as throughput.actor_rate runs it.
  loop = environment_loop.ActingLoop(agent.substrates, agent.actor, config, lambda: 1.0,
                                     lambda: True)
  box = {"steps": 0}

  def step():
    loop.step()
    box["steps"] += 1
    if box["steps"] % 100 == 0:
      for table in tables:
        agent.client.reset(table)
  return step


def run_part(part: str, seconds: float, warmup: float) -> None:
  """Runs in the child process: prints 'calls rss_start rss_end' after the warm-up."""
  call = _make_call(part)
  start = time.time()
  call()   # At least one warm-up call (the first traces and compiles), however slow.
  while time.time() - start < warmup:
    call()
  # At least `min_calls` measured calls, so a slow machine never measures none.
  calls, first, min_calls = 0, _rss_mib(), 10
  measuring = time.time()
  while time.time() - measuring < seconds or calls < min_calls:
    call()
    calls += 1
  print(f"RESULT {calls} {first:.1f} {_rss_mib():.1f}", flush=True)


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--seconds", type=float, default=120.0)
  parser.add_argument("--warmup", type=float, default=20.0)
  parser.add_argument("--parts", default=",".join(PARTS))
  parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    run_part(args.child, args.seconds, args.warmup)
    return
  parts = args.parts.split(",")
  unknown = [p for p in parts if p not in PARTS]
  if unknown:
    sys.exit(f"unknown part(s) {unknown}; valid: {', '.join(PARTS)}")
  print(f"== actor memory by part: coins, {args.seconds:.0f} s after a {args.warmup:.0f} s "
        "warm-up, each part in a fresh process")
  for part in parts:
    out = subprocess.run([sys.executable, __file__, "--child", part, "--seconds",
                          str(args.seconds), "--warmup", str(args.warmup)],
                         capture_output=True, text=True, check=False)
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT")]
    if not line:
      print(f"{part:13s} failed: {out.stderr.strip().splitlines()[-1:]}")
      continue
    calls, first, last = line[0].split()[1:]
    calls, first, last = int(calls), float(first), float(last)
    print(f"{part:13s} {calls:8d} calls, RSS {first:6.0f} -> {last:6.0f} MiB, "
          f"{(last - first) / calls * 1000:+.3f} MiB per 1,000 calls", flush=True)


if __name__ == "__main__":
  main()
