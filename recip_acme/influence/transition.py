"""The model-based future term of VoI, for states made of one-hot factors.

The return-regression future term (networks.py) estimates E[G_{t+1} | s, a] and its
counterfactual with two separate regressions of Monte-Carlo returns; its errors do not
cancel between the joint and the counterfactual estimator. The published Coins code
estimates the same two expectations through a model instead:

  E[G_{t+1} | s, a]       = sum_{s'} p(s' | s, a)       V(s')
  E[G_{t+1} | s, a^{-j}]  = sum_{s'} p(s' | s, a^{-j})  V(s')

with a next-state classifier p (joint, and one counterfactual per left-out player j,
trained on the same data with j's action hidden) and ONE state-value critic V shared
by both sides. Whatever error V has, it is the same V on both sides, and where j's
action does not change the next state the two distributions agree and the term is 0.

This needs a state made of F one-hot factors (Coins: 2N planes of G*G cells: every
player's position, every coin's position) and a next-state distribution that
factorises over them, p(s'|.) = prod_f p_f(s'_f|.). V is tabulated over every
possible state after each refit (9^4 = 6,561 states for 2-player Coins), so the
expectation is one matmul and one weighted sum per step, not a sum in Python.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import sonnet as snt
import tensorflow as tf

from recip_acme.influence import stacked


def all_states(state_factors: Sequence[int]) -> np.ndarray:
  """Every state, ``[prod(C_f), sum(C_f)]``, in row-major order of the factors' labels
  (the order ``expected_value`` contracts a table in)."""
  labels = np.indices(tuple(state_factors)).reshape(len(state_factors), -1).T
  return np.concatenate([np.eye(c, dtype=np.float32)[labels[:, f]]
                         for f, c in enumerate(state_factors)], axis=-1)


def _joint_probs(probs: Sequence[tf.Tensor]) -> tf.Tensor:
  """``[M, prod(C_f)]``: the product distribution of ``[M, C_f]`` factors, row-major."""
  out = probs[0]
  for p in probs[1:]:
    out = tf.reshape(out[:, :, None] * p[:, None, :], [-1, out.shape[-1] * p.shape[-1]])
  return out


def expected_value(factor_probs: Sequence[tf.Tensor], value_table: tf.Tensor) -> tf.Tensor:
  """E[V] under a factorised distribution.

  factor_probs: F tensors ``[..., C_f]`` (same leading shape); value_table:
  ``[prod(C_f), N]`` in ``all_states`` order. Returns ``[..., N]``. The factors are
  split in two groups of about sqrt(prod(C_f)) joint labels each: one matmul of the
  first group's joint distribution with the table, then a weighted sum over the
  second's. The cost is prod(C_f) * N per sample either way, but the intermediate is
  sqrt(prod(C_f)) * N per sample instead of prod(C_f) / C_0 * N (2-player Coins: 162
  floats, not 1,458), and the matmul's inner dimension 81 instead of 9: about 2x
  faster per acting step at batch 2048 (results/paper/README.md).
  """
  lead = tf.shape(factor_probs[0])[:-1]
  probs = [tf.reshape(p, [-1, p.shape[-1]]) for p in factor_probs]           # [M, C_f]
  sizes = [p.shape[-1] for p in probs]
  total, split = math.prod(sizes), 1
  while split < len(sizes) and math.prod(sizes[:split]) ** 2 < total:
    split += 1
  left, right = math.prod(sizes[:split]), math.prod(sizes[split:])
  n = value_table.shape[-1]
  x = tf.matmul(_joint_probs(probs[:split]),
                tf.reshape(value_table, [left, right * n]))                  # [M, right * N]
  if split < len(sizes):
    x = tf.einsum("mrn,mr->mn", tf.reshape(x, [-1, right, n]), _joint_probs(probs[split:]))
  return tf.reshape(x, tf.concat([lead, [n]], 0))


class TransitionValueModel(snt.Module):
  """Next-state classifiers (joint + one counterfactual per player) and a critic V(s).

  The classifiers are one StackedMLP of N+1 members sharing the estimators' input
  layout (state, time left, masked one-hot joint action); member 1+j cannot read
  player j's action. Each outputs sum(C_f) logits, a softmax per factor.
  """

  def __init__(self, num_players: int, dense_size: int, action_size: int,
               action_masks: np.ndarray, state_factors: Sequence[int],
               hidden_sizes: Sequence[int], name: Optional[str] = None):
    super().__init__(name=name)
    self.state_factors = [int(c) for c in state_factors]
    self.classifiers = stacked.StackedMLP(num_players + 1, dense_size, action_size,
                                          action_masks, hidden_sizes, sum(self.state_factors),
                                          name="next_state_classifiers")
    self.critic = snt.nets.MLP(list(hidden_sizes) + [num_players], name="state_value")
    self._all_states = None
    num_states = int(np.prod(self.state_factors, dtype=np.int64))
    # V over every state, refreshed after each refit (refresh_value_table).
    self.value_table = tf.Variable(tf.zeros([num_states, num_players]), trainable=False,
                                   name="value_table")
    self.critic(tf.zeros([1, sum(self.state_factors)]))  # Create the critic's variables.

  def log_probs(self, dense: tf.Tensor, actions: tf.Tensor) -> Sequence[tf.Tensor]:
    """F tensors ``[N+1, B, C_f]`` of log p_f(s'_f | s, a) (member 0 joint, 1+j cf)."""
    logits = self.classifiers(dense, actions)                             # [N+1, B, sum C]
    return [tf.nn.log_softmax(x) for x in tf.split(logits, self.state_factors, axis=-1)]

  def expected_next_values(self, dense: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """``[N+1, B, N]``: sum_s' p(s'|.) V(s') for every member (the tabulated V)."""
    probs = [tf.exp(x) for x in self.log_probs(dense, actions)]
    return expected_value(probs, self.value_table)

  def loss(self, dense: tf.Tensor, actions: tf.Tensor, next_state: tf.Tensor,
           next_return: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
    """Cross-entropy of every classifier on the observed next state, plus the critic's
    squared error on G_{t+1} at that next state. ``next_state`` is itself the
    concatenated one-hots, so it selects each factor's log-probability. Rows with
    weight 0 (the last step of an episode: no next state) do not count."""
    log_probs = tf.concat(self.log_probs(dense, actions), axis=-1)          # [N+1, B, sum C]
    nll = -tf.einsum("mbk,bk->b", log_probs, next_state)                   # Sum over members.
    value_error = tf.reduce_sum(tf.square(self.critic(next_state) - next_return), axis=-1)
    total = tf.reduce_sum(weight) + 1e-8
    return tf.reduce_sum((nll + value_error) * weight) / total

  def refresh_value_table(self, chunk: int = 65536) -> None:
    """Tabulates the critic over every state (after each refit)."""
    if self._all_states is None:
      self._all_states = all_states(self.state_factors)
    parts = [self.critic(tf.constant(self._all_states[k:k + chunk]))
             for k in range(0, len(self._all_states), chunk)]
    self.value_table.assign(tf.concat(parts, axis=0))
