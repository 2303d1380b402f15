"""A known-answer check of the influence estimators on Melting Pot coins.

On coins one influence is known exactly: when the partner takes player i's coin, i
gets -2 because of the partner's action. With uniformly random players (pi_j = 1/7 for
each of the 7 actions), the marginal VoI of the partner on i on such a step is
-2 * (1 - 1/7) if the estimator has learned which of the partner's actions takes the
coin, and ~0 if it cannot see that. `launch/voi_check.py` runs this for several views
of the state the estimators see; training uses the same estimator classes.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np
import tensorflow as tf

from recip_acme.influence import config as config_lib
from recip_acme.influence import data as data_lib
from recip_acme.influence import learning as learning_lib
from recip_acme.influence import networks as networks_lib

NUM_ACTIONS = 7   # Melting Pot coins.
STATE_VIEWS = ("world", "world+avatars", "views", "views+avatars", "local", "local+avatars")
# Coins' egocentric view (11 x 11 cells after 8x downsampling: 9 ahead, 1 behind, 5 to
# each side) has the avatar at row 9, column 5; `local` keeps the 3 x 3 cells around it.
AVATAR_CELL = (9, 5)


def play_random(steps: int, seed: int) -> List[Dict[str, np.ndarray]]:
  """Episodes of uniformly random play: every state view, joint actions, rewards and
  the partner-took-my-coin flags, time-major."""
  from substrates import melting_pot  # pylint: disable=g-import-not-at-top
  from substrates import metrics  # pylint: disable=g-import-not-at-top
  import random  # pylint: disable=g-import-not-at-top
  random.seed(seed)
  env = melting_pot.MeltingPotSubstrate("coins",
                                        melting_pot.AdapterConfig(avatar_locations=True))
  world_size = int(np.prod(env.world_shape)) + 1
  rng = np.random.default_rng(seed)
  episodes, done = [], 0
  try:
    while done < steps:
      ts = env.reset()
      parts = {k: [] for k in ("world", "avatars", "views", "local", "action", "reward", "lost")}
      while not ts.last() and done < steps:
        action = rng.integers(0, NUM_ACTIONS, env.num_players)
        parts["world"].append(ts.state[:world_size])
        parts["avatars"].append(ts.state[world_size:])
        parts["views"].append(np.concatenate([o.reshape(-1) for o in ts.observations])
                              .astype(np.float32) / 255.0)
        row, col = AVATAR_CELL
        parts["local"].append(np.concatenate(
            [o[row - 1:row + 2, col - 1:col + 2].reshape(-1) for o in ts.observations])
                              .astype(np.float32) / 255.0)
        ts = env.step(action)
        parts["action"].append(action)
        parts["reward"].append(ts.rewards)
        parts["lost"].append(ts.signals[metrics.MISMATCH] > 0)
        done += 1
      episodes.append({k: np.asarray(v) for k, v in parts.items()})
  finally:
    env.close()
  return episodes


def state_of(episode: Dict[str, np.ndarray], view: str) -> np.ndarray:
  """The estimators' state [T, F] for one of STATE_VIEWS."""
  base = episode[view.split("+")[0]]
  if view.endswith("+avatars"):
    return np.concatenate([base, episode["avatars"]], axis=1)
  return base


