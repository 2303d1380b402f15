"""Speed of the paper's batched games and of a training episode on them.

1. The games alone: batched env steps per second (games x steps / s) with random
   actions, for IPD and Coins (2 players), at batch 2048 (the paper's).
2. One training episode (32 steps) at batch 2048 with the reproduction's settings:
   acting for both players, the estimators' refit when due, the IMPALA updates. Printed
   as seconds per episode, env steps/s, and the ratio of the training episode's env
   steps/s to the raw game's, all measured in this run. Coins R vs R is timed with
   both future-term estimators (the model-based default, and return regression).
   Each episode's time is broken down into acting (policy and influence steps and the
   game, 33 TF calls), the influence estimators (replay and refits), the writes, and
   the IMPALA updates. Episodes are timed in whole refit cycles (Coins refits every 2
   episodes, IPD every 3), so the refit's share is its mean, not a draw of which
   episodes happened to refit.
3. The same Coins episodes with what `launch.reproduce --paper_scale` adds
   (recip_acme/paper.py PAPER_SCALE_COINS): IMPALA steps on 256-game minibatches (the
   same 8 steps per episode, one pass over the games instead of 8) and 2 estimator
   epochs per refit instead of 5. #15's target: 1.5 s per Coins episode.
   Each training row runs in a fresh process: rows timed one after another in one
   process slowed down as it accumulated trainers (the same R vs R --paper_scale
   episode took 1.65 s as the 5th row and 1.01-1.13 s alone, 2026-12-06, in an ad-hoc
   probe that was not kept).
4. One acting step (policies and influence, one TF call) at this batch, compiled with
   XLA and without, called in turn in one process (medians of 6 rounds;
   BatchedConfig.jit_compile_acting picks by batch size).

  python benchmarks/paper_games.py [--batch 2048] [--episodes 4] [--experiments ipd_r_vs_nl,...]
"""

import argparse
import concurrent.futures
import dataclasses
import multiprocessing
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

import recip_acme  # noqa: E402,F401
from substrates import paper_games  # noqa: E402


def raw_rate(env, seconds: float = 3.0) -> float:
  rng = np.random.default_rng(0)
  env.reset()
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    ts = env.step(rng.integers(0, env.num_actions, (env.batch_size, env.num_players)))
    steps += 1
    if ts.done:
      env.reset()
  return steps * env.batch_size / (time.perf_counter() - start)


def _trainer(experiment: str, batch: int, future_estimator: str = None,
             paper_scale: bool = False, **settings):
  from recip_acme import paper  # pylint: disable=g-import-not-at-top
  from recip_acme.agents.reciprocator import batched  # pylint: disable=g-import-not-at-top
  scale, epochs = paper.with_paper_scale(experiment, {}, None) if paper_scale else ({}, None)
  # future_estimator None: the experiment's default.
  env, config = paper.experiment_setup(experiment, batch, seed=0, influence_epochs=epochs,
                                       future_estimator=future_estimator)
  config = paper.with_overrides(config, **scale)
  config = dataclasses.replace(config, **settings)
  return env, config, batched.BatchedReciprocators(env, config)


