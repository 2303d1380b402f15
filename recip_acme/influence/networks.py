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

With ``future_estimator="transition"`` the N+1 return members are replaced by the
published Coins code's model of the next state (transition.py); the VoI formula and
everything downstream stay the same.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np
import sonnet as snt
import tensorflow as tf

from recip_acme.influence import config as config_lib
from recip_acme.influence import stacked
from recip_acme.influence import transition


class Predictions(NamedTuple):
  """Every estimator's output for a batch, each ``[B, N]`` (influenced player last).

  ``cf_reward[j]`` / ``cf_return[j]`` are the counterfactual estimates with player j
  left out, stacked as ``[N (left out j), B, N (influenced i)]``.

  With the marginal counterfactual, ``by_action[j]`` ``[2, A_j, B, N]`` holds the
  joint reward and return estimates with j's action replaced by each a_j (what the
  counterfactual averages), and ``policy`` ``[B, N, A]`` the weights it used; both
  are None otherwise. `expected_harm` reads them.
  """
  reward: tf.Tensor
  cf_reward: tf.Tensor
  next_return: tf.Tensor
  cf_next_return: tf.Tensor
  by_action: Optional[Tuple[tf.Tensor, ...]] = None
  policy: Optional[tf.Tensor] = None


class InfluenceEstimators(snt.Module):
  """The estimators of one run, shared by all its Reciprocators.

  Inputs: state features ``[B, F]`` (a global view; see the substrate adapters),
  the joint action ``[B, N]`` (ints, one-hot encoded here), and optionally the time
  left in the episode ``[B]`` (scaled to about [0, 1] by the caller).

  ``future_estimator`` picks how E[G_{t+1} | s, a] and its counterfactuals are
  estimated: ``"returns"`` (default, ALGORITHM.md section 1) regresses Monte-Carlo
  returns with N+1 more stacked members; ``"transition"`` is the published Coins
  code's model (next-state classifiers and a state-value critic, see transition.py)
  and needs a state made of one-hot factors of sizes ``state_factors``.
  """

  def __init__(self, num_players: int, num_actions: int | Sequence[int], state_size: int,
               hidden_sizes: Sequence[int] = (64, 64), use_time_left: bool = True,
               future_estimator: str = "returns",
               state_factors: Optional[Sequence[int]] = None,
               counterfactual: str = "regression",
               name: str = "influence_estimators"):
    super().__init__(name=name)
    if num_players < 2:
      raise ValueError(f"influence needs at least 2 players; got {num_players}")
    if isinstance(num_actions, int):
      num_actions = [num_actions] * num_players
    if len(num_actions) != num_players:
      raise ValueError(f"num_actions has {len(num_actions)} entries for {num_players} players")
    if future_estimator not in config_lib.FUTURE_ESTIMATORS:
      raise ValueError(f"unknown future_estimator {future_estimator!r}; "
                       f"allowed: {', '.join(config_lib.FUTURE_ESTIMATORS)}")
    if counterfactual not in config_lib.COUNTERFACTUALS:
      raise ValueError(f"unknown counterfactual {counterfactual!r}; "
                       f"allowed: {', '.join(config_lib.COUNTERFACTUALS)}")
    if counterfactual in config_lib.MARGINAL_COUNTERFACTUALS and future_estimator != "returns":
      raise ValueError(f"counterfactual={counterfactual!r} needs future_estimator='returns'")
    if future_estimator == "transition" and (
        not state_factors or sum(state_factors) != state_size):
      raise ValueError("future_estimator='transition' needs state_factors (the sizes of the "
                       f"one-hot factors the state is made of) summing to {state_size}; "
                       f"got {state_factors}")
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
    dense_size = state_size + (1 if use_time_left else 0)
    self.transition = None
    self.counterfactual = counterfactual
    self.marginal = counterfactual in config_lib.MARGINAL_COUNTERFACTUALS
    if self.marginal:
      # Two members, both joint: rewards, then returns. Counterfactuals are formed
      # from them by marginalising over j's behaviour (see __call__).
      self.action_masks = np.ones((2, action_size), np.float32)
    elif future_estimator == "returns":
      self.action_masks = np.concatenate([keep, keep], axis=0)  # Rewards, then returns.
    else:
      self.action_masks = keep                                  # Rewards only.
      self.transition = transition.TransitionValueModel(
          num_players, dense_size, action_size, keep, state_factors, hidden_sizes,
          name="transition_model")
    self.mlp = stacked.StackedMLP(len(self.action_masks), dense_size, action_size,
                                  self.action_masks, hidden_sizes, num_players,
                                  name="stacked_mlp")

  def encode_actions(self, joint_action: tf.Tensor) -> tf.Tensor:
    """[B, N] ints -> [B, sum(A_i)] concatenated one-hots."""
    joint_action = tf.cast(joint_action, tf.int32)
    return tf.concat([tf.one_hot(joint_action[:, i], a) for i, a in
                      enumerate(self.num_actions)], axis=-1)

  def _inputs(self, state: tf.Tensor, time_left: Optional[tf.Tensor]) -> tf.Tensor:
    """The dense input: state features, then the time left if used."""
    state = tf.cast(tf.reshape(state, [tf.shape(state)[0], self.state_size]), tf.float32)
    if not self.use_time_left:
      return state
    if time_left is None:
      raise ValueError("these estimators were built with use_time_left=True; pass time_left")
    return tf.concat([state, tf.cast(tf.reshape(time_left, [-1, 1]), tf.float32)], -1)

  @property
  def needs_policy(self) -> bool:
    """Whether __call__ needs the players' behaviour probabilities."""
    return self.counterfactual == "marginal"   # marginal_uniform makes its own.

  def uniform_policy(self, batch: tf.Tensor) -> tf.Tensor:
    """[B, N, A_max]: each player uniform over its own actions (zeros past them)."""
    width = max(self.num_actions)
    rows = np.zeros((self.num_players, width), np.float32)
    for i, num in enumerate(self.num_actions):
      rows[i, :num] = 1.0 / num
    return tf.tile(tf.constant(rows)[None], [batch, 1, 1])

  def _marginal(self, dense: tf.Tensor, actions: tf.Tensor, policy: tf.Tensor
                ) -> Predictions:
    """Joint estimates, and counterfactuals sum_{a_j} pi_j(a_j) Q(s, a_j, a^-j).

    policy: [B, N, A_max] behaviour probabilities (rows padded with zeros past a
    player's own action count).
    """
    joint = self.mlp(dense, actions)                                         # [2, B, N]
    batch = tf.shape(dense)[0]
    policy = tf.cast(policy, tf.float32)
    by_action = []
    for j, num in enumerate(self.num_actions):
      start, stop = int(self._offsets[j]), int(self._offsets[j + 1])
      block = np.zeros((1, actions.shape[-1]), np.float32)
      block[0, start:stop] = 1.0
      others = actions * (1.0 - block)                                       # j's one-hot removed
      choices = np.zeros((num, actions.shape[-1]), np.float32)
      choices[np.arange(num), start + np.arange(num)] = 1.0                  # Each a_j.
      variants = tf.reshape(others[None] + choices[:, None, :], [-1, actions.shape[-1]])
      tiled = tf.tile(dense, [num, 1])                                       # [A_j * B, Dd]
      out = tf.reshape(self.mlp(tiled, variants), [2, num, batch, self.num_players])
      by_action.append(out)
    cf = _averaged_over(by_action, policy)                                   # [2, N(j), B, N]
    return Predictions(reward=joint[0], cf_reward=cf[0], next_return=joint[1],
                       cf_next_return=cf[1], by_action=tuple(by_action), policy=policy)

  def __call__(self, state: tf.Tensor, joint_action: tf.Tensor,
               time_left: Optional[tf.Tensor] = None,
               policy: Optional[tf.Tensor] = None) -> Predictions:
    """Every estimate for a batch; `policy` [B, N, A] is needed when `needs_policy`."""
    dense = self._inputs(state, time_left)
    actions = self.encode_actions(joint_action)
    if self.counterfactual == "marginal_uniform":
      return self._marginal(dense, actions, self.uniform_policy(tf.shape(dense)[0]))
    if self.marginal:
      if policy is None:
        raise ValueError("counterfactual='marginal' needs the players' behaviour "
                         "probabilities (policy=[B, N, A])")
      return self._marginal(dense, actions, policy)
    out = self.mlp(dense, actions)                      # [2(N+1) or N+1, B, N]
    n = self.num_players
    if self.transition is None:
      next_return = out[n + 1:]
    else:
      next_return = self.transition.expected_next_values(dense, actions)  # [N+1, B, N]
    return Predictions(reward=out[0], cf_reward=out[1:n + 1],
                       next_return=next_return[0], cf_next_return=next_return[1:])

  def loss(self, batch) -> tf.Tensor:
    """The summed training loss of every estimator on a ``data.JointBatch``.

    Reward (and, for "returns", return) members: weighted squared error against r_t
    (and G_{t+1}). "transition": the model's classification and critic losses on the
    rows that have a next state.
    """
    dense = self._inputs(batch.state, batch.time_left)
    actions = self.encode_actions(batch.joint_action)
    out = self.mlp(dense, actions)
    weight = tf.cast(batch.weight, tf.float32)
    reward = tf.cast(batch.reward, tf.float32)
    next_return = tf.cast(batch.next_return, tf.float32)
    n = self.num_players
    if self.marginal:
      targets = tf.stack([reward, next_return])
    else:
      targets = tf.stack([reward] * (n + 1) + ([next_return] * (n + 1)
                                               if self.transition is None else []))
    error = tf.reduce_sum(tf.square(out - targets), axis=-1)               # [members, B]
    loss = tf.reduce_sum(tf.reduce_sum(error, axis=0) * weight) / (tf.reduce_sum(weight) + 1e-8)
    if self.transition is not None:
      if batch.next_state is None:
        raise ValueError("future_estimator='transition' trains on next states: build the "
                         "replay with EpisodeReplay(..., with_next_state=True)")
      next_weight = weight * tf.cast(batch.has_next_state, tf.float32)
      loss += self.transition.loss(dense, actions,
                                   tf.cast(batch.next_state, tf.float32), next_return,
                                   next_weight)
    return loss

  def after_fit(self) -> None:
    """Refreshes what is derived from the trainable variables, after each refit (the
    tabulated V is a variable itself, so a checkpoint restores it as it was)."""
    if self.transition is not None:
      self.transition.refresh_value_table()


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