def fit_and_check(train: List[Dict[str, np.ndarray]], test: List[Dict[str, np.ndarray]],
                  view: str, epochs: int, batch_size: int, seed: int,
                  hidden_sizes=(64, 64)) -> Dict[str, float]:
  """Fits the reward estimator on `train` (one refit of `epochs` passes) and measures
  VoI[partner, i] on `test`, on the steps the partner took i's coin and elsewhere."""
  tf.random.set_seed(seed)
  samples = sum(len(e["reward"]) for e in train)
  config = config_lib.InfluenceConfig(
      hidden_sizes=hidden_sizes, batch_size=batch_size, epochs=epochs,
      samples_per_epoch=samples, replay_episodes=len(train), use_time_left=False,
      future_term=False, counterfactual="marginal")
  replay = data_lib.EpisodeReplay(len(train), gamma=config.gamma, seed=seed)
  for e in train:
    replay.add_episode(state_of(e, view), e["action"], e["reward"])
  state_size = state_of(train[0], view).shape[1]
  estimators = networks_lib.InfluenceEstimators(
      2, NUM_ACTIONS, state_size, hidden_sizes, use_time_left=False,
      counterfactual="marginal")
  learner = learning_lib.InfluenceLearner(estimators, replay, config)
  learner.step()

  state = np.concatenate([state_of(e, view) for e in test]).astype(np.float32)
  action = np.concatenate([e["action"] for e in test])
  reward = np.concatenate([e["reward"] for e in test])
  lost = np.concatenate([e["lost"] for e in test])
  policy = np.full((len(state), 2, NUM_ACTIONS), 1.0 / NUM_ACTIONS, np.float32)
  voi, predicted = [], []
  for start in range(0, len(state), 4096):
    part = slice(start, start + 4096)
    pred = estimators(tf.constant(state[part]), tf.constant(action[part]), None,
                      tf.constant(policy[part]))
    voi.append(networks_lib.value_of_influence(pred, config.gamma, future_term=False).numpy())
    predicted.append(pred.reward.numpy())
  voi, predicted = np.concatenate(voi), np.concatenate(predicted)
  lengths = [len(e["reward"]) for e in test]
  partner_on_me = np.stack([voi[:, 1, 0], voi[:, 0, 1]], axis=1)      # [T, i]
  return {"view": view, "state_size": state_size, "train_steps": samples,
          "test_steps": len(state), "test_losses": int(lost.sum()),
          "voi_partner_took_my_coin": float(partner_on_me[lost].mean()),
          "voi_otherwise": float(partner_on_me[~lost].mean()),
          "abs_voi_otherwise": float(np.abs(partner_on_me[~lost]).mean()),
          "reward_on_losses": float(reward[lost].mean()),
          "predicted_reward_on_losses": float(predicted[lost].mean()),
          "reward_mse": float(np.mean((reward - predicted) ** 2)),
          **reciprocal_reward_sizes(voi, reward, lengths, config.gamma)}


def reciprocal_reward_sizes(voi: np.ndarray, reward: np.ndarray, lengths: List[int],
                            balance_decay: float) -> Dict[str, float]:
  """How large w * r_rec gets (w = 1) under the two ways of matching its scale to the
  game's: mean|r_rec| = std(r_ext) ("mean_abs") or rms(r_rec) = std(r_ext) ("rms").

  r_rec is computed per episode from the fitted VoI with the default variant and
  lambda = `balance_decay`. Both rules give the same shape, scaled: what differs is
  how its rare large values compare with the game's own (+1, -2).
  """
  from recip_acme import reciprocal  # pylint: disable=g-import-not-at-top
  parts, start = [], 0
  for n in lengths:
    terms = reciprocal.reciprocal_terms(tf.constant(voi[start:start + n], tf.float32),
                                        balance_decay=balance_decay)
    parts.append(terms.rewards.numpy())
    start += n
  rec = np.concatenate(parts).reshape(-1)
  std = float(np.std(reward))
  sizes = {"reward_std": std, "reward_abs_max": float(np.abs(reward).max())}
  for rule, size in (("mean_abs", np.abs(rec).mean()), ("rms", np.sqrt(np.mean(rec ** 2)))):
    scaled = np.abs(rec) * (std / max(float(size), 1e-12))
    sizes[f"{rule}_rule_p99_9"] = float(np.quantile(scaled, 0.999))
    sizes[f"{rule}_rule_max"] = float(scaled.max())
    sizes[f"{rule}_rule_mean_abs_over_std"] = float(scaled.mean() / std)
  return sizes
