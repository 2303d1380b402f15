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
   the IMPALA updates.
3. The same Coins episodes with the IMPALA steps on minibatches (--games_per_update,
   default 256: the same 8 steps per episode, one pass over the games instead of 8):
   the updates are bound by the LSTM's arithmetic, so this is what cuts an episode.

  python benchmarks/paper_games.py [--batch 2048] [--episodes 3] [--games_per_update 256]
"""

import argparse
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


def training_rate(experiment: str, batch: int, episodes: int,
                  future_estimator: str = None, games_per_update: int = None):
  from recip_acme import paper  # pylint: disable=g-import-not-at-top
  from recip_acme.agents.reciprocator import batched  # pylint: disable=g-import-not-at-top
  # future_estimator None: the experiment's default.
  env, config = paper.experiment_setup(experiment, batch, seed=0,
                                       future_estimator=future_estimator)
  config = paper.with_overrides(config, games_per_update=games_per_update)
  trainer = batched.BatchedReciprocators(env, config)
  try:
    # Warm-up: tracing, XLA compilation, the initial estimator fit and first updates.
    initial = config.influence.initial_episodes if config.any_reciprocator else 0
    for _ in range(initial + 2):
      trainer.run_episode()
    before = dict(trainer.seconds)
    start = time.perf_counter()
    for _ in range(episodes):
      trainer.run_episode()
    seconds = (time.perf_counter() - start) / episodes
    parts = {k: (trainer.seconds[k] - before[k]) / episodes for k in before}
  finally:
    trainer.close()
  return seconds, batch * env.episode_length / seconds, parts


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--batch", type=int, default=2048)
  parser.add_argument("--episodes", type=int, default=3)
  parser.add_argument("--games_per_update", type=int, default=256)
  args = parser.parse_args()
  print(f"== batched games, batch {args.batch}: env steps/s (games x steps per second)")
  games = {"ipd": paper_games.BatchedIPD(args.batch),
           "coins": paper_games.BatchedCoins(args.batch, num_players=2, seed=0)}
  raw = {name: raw_rate(env) for name, env in games.items()}
  for name, rate in raw.items():
    print(f"{name:6s} raw game, random actions: {rate:12,.0f} env steps/s")
  print(f"== one 32-step training episode at batch {args.batch} "
        f"(mean of {args.episodes}, after warm-up)")
  minibatched = min(args.games_per_update, args.batch)
  for experiment, estimator, games in (
      ("ipd_r_vs_nl", None, None), ("coins_r_vs_r", "transition", None),
      ("coins_r_vs_r", "returns", None), ("coins_nl_vs_nl", None, None),
      ("coins_r_vs_r", "transition", minibatched), ("coins_r_vs_nl", "transition", minibatched),
      ("coins_nl_vs_nl", None, minibatched)):
    seconds, rate, parts = training_rate(experiment, args.batch, args.episodes, estimator,
                                         games)
    game = experiment.split("_")[0]
    label = experiment + (f" ({estimator})" if estimator else "") + (
        f" [{games} games/update]" if games else "")
    print(f"{label:48s} {seconds:6.2f} s/episode  {rate:10,.0f} env steps/s  "
          f"ratio to raw {rate / raw[game]:.3f}")
    print(f"{'':48s} breakdown: " + "  ".join(
        f"{k} {v:5.2f} s ({100 * v / seconds:4.1f} %)" for k, v in parts.items()))


if __name__ == "__main__":
  main()