def partner_reward_influence(predictions: Predictions) -> tf.Tensor:
  """[B, N(i)]: sum over j != i of j's immediate VoI on i, rhat_i - rhat_i^{-j}.

  What the other players' actions added to i's reward this step, as the estimators
  see it. With the marginal counterfactual each term has mean exactly 0 under j's
  behaviour policy (tests/test_marginal_counterfactual.py), so subtracting it from
  r_i (ReciprocatorConfig.subtract_partner_influence) removes variance i cannot
  control without moving the expected return of any of i's actions.
  """
  immediate = predictions.reward[None] - predictions.cf_reward           # [N(j), B, N(i)]
  num_players = immediate.shape[0]
  others = tf.constant(1.0 - np.eye(num_players), immediate.dtype)       # [j, i]: j != i.
  return tf.einsum("jbi,ji->bi", immediate, others)


def expected_harm(predictions: Predictions, gamma: float,
                  future_term: bool = True) -> tf.Tensor:
  """harm[b, j, i] = sum_{a_j} pi_j(a_j) min(VoI of a_j on i, 0), as ``[B, N(j), N(i)]``.

  The VoI of each action j could have taken, against the same counterfactual as
  `value_of_influence`: Q_i(s, a_j, a^-j) - sum_{a'} pi_j(a') Q_i(s, a', a^-j). Its
  policy-weighted mean is 0 by construction, but the mean of its negative part is
  not; that mean is what `centered_owed_harm` subtracts (reciprocal.py), so that the
  reward ranks j's actions in a state without making the state itself costly.
  Needs the marginal counterfactual, whose predictions carry every a_j's estimate.
  """
  if predictions.by_action is None or predictions.policy is None:
    raise ValueError("expected_harm needs the estimate of every action of each player: "
                     "build the estimators with counterfactual='marginal'")
  harms = []
  for j, out in enumerate(predictions.by_action):                      # [2, A_j, B, N]
    num = out.shape[1]
    voi = out[0] - predictions.cf_reward[j][None]                     # [A_j, B, N]
    if future_term:
      voi = voi + gamma * (out[1] - predictions.cf_next_return[j][None])
    weights = tf.transpose(predictions.policy[:, j, :num])             # [A_j, B]
    harms.append(tf.einsum("kb,kbi->bi", weights, tf.minimum(voi, 0.)))
  return tf.stack(harms, axis=1)                                       # [B, N(j), N(i)]