def training_rate(experiment: str, batch: int, episodes: int,
                  future_estimator: str = None, paper_scale: bool = False):
  env, config, trainer = _trainer(experiment, batch, future_estimator, paper_scale)
  try:
    # Warm-up: tracing, XLA compilation, the initial estimator fit and first updates.
    initial = config.influence.initial_episodes if config.any_reciprocator else 0
    for _ in range(initial + 2):
      trainer.run_episode()
    cycle = config.influence.refit_every if config.any_reciprocator else 1
    episodes = -(-episodes // cycle) * cycle        # Whole refit cycles.
    before = dict(trainer.seconds)
    start = time.perf_counter()
    for _ in range(episodes):
      trainer.run_episode()
    seconds = (time.perf_counter() - start) / episodes
    parts = {k: (trainer.seconds[k] - before[k]) / episodes for k in before}
  finally:
    trainer.close()
  return seconds, batch * env.episode_length / seconds, parts


def acting_step_ms(experiment: str, batch: int, rounds: int = 6, calls: int = 20):
  """Milliseconds per acting call (policies and influence) with and without XLA: one
  trainer after its first fit, the two compilations of its act step called in turn,
  `rounds` times `calls` calls each; the medians over rounds."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tree  # pylint: disable=g-import-not-at-top
  env, config, trainer = _trainer(experiment, batch)
  try:
    for _ in range(config.influence.initial_episodes):
      trainer.run_episode()
    step = env.reset()
    cores = [tree.map_structure(lambda x: x.numpy(), net.initial_state(batch))
             for net in trainer.networks]
    inputs = (step.observations, step.state, np.ones(batch, np.float32), cores,
              trainer._balances.balance, trainer._balances.debit)  # pylint: disable=protected-access
    acts = {jit: tf.function(trainer._act_impl, autograph=False, jit_compile=jit)  # pylint: disable=protected-access
            for jit in (True, False)}
    times = {jit: [] for jit in acts}
    for _ in range(rounds + 1):              # The first round warms up (compiles).
      for jit, act in acts.items():
        start = time.perf_counter()
        for _ in range(calls):
          act(*inputs)["actions"].numpy()
        times[jit].append(1000 * (time.perf_counter() - start) / calls)
    return {jit: float(np.median(t[1:])) for jit, t in times.items()}
  finally:
    trainer.close()


def in_fresh_process(function, *args):
  """function(*args) in a new Python process (spawned, not forked: TF and Reverb
  threads do not survive a fork), so no row inherits the state of the rows before."""
  context = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
    return pool.submit(function, *args).result()


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--batch", type=int, default=2048)
  parser.add_argument("--episodes", type=int, default=4)
  parser.add_argument("--experiments", default=None,
                      help="Comma-separated training rows to time (by experiment name, e.g. "
                           "ipd_r_vs_nl); default: all.")
  args = parser.parse_args()
  rows = (("ipd_r_vs_nl", None, False), ("coins_r_vs_r", "transition", False),
          ("coins_r_vs_r", "returns", False), ("coins_nl_vs_nl", None, False),
          ("coins_r_vs_r", "transition", True), ("coins_r_vs_nl", "transition", True),
          ("coins_nl_vs_nl", None, True))
  if args.experiments:
    wanted = args.experiments.split(",")
    unknown = sorted(set(wanted) - {row[0] for row in rows})
    if unknown:
      parser.error(f"--experiments: unknown {', '.join(unknown)}; allowed: "
                   f"{', '.join(sorted({row[0] for row in rows}))}")
    rows = tuple(row for row in rows if row[0] in wanted)
  print(f"== batched games, batch {args.batch}: env steps/s (games x steps per second)")
  games = {"ipd": paper_games.BatchedIPD(args.batch),
           "coins": paper_games.BatchedCoins(args.batch, num_players=2, seed=0)}
  raw = {name: raw_rate(env) for name, env in games.items()}
  for name, rate in raw.items():
    print(f"{name:6s} raw game, random actions: {rate:12,.0f} env steps/s")
  print(f"== one 32-step training episode at batch {args.batch} "
        f"(mean of {args.episodes}, after warm-up)")
  for experiment, estimator, paper_scale in rows:
    seconds, rate, parts = in_fresh_process(training_rate, experiment, args.batch,
                                            args.episodes, estimator, paper_scale)
    game = experiment.split("_")[0]
    label = experiment + (f" ({estimator})" if estimator else "") + (
        " [--paper_scale settings]" if paper_scale else "")
    print(f"{label:48s} {seconds:6.2f} s/episode  {rate:10,.0f} env steps/s  "
          f"ratio to raw {rate / raw[game]:.3f}")
    print(f"{'':48s} breakdown: " + "  ".join(
        f"{k} {v:5.2f} s ({100 * v / seconds:4.1f} %)" for k, v in parts.items()))
  print(f"== one acting step (policies and influence), coins_r_vs_r at batch {args.batch}")
  medians = in_fresh_process(acting_step_ms, "coins_r_vs_r", args.batch)
  xla, graph = medians[True], medians[False]
  print(f"with XLA {xla:6.2f} ms   without {graph:6.2f} ms   ratio XLA / without "
        f"{xla / graph:.2f}")


if __name__ == "__main__":
  main()
