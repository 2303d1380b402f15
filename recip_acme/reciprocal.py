"""Reciprocal rewards from values of influence: the math of Reciprocators, as pure TF.

Specification: ALGORITHM.md sections 2-3 (shared docs). With ``voi[t, j, i]`` the
influence of player j's action at step t on player i's return, Reciprocator i keeps,
for each opponent j, a decayed *influence balance*

    B[t, i, j] = lambda * B[t-1, i, j] + increment[t, i, j]

and at step t is rewarded with a function of the *lagged* balance ``X[t] = B[t-1]``
(which i could observe before acting) and of its own influence on j, averaged over
the N-1 opponents. The variants differ in the increment and in that function; each
has a descriptive name, and the names of the authors' published code are aliases.

Everything here is a pure function of tensors: usable eagerly, inside
``tf.function``, and on NumPy input. Leading batch dimensions between T and the two
player axes are allowed: ``voi`` may be ``[T, N, N]`` or ``[T, B..., N, N]``.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

import numpy as np
import tensorflow as tf

# Sequences longer than this are processed in chunks that carry the state; the result
# is identical (tests pin it) and memory stays O(block^2).
_MAX_BLOCK = 1024


@dataclasses.dataclass(frozen=True)
class Variant:
  """How one variant turns influences into a balance and a reward.

  Attributes:
    name: descriptive name used in configs and logs.
    published_name: the name in the authors' code (accepted as an alias); None for a
      project extension, which the authors' code does not have.
    increment: "received" (VoI[t,j,i]: what j did to me), "net" (received minus
      given, VoI[t,j,i] - VoI[t,i,j]) or "received_minus_debit" (two accumulators:
      G gets VoI[t,j,i], the debit D gets VoI[t,i,j] + VoI[t,j,j]; X = G - D).
    reward: "product" (X * given), "sign_of_balance" (sign(X) * given),
      "sign_of_influence" (X * sign(given)), "positive_balance" (max(X, 0) * given)
      "owed_harm" (max(X, 0) * min(given, 0)) or "centered_owed_harm"
      (max(X, 0) * (min(given, 0) - expected_harm)), with given = VoI[t,i,j] and
      expected_harm = E_{a_i ~ pi_i}[min(VoI[t,i,j](a_i), 0)] (see `expected_harm`).
    fixed_decay: if set, the decay this variant always uses (ignores the argument).
    description: one line for --help and the README.
  """
  name: str
  published_name: Optional[str]
  increment: str
  reward: str
  fixed_decay: Optional[float] = None
  description: str = ""

  @property
  def needs_expected_harm(self) -> bool:
    """Whether the reward needs `expected_harm`: i's harm to j averaged over the
    actions i could have taken (the marginal estimator gives it; networks.py)."""
    return self.reward == "centered_owed_harm"


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("balance", "petty_payoff", "net", "product",
            description="balance of influence received minus given, times influence given (default)"),
    Variant("signed_balance", "signed_petty_payoff", "net", "sign_of_balance",
            description="sign of the net balance, times influence given"),
    Variant("balance_signed_influence", "signed_grudge_petty_payoff", "net",
            "sign_of_influence", description="net balance times the sign of influence given"),
    Variant("received", "petty", "received", "product",
            description="balance of influence received only, times influence given"),
    Variant("signed_received", "signed_grudge", "received", "sign_of_balance",
            description="sign of influence received, times influence given"),
    Variant("received_minus_debit", "grudge_minus_debit", "received_minus_debit",
            "product", description="(received - debit) times influence given; "
            "debit = given + opponent's influence on itself"),
    Variant("signed_received_minus_debit", "signed_grudge_minus_debit",
            "received_minus_debit", "sign_of_balance",
            description="sign of (received - debit) times influence given"),
    # Project extension (README, "Reciprocators on Melting Pot"): in symmetric self-play
    # on coins the "balance" reward paid for taking the partner's coin after the partner
    # took one (results/coins_reciprocator_vs_independent_2M_s1). Clipping X at 0 keeps
    # the reward for repaying influence and the penalty for harming a partner one owes,
    # and drops the reward for harming a partner who harmed first.
    Variant("forgiving_balance", None, "net", "positive_balance",
            description="net balance clipped at 0 (no pay for retaliation), times "
            "influence given; a project extension"),
    # Project extension (README): with `forgiving_balance` a step where i could have
    # harmed j and did not is a positive influence against the policy-marginal
    # counterfactual, and it is paid; at w >= 2 that made "stay away from coins" the
    # shaped optimum (results/coins_forgiving_balance_2M_s1). Keeping only the negative
    # part of the influence given charges harm to a partner one owes and pays nothing.
    Variant("owed_harm_penalty", None, "net", "owed_harm",
            description="net balance clipped at 0, times the harm given (influence "
            "clipped at 0): harming a partner one owes costs, nothing is paid; a "
            "project extension"),
    # Project extension (README): the negative part of a VoI that is zero-mean over
    # i's own actions is not zero-mean itself, so `owed_harm_penalty` charged i for
    # being where it could harm j at all (near coins and near j), and it learned to
    # collect below random play (results/coins_owed_harm_penalty_2M_s1). Subtracting
    # the harm i's own policy would do on average in the same state makes the reward
    # zero-mean over i's actions again: it ranks i's actions in a state (harm less than
    # usual: paid; more: charged) without making any state cheaper to be in.
    Variant("centered_owed_harm", None, "net", "centered_owed_harm",
            description="net balance clipped at 0, times (harm given minus the harm "
            "i's own policy gives on average in that state): zero-mean over i's "
            "actions; needs counterfactual='marginal'; a project extension"),
    Variant("lagged_product", "lagged_product", "received", "product", fixed_decay=0.0,
            description="IPD-Rollout: previous step's influence received times "
            "influence given, no accumulation"),
]}
ALIASES: dict[str, str] = {v.published_name: v.name for v in VARIANTS.values()
                           if v.published_name is not None}
DEFAULT_VARIANT = "balance"


def variant_names() -> list[str]:
  """Every accepted name: descriptive names first, then the published aliases."""
  return list(VARIANTS) + sorted(set(ALIASES) - set(VARIANTS))


def get_variant(name: str) -> Variant:
  """Resolves a descriptive or published name; unknown names list the valid ones."""
  if name in VARIANTS:
    return VARIANTS[name]
  if name in ALIASES:
    return VARIANTS[ALIASES[name]]
  raise ValueError(f"unknown reciprocal reward variant {name!r}; valid: "
                   f"{', '.join(variant_names())}")


class ReciprocalState(NamedTuple):
  """What carries over between chunks of one episode, each ``[B..., N, N]``.

  ``balance[..., i, j]`` is i's balance towards j (for the debit variants, the
  "received" accumulator G); ``debit`` is used by the debit variants only.
  """
  balance: tf.Tensor
  debit: tf.Tensor


class ReciprocalTerms(NamedTuple):
  """Everything the reward is made of, for logging.

  rewards: ``[T, B..., N]`` opponent-averaged reciprocal reward, before the weight w.
  pair_rewards: ``[T, B..., N, N]`` reward of i for opponent j (0 on the diagonal).
  lagged_balance: ``[T, B..., N, N]`` the balance X used at each step (B[t-1]).
  final_state: the state after the last step, to pass to the next chunk.
  """
  rewards: tf.Tensor
  pair_rewards: tf.Tensor
  lagged_balance: tf.Tensor
  final_state: ReciprocalState


def initial_state(batch_shape, num_players: int, dtype=tf.float32) -> ReciprocalState:
  """All-zero balances: the start of an episode (or of training, with decay 1)."""
  shape = list(batch_shape) + [num_players, num_players]
  return ReciprocalState(tf.zeros(shape, dtype), tf.zeros(shape, dtype))


def _check_shapes(voi: tf.Tensor, state: Optional[ReciprocalState]) -> None:
  shape = voi.shape
  if shape.rank is None or shape.rank < 3:
    raise ValueError(f"voi must be [T, (B...,) N, N]; got shape {shape}")
  n_from, n_to = shape[-2], shape[-1]
  if n_from is not None and n_to is not None and n_from != n_to:
    raise ValueError(f"voi's last two axes must both be the number of players; "
                     f"got shape {shape}")
  if n_from is not None and n_from < 2:
    raise ValueError(f"reciprocal rewards need at least 2 players; got voi shape {shape}")
  if state is not None:
    for name, value in zip(ReciprocalState._fields, state):
      if not tf.TensorShape(value.shape).is_compatible_with(shape[1:]):
        raise ValueError(f"initial_state.{name} must have shape {shape[1:]} "
                         f"(voi shape {shape} without T); got {value.shape}")


def _decayed_cumsum(increments: tf.Tensor, start: tf.Tensor,
                    decay: tf.Tensor) -> tf.Tensor:
  """B[t] = decay * B[t-1] + inc[t] with B[-1] = start, for all t at once.

  Closed form B[t] = decay^(t+1) * start + sum_{s<=t} decay^(t-s) * inc[s], as one
  [T, T] lower-triangular matrix product: no Python loop, dynamic T, only powers of
  decay <= 1 (no overflow). 0^0 is 1, so decay 0 keeps only the current increment.
  """
  num_steps = tf.shape(increments)[0]
  steps = tf.range(num_steps)
  lags = tf.cast(steps[:, None] - steps[None, :], increments.dtype)
  weights = tf.where(lags >= 0, tf.pow(decay, tf.maximum(lags, 0.)), tf.zeros_like(lags))
  flat = tf.reshape(increments, [num_steps, -1])
  summed = tf.reshape(tf.matmul(weights, flat), tf.shape(increments))
  start_weights = tf.pow(decay, tf.cast(steps + 1, increments.dtype))
  start_weights = tf.reshape(start_weights, [-1] + [1] * (increments.shape.rank - 1))
  return summed + start_weights * start[None]


def _lag(history: tf.Tensor, start: tf.Tensor) -> tf.Tensor:
  """X[t] = B[t-1], with X[0] = start."""
  return tf.concat([start[None], history[:-1]], axis=0)


def _increments(voi: tf.Tensor, variant: Variant):
  """(given, balance increment, debit increment or None) for voi [..., N, N]."""
  rank = voi.shape.rank
  perm = list(range(rank - 2)) + [rank - 1, rank - 2]
  given = voi                            # given[..., i, j] = VoI[t, i, j]: i on j.
  received = tf.transpose(voi, perm)     # received[..., i, j] = VoI[t, j, i]: j on i.
  if variant.increment == "net":
    return given, received - given, None
  if variant.increment == "received":
    return given, received, None
  if variant.increment == "received_minus_debit":
    self_influence = tf.linalg.diag_part(voi)           # [..., N]: VoI[t, j, j].
    return given, received, given + self_influence[..., None, :]
  raise ValueError(variant.increment)  # pragma: no cover - VARIANTS is closed.


def _effective_balance(state: ReciprocalState, variant: Variant) -> tf.Tensor:
  """X, the quantity a step's reward multiplies: the balance, minus the debit for the
  debit variants (the only ones that accumulate one)."""
  if variant.increment == "received_minus_debit":
    return state.balance - state.debit
  return state.balance


def _averaged_rewards(lagged: tf.Tensor, given: tf.Tensor, variant: Variant,
                      expected_harm: Optional[tf.Tensor] = None):
  """(opponent-averaged rewards [..., N], pair rewards [..., N, N])."""
  if variant.reward == "product":
    pair = lagged * given
  elif variant.reward == "sign_of_balance":
    pair = tf.sign(lagged) * given
  elif variant.reward == "sign_of_influence":
    pair = lagged * tf.sign(given)
  elif variant.reward == "positive_balance":
    pair = tf.nn.relu(lagged) * given
  elif variant.reward == "owed_harm":
    pair = tf.nn.relu(lagged) * tf.minimum(given, 0.)
  elif variant.reward == "centered_owed_harm":
    pair = tf.nn.relu(lagged) * (tf.minimum(given, 0.) - expected_harm)
  else:  # pragma: no cover
    raise ValueError(variant.reward)
  num_players = tf.shape(given)[-1]
  pair = pair * (1. - tf.eye(num_players, dtype=given.dtype))
  return tf.reduce_sum(pair, axis=-1) / tf.cast(num_players - 1, given.dtype), pair


def _terms_one_block(voi: tf.Tensor, variant: Variant, decay: tf.Tensor,
                     state: ReciprocalState,
                     expected_harm: Optional[tf.Tensor] = None,
                     generosity: float = 0.0) -> ReciprocalTerms:
  given, balance_increment, debit_increment = _increments(voi, variant)
  balance = _decayed_cumsum(balance_increment, state.balance, decay)
  lagged = _lag(balance, state.balance)
  final = ReciprocalState(balance[-1], state.debit)
  if debit_increment is not None:
    debit = _decayed_cumsum(debit_increment, state.debit, decay)
    lagged = lagged - _lag(debit, state.debit)
    final = ReciprocalState(balance[-1], debit[-1])
  rewards, pair = _averaged_rewards(lagged + generosity, given, variant, expected_harm)
  return ReciprocalTerms(rewards, pair, lagged, final)


def check_generosity(generosity: float) -> float:
  """The generosity as a float; a one-line error unless it is finite and >= 0."""
  if not (np.isfinite(generosity) and generosity >= 0.0):
    raise ValueError(f"generosity must be a finite number >= 0; got {generosity}")
  return float(generosity)


def _resolve(voi, variant: str, initial_state, expected_harm=None):
  """Shared argument handling: (variant spec, voi tensor, state, expected harm)."""
  spec = get_variant(variant)
  voi = tf.convert_to_tensor(voi)
  if not voi.dtype.is_floating:
    voi = tf.cast(voi, tf.float32)
  if initial_state is not None:
    initial_state = ReciprocalState(*(tf.cast(tf.convert_to_tensor(x), voi.dtype)
                                      for x in initial_state))
  if spec.needs_expected_harm:
    if expected_harm is None:
      raise ValueError(f"variant {spec.name!r} needs expected_harm (i's harm to j averaged "
                       "over i's policy), which the estimators give with "
                       "counterfactual='marginal'")
    expected_harm = tf.cast(tf.convert_to_tensor(expected_harm), voi.dtype)
    if not expected_harm.shape.is_compatible_with(voi.shape):
      raise ValueError(f"expected_harm must have voi's shape {voi.shape}; "
                       f"got {expected_harm.shape}")
  else:
    expected_harm = None   # Other variants do not read it.
  return spec, voi, initial_state, expected_harm


def _decay_value(spec: Variant, balance_decay: float) -> float:
  decay = spec.fixed_decay if spec.fixed_decay is not None else balance_decay
  if not 0.0 <= float(decay) <= 1.0:
    raise ValueError(f"balance_decay must be in [0, 1]; got {decay}")
  return decay


def reciprocal_step(voi_t, variant: str = DEFAULT_VARIANT, balance_decay: float = 0.99,
                    state: Optional[ReciprocalState] = None,
                    expected_harm=None, generosity: float = 0.0,
                    rewarded_voi_t=None) -> ReciprocalTerms:
  """One step of `reciprocal_terms` for online use: voi_t is ``[B..., N, N]``.

  ``rewarded_voi_t`` (voi_t's shape; None: voi_t itself): the influence the reward
  multiplies, VoI[t,i,j] of the reward functions, when it is measured against another
  counterfactual than the balance's (``ReciprocatorConfig.own_policy_counterfactual``);
  the balance, and so the state, always accumulate ``voi_t``.

  Equal to ``reciprocal_terms(voi_t[None], ...)`` without the time axis (a test pins
  it), but a handful of ops: the joint actor calls it at every environment step.
  """
  spec, voi_t, state, expected_harm = _resolve(voi_t, variant, state, expected_harm)
  _check_shapes(voi_t[None], state)
  decay = tf.constant(_decay_value(spec, balance_decay), voi_t.dtype)
  if state is None:
    zeros = tf.zeros_like(voi_t)
    state = ReciprocalState(zeros, zeros)
  given, balance_increment, debit_increment = _increments(voi_t, spec)
  if rewarded_voi_t is not None:
    given = tf.cast(tf.convert_to_tensor(rewarded_voi_t), voi_t.dtype)
    if not given.shape.is_compatible_with(voi_t.shape):
      raise ValueError(f"rewarded_voi_t must have voi_t's shape {voi_t.shape}; "
                       f"got {given.shape}")
  lagged = _effective_balance(state, spec)
  final = ReciprocalState(decay * state.balance + balance_increment, state.debit)
  if debit_increment is not None:
    final = ReciprocalState(final.balance, decay * state.debit + debit_increment)
  rewards, pair = _averaged_rewards(lagged + check_generosity(generosity), given, spec,
                                    expected_harm)
  return ReciprocalTerms(rewards, pair, lagged, final)


def balance_observation(state: ReciprocalState, variant: str = DEFAULT_VARIANT) -> tf.Tensor:
  """Each player's balance X towards each opponent, ``[B..., N, N-1]``.

  X is what the next step's reward multiplies (``ReciprocalTerms.lagged_balance``:
  the balance, minus the debit for the debit variants); row i lists i's balances
  towards the other players in index order, its own (always unused) entry dropped.
  The input of a balance-aware critic (``ReciprocatorConfig.value_sees_balance``).
  """
  state = ReciprocalState(*(tf.convert_to_tensor(x) for x in state))
  balance = _effective_balance(state, get_variant(variant))
  n = balance.shape[-1]
  rows = [tf.gather(balance[..., i, :], [j for j in range(n) if j != i], axis=-1)
          for i in range(n)]
  return tf.stack(rows, axis=-2)


def reciprocal_terms(voi, variant: str = DEFAULT_VARIANT, balance_decay: float = 0.99,
                     initial_state: Optional[ReciprocalState] = None,
                     expected_harm=None, generosity: float = 0.0) -> ReciprocalTerms:
  """Reciprocal rewards with every intermediate term (see ReciprocalTerms).

  ``expected_harm`` (voi's shape; only variants with ``needs_expected_harm`` read it):
  ``expected_harm[t, ..., i, j]`` = E_{a_i ~ pi_i}[min(VoI of i's action a_i on j, 0)].

  ``generosity`` (project extension, README; 0 is ALGORITHM.md): a constant g >= 0
  added to the balance the reward reads, X + g, not to the balance itself
  (``lagged_balance`` and the state are unchanged). With the product reward, harm to
  a partner is charged until the partner's net harm exceeds g (in VoI units), and only
  beyond that is it paid as retaliation: generous tit-for-tat's forgiveness of a
  little harm, which on a noisy game keeps two reciprocators from answering each
  other's accidents.
  """
  generosity = check_generosity(generosity)
  spec, voi, initial_state, expected_harm = _resolve(voi, variant, initial_state,
                                                     expected_harm)
  _check_shapes(voi, initial_state)
  decay = tf.constant(_decay_value(spec, balance_decay), voi.dtype)
  state = initial_state
  if state is None:
    zeros = tf.zeros_like(voi[0])
    state = ReciprocalState(zeros, zeros)

  num_steps = voi.shape[0]
  if num_steps is None or num_steps <= _MAX_BLOCK:
    return _terms_one_block(voi, spec, decay, state, expected_harm, generosity)
  blocks = []
  for start in range(0, num_steps, _MAX_BLOCK):
    block = _terms_one_block(voi[start:start + _MAX_BLOCK], spec, decay, state,
                             None if expected_harm is None
                             else expected_harm[start:start + _MAX_BLOCK], generosity)
    state = block.final_state
    blocks.append(block)
  return ReciprocalTerms(*(tf.concat([getattr(b, f) for b in blocks], 0)
                           for f in ReciprocalTerms._fields[:3]), state)


def reciprocal_rewards(voi, variant: str = DEFAULT_VARIANT, balance_decay: float = 0.99,
                       initial_state: Optional[ReciprocalState] = None,
                       expected_harm=None,
                       generosity: float = 0.0) -> tuple[tf.Tensor, ReciprocalState]:
  """Opponent-averaged reciprocal reward of every player at every step.

  Args:
    voi: ``[T, (B...,) N, N]``, ``voi[t, j, i]`` = influence of j's action at t on i.
    variant: a name from ``variant_names()`` (descriptive or published).
    balance_decay: lambda of ALGORITHM.md (paper: 1.0; published Coins code: gamma).
      Ignored by ``lagged_product``, which never accumulates.
    initial_state: balances carried from a previous chunk of the same episode;
      ``None`` is a fresh episode (all zero).
    expected_harm: for variants with ``needs_expected_harm`` (see reciprocal_terms).
    generosity: added to the balance the reward reads (see reciprocal_terms).

  Returns:
    ``rewards [T, (B...,) N]`` before the weight w, and the state after step T-1.
    Splitting an episode into chunks and passing the state gives identical rewards.
  """
  terms = reciprocal_terms(voi, variant, balance_decay, initial_state, expected_harm,
                           generosity)
  return terms.rewards, terms.final_state


def normalize(rewards: tf.Tensor, epsilon: float = 1e-7) -> tf.Tensor:
  """Zero-mean, unit-variance over the whole batch (the published code's option)."""
  mean, variance = tf.nn.moments(rewards, axes=list(range(rewards.shape.rank)))
  return (rewards - mean) / (tf.sqrt(variance) + epsilon)


def linear_weight(step, start: float, end: float, ramp_steps: int):
  """w growing linearly from `start` to `end` over `ramp_steps` (then held at `end`)."""
  if ramp_steps <= 0:
    return end
  fraction = np.clip(float(step) / ramp_steps, 0.0, 1.0)
  return start + fraction * (end - start)


class ExtrinsicScale:
  """Running factor std(r_ext) / mean|r_rec| that puts r_rec on the game's scale.

  Why: on long pixel episodes the raw reciprocal reward (a balance times a VoI) can be
  orders of magnitude larger than the game's reward, so the learner follows the
  estimators, not the game. With the factor, the mean size of w * r_rec per step is w
  times the game's reward standard deviation per step, over the last `horizon` joint
  steps. The first absolute moment of r_rec is used, not its rms: r_rec is spiky on
  sparse substrates (it is large only near interactions), and there an rms match left
  its typical size 10-300x below the game's (PD in the matrix, clean_up; README).
  Both statistics are exponential averages over about `horizon` joint steps (with a
  1/count start so the first steps are not biased towards 0), over every player and
  environment. They live in one variable so that a checkpoint holds them; between
  checkpoints the actor works on a NumPy copy (`commit` writes it into the variable,
  `reload` drops it after a restore): one eager variable read and write per joint step
  was ~12 % of a single-process coins run (py-spy, 2026-12-06). Before any
  reciprocal reward was seen, and while the game has paid nothing, the factor is 0.
  `statistic="rms"` matches rms(r_rec) instead (reciprocal_scale="extrinsic_rms"): it
  keeps r_rec's rare large values near the game's, where the first-moment match makes
  them 10-25x the game's largest reward on coins (results/voi_check).
  """

  STATISTICS = ("mean_abs", "rms")

  def __init__(self, horizon: int, epsilon: float = 1e-12, statistic: str = "mean_abs"):
    if statistic not in self.STATISTICS:
      raise ValueError(f"statistic must be one of {', '.join(self.STATISTICS)}; "
                       f"got {statistic!r}")
    self._horizon = float(horizon)
    self._epsilon = epsilon
    self._rms = statistic == "rms"
    # count, mean(r_ext), mean(r_ext^2), mean(|r_rec|) (or mean(r_rec^2) for "rms")
    self.state = tf.Variable(np.zeros(4, np.float64), trainable=False,
                             name="reciprocal_scale_statistics")
    self._values: Optional[np.ndarray] = None   # The working copy; None: read `state`.

  def _current(self) -> np.ndarray:
    if self._values is None:
      self._values = self.state.numpy().copy()
    return self._values

  def commit(self) -> None:
    """Writes the working copy into `state` (before a checkpoint is saved)."""
    if self._values is not None:
      self.state.assign(self._values)

  def reload(self) -> None:
    """Drops the working copy, so the next use reads `state` (after a restore)."""
    self._values = None

  def factor(self) -> float:
    count, mean, square, rec_size = self._current()
    if count == 0 or rec_size <= 0:
      return 0.0
    if self._rms:
      rec_size = np.sqrt(rec_size)
    return float(np.sqrt(max(square - mean ** 2, 0.0)) / (rec_size + self._epsilon))

  def update(self, extrinsic: np.ndarray, reciprocal_reward: np.ndarray) -> None:
    count, mean, square, rec_size = self._current()
    count += 1
    alpha = max(1.0 / self._horizon, 1.0 / count)
    extrinsic = np.asarray(extrinsic, np.float64)
    reciprocal_reward = np.asarray(reciprocal_reward, np.float64)
    mean += alpha * (extrinsic.mean() - mean)
    square += alpha * (np.square(extrinsic).mean() - square)
    size = np.square(reciprocal_reward) if self._rms else np.abs(reciprocal_reward)
    rec_size += alpha * (size.mean() - rec_size)
    self._values = np.array([count, mean, square, rec_size], np.float64)