def _averaged_over(by_action: Sequence[tf.Tensor], policy: tf.Tensor) -> tf.Tensor:
  """[2, N(j), B, N]: each player j's per-action estimates by_action[j] ([2, A_j, B, N])
  averaged over policy[:, j] ([B, N, A_max], zeros past A_j): the marginal
  counterfactual's sum_{a_j} pi_j(a_j) Q(s, a_j, a^-j), for reward and return."""
  return tf.stack([tf.einsum("kb,mkbi->mbi", tf.transpose(policy[:, j, :out.shape[1]]), out)
                   for j, out in enumerate(by_action)], axis=1)


def against_policy(predictions: Predictions, policy: tf.Tensor) -> Predictions:
  """The same estimates with each counterfactual re-averaged over ``policy``:
  cf[j] = sum_{a_j} policy[:, j, a_j] Q(s, a_j, a^-j), ``policy`` ``[B, N, A_max]``.

  Why: the estimators' counterfactual says what a player's influence is measured
  against. `ReciprocatorConfig.own_policy_counterfactual` keeps that for the balance
  (what the partner did to me, against a uniformly random partner, counts a
  predictable harm in full) and measures the influence a player is paid or charged
  for against its own behaviour policy: the VoI of its action then has mean exactly 0
  under its policy in every state, so the reward ranks its actions without making any
  state dearer or cheaper to be in. Needs a marginal counterfactual, whose
  predictions carry every action's estimate (``by_action``); one einsum per player.
  """
  if predictions.by_action is None:
    raise ValueError("re-averaging the counterfactual needs the estimate of every action "
                     "of each player: build the estimators with a marginal counterfactual")
  policy = tf.cast(policy, predictions.reward.dtype)
  cf = _averaged_over(predictions.by_action, policy)                   # [2, N(j), B, N]
  return predictions._replace(cf_reward=cf[0], cf_next_return=cf[1], policy=policy)
