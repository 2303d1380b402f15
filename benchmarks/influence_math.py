"""Cost of the Reciprocator math per environment step: VoI and reciprocal rewards.

For T = 1000 steps and N = 2 (coins) / N = 7 (clean_up) players, times
(a) the VoI forward pass of all 2(N+1) estimators and (b) reciprocal_rewards, each
eagerly and inside tf.function, and prints microseconds per step and the
tf.function speed-up measured in this run. State sizes are those of the downsampled
global views (WORLD.RGB / 8): coins 17x17x3, clean_up 21x30x3.

  python benchmarks/influence_math.py [--repeats 5]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import recip_acme  # noqa: E402,F401
from recip_acme import reciprocal  # noqa: E402
from recip_acme.influence import networks  # noqa: E402

CASES = [("coins", 2, 8, 17 * 17 * 3), ("clean_up", 7, 9, 21 * 30 * 3)]


def _time(fn, repeats: int) -> float:
  fn()  # Warm-up (and tracing, for tf.function).
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    out = fn()
    tf.nest.map_structure(lambda x: x.numpy() if hasattr(x, "numpy") else x, out)
    best = min(best, time.perf_counter() - start)
  return best


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--steps", type=int, default=1000)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  steps = args.steps
  print(f"T = {steps} steps; best of {args.repeats}; microseconds per environment step")
  print(f"{'case':10s} {'what':20s} {'eager':>10s} {'tf.function':>12s} {'speed-up':>9s}")
  for name, n, actions, state_size in CASES:
    rng = np.random.default_rng(0)
    estimators = networks.InfluenceEstimators(n, actions, state_size, (64, 64))
    state = tf.constant(rng.random((steps, state_size), np.float32))
    joint = tf.constant(rng.integers(0, actions, (steps, n)), tf.int32)
    time_left = tf.constant(np.linspace(1, 0, steps, dtype=np.float32))

    def voi_eager():
      return networks.value_of_influence(estimators(state, joint, time_left), 0.99)
    voi_graph = tf.function(voi_eager)
    voi = voi_eager()

    def rewards_eager():
      return reciprocal.reciprocal_rewards(voi, "balance", 0.99)
    rewards_graph = tf.function(rewards_eager)

    for what, eager, graph in [("voi (2(N+1) nets)", voi_eager, voi_graph),
                               ("reciprocal_rewards", rewards_eager, rewards_graph)]:
      e = _time(eager, args.repeats) / steps * 1e6
      g = _time(graph, args.repeats) / steps * 1e6
      print(f"{name + f' N={n}':10s} {what:20s} {e:10.2f} {g:12.2f} {e / g:8.1f}x")

    # Online use (the joint actor): reciprocal_step, one step per call, state carried.
    # Alone it is one TF call; in the actor it is fused into the XLA-compiled step.
    one_voi = voi[0]
    state0 = reciprocal.initial_state([], n)
    step_graph = tf.function(lambda v, s: reciprocal.reciprocal_step(v, "balance", 0.99, s))
    g1 = _time(lambda: step_graph(one_voi, state0), args.repeats * 20) * 1e6
    print(f"{name + f' N={n}':10s} {'reciprocal_step':20s} {'':10s} {g1:12.2f}   (one call)")


if __name__ == "__main__":
  main()
