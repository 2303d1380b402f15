"""Joint and counterfactual reward/return estimators, and the value of influence.

ALGORITHM.md section 1: for N players we keep 2 * (N + 1) small regressors, each
with N outputs (one per influenced player i):

  member 0          rhat(s, a)          joint reward estimator
  member 1 + j      rhat^{-j}(s, a^-j)  counterfactual reward estimator, j left out
  member N + 1      vhat(s, a)          joint estimator of G_{t+1}
  member N + 2 + j  vhat^{-j}(s, a^-j)  counterfactual return estimator

They are independent networks (no shared parameters), evaluated together as one
"stacked" MLP whose weights carry a leading member axis, so all 2(N+1) forward
passes are a handful of einsums instead of 2(N+1) Python calls. A counterfactual
member j has the rows of its first layer that read j's one-hot action multiplied by
a constant 0: its output cannot depend on j's action, and j's rows get no gradient,
which is "trained on the same data with j's action left out of its input".
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import numpy as np
import sonnet as snt
import tensorflow as tf


class Predictions(NamedTuple):
  """Every estimator's output for a batch, each ``[B, N]`` (influenced player last).

  ``cf_reward[j]`` / ``cf_return[j]`` are the counterfactual estimates with player j
  left out, stacked as ``[N (left out j), B, N (influenced i)]``.
  """
  reward: tf.Tensor
  cf_reward: tf.Tensor
  next_return: tf.Tensor
  cf_next_return: tf.Tensor


class StackedMLP(snt.Module):
  """K independent MLPs over the same input, first layer split by input part.

  The first layer reads a shared dense input (state features, time left) and a
  per-member *masked* action input; the mask is a constant, not a variable.
  """

  def __init__(self, num_members: int, dense_size: int, action_size: int,
               action_masks: np.ndarray, hidden_sizes: Sequence[int], output_size: int,
               name: Optional[str] = None):
    super().__init__(name=name)
    if action_masks.shape != (num_members, action_size):
      raise ValueError(f"action_masks must be [{num_members}, {action_size}]; "
                       f"got {action_masks.shape}")
    self._num_members = num_members
    sizes = list(hidden_sizes) + [output_size]
    self._first = sizes[0]
    # First layer as one [in, K * H] matrix: one plain matmul serves all K members
    # (member k owns columns k*H:(k+1)*H). The mask zeroes the action rows a
    # member must not read.
    self._action_masks = tf.constant(
        np.repeat(action_masks.T, sizes[0], axis=1), tf.float32)          # [A, K*H]

    def weights(fan_in: int, shape, label: str) -> tf.Variable:
      init = snt.initializers.TruncatedNormal(stddev=1.0 / np.sqrt(max(fan_in, 1)))
      return tf.Variable(init(shape, tf.float32), name=label)

    fan_in = dense_size + action_size
    self.dense_w = weights(fan_in, [dense_size, num_members * sizes[0]], "dense_w")
    self.action_w = weights(fan_in, [action_size, num_members * sizes[0]], "action_w")
    self.biases = [tf.Variable(tf.zeros([num_members, 1, size]), name=f"b{k}")
                   for k, size in enumerate(sizes)]
    self.hidden_w = [weights(sizes[k], [num_members, sizes[k], sizes[k + 1]], f"w{k + 1}")
                     for k in range(len(sizes) - 1)]

  def __call__(self, dense: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """dense [B, Dd], actions [B, Da] -> [K, B, output_size]."""
    h = (tf.matmul(dense, self.dense_w)
         + tf.matmul(actions, self.action_w * self._action_masks))          # [B, K*H]
    h = tf.transpose(tf.reshape(h, [-1, self._num_members, self._first]), [1, 0, 2])
    h = h + self.biases[0]
    for w, b in zip(self.hidden_w, self.biases[1:]):
      h = tf.matmul(tf.nn.relu(h), w) + b                                  # [K, B, .]
    return h


class InfluenceEstimators(snt.Module):
  """The 2(N+1) estimators of one run, shared by all its Reciprocators.

  Inputs: state features ``[B, F]`` (a global view; see the substrate adapters),
  the joint action ``[B, N]`` (ints, one-hot encoded here), and optionally the time
  left in the episode ``[B]`` (scaled to about [0, 1] by the caller).
  """

  def __init__(self, num_players: int, num_actions: int | Sequence[int], state_size: int,
               hidden_sizes: Sequence[int] = (64, 64), use_time_left: bool = True,
               name: str = "influence_estimators"):
    super().__init__(name=name)
    if num_players < 2:
      raise ValueError(f"influence needs at least 2 players; got {num_players}")
    if isinstance(num_actions, int):
      num_actions = [num_actions] * num_players
    if len(num_actions) != num_players:
      raise ValueError(f"num_actions has {len(num_actions)} entries for {num_players} players")
    self.num_players = num_players
    self.num_actions = list(num_actions)
    self.state_size = state_size
    self.use_time_left = use_time_left
    self._offsets = np.concatenate([[0], np.cumsum(self.num_actions)]).astype(np.int64)
    action_size = int(self._offsets[-1])

    # Row m of the mask says which one-hot action entries member m may read.
    keep = np.ones((num_players + 1, action_size), np.float32)
    for j in range(num_players):
      keep[1 + j, self._offsets[j]:self._offsets[j + 1]] = 0.0
    self.action_masks = np.concatenate([keep, keep], axis=0)  # Rewards, then returns.
    dense_size = state_size + (1 if use_time_left else 0)
    self.mlp = StackedMLP(2 * (num_players + 1), dense_size, action_size,
                          self.action_masks, hidden_sizes, num_players, name="stacked_mlp")

  def encode_actions(self, joint_action: tf.Tensor) -> tf.Tensor:
    """[B, N] ints -> [B, sum(A_i)] concatenated one-hots."""
    joint_action = tf.cast(joint_action, tf.int32)
    return tf.concat([tf.one_hot(joint_action[:, i], a) for i, a in
                      enumerate(self.num_actions)], axis=-1)

  def __call__(self, state: tf.Tensor, joint_action: tf.Tensor,
               time_left: Optional[tf.Tensor] = None) -> Predictions:
    state = tf.cast(tf.reshape(state, [tf.shape(state)[0], self.state_size]), tf.float32)
    dense = state
    if self.use_time_left:
      if time_left is None:
        raise ValueError("these estimators were built with use_time_left=True; pass time_left")
      dense = tf.concat([state, tf.cast(tf.reshape(time_left, [-1, 1]), tf.float32)], -1)
    out = self.mlp(dense, self.encode_actions(joint_action))  # [2(N+1), B, N]
    n = self.num_players
    return Predictions(reward=out[0], cf_reward=out[1:n + 1],
                       next_return=out[n + 1], cf_next_return=out[n + 2:])


def value_of_influence(predictions: Predictions, gamma: float,
                       future_term: bool = True) -> tf.Tensor:
  """voi[b, j, i] = rhat_i - rhat_i^{-j} + gamma * (vhat_i - vhat_i^{-j}).

  A single gamma on the future term: vhat regresses G_{t+1} (the return from the next
  step on), so Q_i(s, a) = r_i + gamma * G_{t+1}. The published code regresses
  G_t - r_t (already gamma * G_{t+1}) and multiplies by gamma again; we do not.
  ``future_term=False`` keeps the immediate term only (the IPD-Rollout setting).
  """
  immediate = predictions.reward[None] - predictions.cf_reward          # [N(j), B, N(i)]
  voi = immediate
  if future_term:
    voi = voi + gamma * (predictions.next_return[None] - predictions.cf_next_return)
  return tf.transpose(voi, [1, 0, 2])                                    # [B, N(j), N(i)]
