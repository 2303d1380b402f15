"""K independent MLPs evaluated as one: weights with a leading member axis.

The influence estimators need many small networks over the same input, some of which
must not see one player's action (the counterfactual estimators). Evaluating them as
one stacked MLP takes a handful of matmuls instead of K Python calls.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import sonnet as snt
import tensorflow as tf


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
