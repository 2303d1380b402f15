"""Does stepping substrate copies in threads run them in parallel? (It does not.)

Why it matters: an actor could overlap the substrate's step with its own Python work
(the Reverb writes) in a thread, if the substrate released the GIL while it steps.
This prints the rate of 4 coins copies stepped in turn by one thread and, alternating,
split over two threads; a ratio well below 2 (here 0.45-0.60) says dmlab2d holds the GIL,
which is why `--substrate_process` uses a child process (substrates/stepping.py).

  python benchmarks/substrate_threads.py [--steps 400] [--rounds 3]
"""

import argparse
import os
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

import recip_acme  # noqa: E402,F401  (the stack workarounds, before Melting Pot imports Acme)
from substrates import melting_pot  # noqa: E402


def _run(envs, steps: int, seed: int) -> None:
  rng = np.random.default_rng(seed)
  for _ in range(steps):
    for env in envs:
      if env.step(rng.integers(0, env.num_actions[0], env.num_players)).last():
        env.reset()


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--steps", type=int, default=400)
  parser.add_argument("--rounds", type=int, default=3)
  args = parser.parse_args()
  envs = melting_pot.seeded_copies("coins", melting_pot.AdapterConfig(), 4, seed=0)
  for env in envs:
    env.reset()
  _run(envs, 20, 0)   # Warm-up.
  print("== coins: 4 copies (our adapter included), microseconds per copy step")
  ratios = []
  for r in range(args.rounds):
    start = time.perf_counter()
    _run(envs, args.steps, r)
    one = time.perf_counter() - start
    threads = [threading.Thread(target=_run, args=(envs[i::2], args.steps, r)) for i in (0, 1)]
    start = time.perf_counter()
    for t in threads:
      t.start()
    for t in threads:
      t.join()
    two = time.perf_counter() - start
    ratios.append(one / two)
    per_step = 1e6 / (args.steps * len(envs))
    print(f"round {r}: one thread {one * per_step:6.0f} us, two threads {two * per_step:6.0f} us"
          f"  speed-up {one / two:4.2f}x")
  print(f"median speed-up of two threads: {np.median(ratios):4.2f}x (2.0 if the substrate "
        "released the GIL)")
  for env in envs:
    env.close()


if __name__ == "__main__":
  main()
