"""Settings of the Reciprocator adapter (ALGORITHM.md sections 2-3 give the defaults)."""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from recip_acme import reciprocal as reciprocal_lib
from recip_acme.influence import config as influence_config


RECIPROCAL_SCALES = ("none", "extrinsic", "extrinsic_rms")


@dataclasses.dataclass
class ReciprocatorConfig:
  """What the adapter adds to the wrapped learner.

  Attributes:
    reciprocal: False gives the independent (naive) learner: the same stack with the
      adapter off, extrinsic rewards only, no influence estimators.
    collective_reward: the prosocial learner (Melting Pot 2.0's `*_prosocial`
      baselines): each player learns from the mean extrinsic reward of all players
      of its environment, through the same adapter (the actor writes
      mean_j r_j - r_i beside each step and the dataset adds it). Not with
      `reciprocal`. Why here: it is the reference for what a base learner can learn
      when the whole group's return is its objective, the behaviour a reciprocal
      reward is meant to induce from selfish ones.
    reciprocal_weight: w in r_total = r_ext + w * r_rec (its final value when
      `reciprocal_weight_start` is set).
    reciprocal_weight_start: if set, w grows linearly from this value to
      `reciprocal_weight` over `reciprocal_weight_ramp_steps` environment steps.
    reciprocal_weight_ramp_steps: length of that ramp.
    variant: reciprocal-reward variant (descriptive or published name).
    balance_decay: lambda; None means gamma, as in the published Coins code.
    generosity: project extension (README, "Reciprocators on Melting Pot"): a
      constant g >= 0 added to the balance the reward reads, X + g (the balance
      itself, and what a balance-aware network reads, are unchanged). Harm to a
      partner is charged until the partner's net harm exceeds g, and paid as
      retaliation only beyond it: generous tit-for-tat. Why: with g = 0 two
      reciprocators on a noisy game pay each other for answering accidents (on coins
      at w = 1 the takes of the partner's coin were paid on average), and a zero
      balance, where a fresh episode starts, neither charges nor pays. 0 is
      ALGORITHM.md.
    own_policy_counterfactual: project extension (README, "Reciprocators on Melting
      Pot"): the influence a Reciprocator is paid or charged for (VoI[t,i,j] in the
      reward) is measured against its own behaviour policy,
      Q_j(s, a) - sum_{a_i} pi_i(a_i|s) Q_j(s, a_i, a^-i), while the balance keeps
      `influence.counterfactual`'s VoI. Why: against a uniformly random counterfactual
      every action but a harmful one is a small positive influence wherever a harm is
      possible, so under a policy that rarely harms, a balance charges (negative) or
      pays (positive) for merely being near a partner's coins: in the partner pool the
      Reciprocators facing naive learners were charged on such steps and collected
      less and less. Against its own policy the rewarded VoI has mean exactly 0 in
      every state, so the reward ranks actions without making any place dearer or
      cheaper, while the balance still counts a partner's predictable harm in full
      (under the behaviour counterfactual it would tend to 0). Needs
      counterfactual='marginal_uniform' (with 'marginal' it is already so).
    reset_balance_each_episode: True as in the published code; False carries the
      balances across episodes (the paper's Eq. 5 with one initialisation).
    normalize_reciprocal_reward: standardise r_rec over each learner batch.
    reciprocal_scale: "none" keeps r_rec as ALGORITHM.md section 3 defines it;
      "extrinsic" (project extension, README) multiplies it by
      std(r_ext) / mean|r_rec|, both running over the last `reciprocal_scale_steps`
      joint steps, so that w * r_rec stays on the game's reward scale whatever the
      episode length, reward density and estimator magnitude (sign and relative size
      within that window are unchanged; the balances are not scaled).
      "extrinsic_rms" divides by rms(r_rec) instead: the same second moment as
      std(r_ext), so r_rec's rare large values stay near the game's (README).
    reciprocal_scale_steps: the horizon of those running statistics, in joint steps.
    subtract_partner_influence: project extension (README, "Reciprocators on Melting
      Pot"): each player's learner samples r_i - sum_{j != i} (rhat_i - rhat_i^{-j}),
      its reward minus the others' immediate VoI on it. Needs the marginal
      counterfactual, under which that sum has mean 0 given the state and i's action
      (the others act independently of i's action), so i's policy gradient keeps its
      expectation while the variance of what i cannot control (a partner taking its
      coin) leaves its reward. The game's rewards are still what runs record.
    value_sees_balance: project extension (README, "Reciprocators on Melting Pot"):
      the base learner's value head also reads the player's lagged balance towards
      each opponent; the policy does not (networks.BalanceAwareImpalaCore). The
      reward depends on that balance, so without it the critic misses the later
      cost of raising one's balance. Actor-critic base learners only; ignored by
      the independent learner, which has no balance.
    policy_sees_balance: project extension (README, "Reciprocators on Melting Pot"):
      the policy's recurrent core reads the lagged balance too (and the value head, as
      with value_sees_balance). r_rec[t] = B[t-1] x VoI[t] pays one action differently
      by a balance the pixels do not show; a policy that cannot see it retaliates at a
      steady rate instead of in answer to a take (measured on the paper's Coins:
      results/paper/diagnostics/coins_r_vs_nl_policy_sees_balance_w025). Exported
      players act as at a zero balance (networks.policy_inputs). IMPALA only.
    reciprocal_players: the players whose learners get the reciprocal reward; the
      others are naive (independent) learners beside them, learning from the game's
      reward alone (their r_rec is 0), as in the paper's R vs NL pairings. None: every
      player (self-play). Why: a Reciprocator meant to meet selfish strangers can be
      trained beside one, and whether it shapes a learning partner is the paper's
      central claim. The influence estimators still see every player.
    naive_partners: project extension (README, "Reciprocators on Melting Pot"): a
      partner pool. Beside the N Reciprocators (one per slot) the run trains N naive
      (independent) learners, one per slot, and environment copy e plays pairing
      e mod (N + 1): pairing 0 is Reciprocator self-play, pairing k >= 1 puts slot
      k-1's naive learner beside Reciprocators (`acting.naive_partner_seats`). Why:
      Melting Pot's focal evaluation meets selfish strangers, and a frozen policy
      trained only against generous partners cannot tell them apart; here each
      Reciprocator (N = 2) meets a Reciprocator in half of its copies and a selfish
      learner in the other half. num_envs must be a multiple of N + 1. The naive
      learners are training partners only: exports hold the Reciprocators. Episode
      rows say which pairing played (`pairing`).
    share_policy: one network (and learner) for all players instead of one each.
    num_envs: environments one actor steps together (batched inference).
    influence: the value-of-influence estimators and their refits.
  """
  reciprocal: bool = True
  collective_reward: bool = False
  reciprocal_weight: float = 1.0
  reciprocal_weight_start: Optional[float] = None
  reciprocal_weight_ramp_steps: int = 0
  variant: str = reciprocal_lib.DEFAULT_VARIANT
  balance_decay: Optional[float] = None
  generosity: float = 0.0
  own_policy_counterfactual: bool = False
  reset_balance_each_episode: bool = True
  normalize_reciprocal_reward: bool = False
  reciprocal_scale: str = "none"
  reciprocal_scale_steps: int = 10_000
  subtract_partner_influence: bool = False
  value_sees_balance: bool = False
  policy_sees_balance: bool = False
  reciprocal_players: Optional[Tuple[int, ...]] = None
  naive_partners: bool = False
  share_policy: bool = False
  num_envs: int = 1
  influence: influence_config.InfluenceConfig = dataclasses.field(
      default_factory=influence_config.InfluenceConfig)

  def __post_init__(self):
    variant = reciprocal_lib.get_variant(self.variant)  # Unknown names fail here.
    if variant.needs_expected_harm and self.influence.counterfactual != "marginal":
      raise ValueError(f"variant {variant.name!r} needs counterfactual='marginal' (the "
                       f"estimate of every action it averages over); got "
                       f"{self.influence.counterfactual!r}")
    if self.own_policy_counterfactual and self.influence.counterfactual != "marginal_uniform":
      raise ValueError(f"own_policy_counterfactual needs counterfactual='marginal_uniform' "
                       f"(with 'marginal' the influence is already measured against the "
                       f"behaviour policy; 'regression' has no per-action estimates); got "
                       f"{self.influence.counterfactual!r}")
    if self.subtract_partner_influence and not self.reciprocal:
      raise ValueError("subtract_partner_influence needs the influence estimators: "
                       "reciprocal=True (agent=reciprocator)")
    if self.subtract_partner_influence and self.influence.counterfactual != "marginal":
      raise ValueError(f"subtract_partner_influence needs counterfactual='marginal' (only "
                       f"then is the subtracted VoI zero-mean under the others' policy); "
                       f"got {self.influence.counterfactual!r}")
    if self.num_envs < 1:
      raise ValueError(f"num_envs must be >= 1; got {self.num_envs}")
    if self.reciprocal_scale not in RECIPROCAL_SCALES:
      raise ValueError(f"reciprocal_scale must be one of {', '.join(RECIPROCAL_SCALES)}; "
                       f"got {self.reciprocal_scale!r}")
    if self.reciprocal_scale_steps < 1:
      raise ValueError(f"reciprocal_scale_steps must be >= 1; got {self.reciprocal_scale_steps}")
    if self.balance_decay is not None and not 0.0 <= self.balance_decay <= 1.0:
      raise ValueError(f"balance_decay must be in [0, 1]; got {self.balance_decay}")
    self.generosity = reciprocal_lib.check_generosity(self.generosity)
    if self.reciprocal_players is not None:
      self._check_reciprocal_players()
    if self.naive_partners:
      self._check_naive_partners()
    if self.reciprocal and self.collective_reward:
      raise ValueError("collective_reward (the prosocial learner) and reciprocal exclude "
                       "each other: choose one agent")

  def _check_reciprocal_players(self) -> None:
    # Flag strings, a saved run's JSON list or a tuple: player indices, as a tuple.
    try:
      players = tuple(int(p) for p in self.reciprocal_players)
    except (TypeError, ValueError) as e:
      raise ValueError(f"reciprocal_players must be player indices, e.g. 0 or 0,2; got "
                       f"{list(self.reciprocal_players)}") from e
    self.reciprocal_players = players
    if not self.reciprocal:
      raise ValueError("reciprocal_players needs agent=reciprocator (the influence "
                       "estimators); the other agents have no reciprocal reward")
    if not players or len(set(players)) != len(players) or min(players) < 0:
      raise ValueError(f"reciprocal_players must be distinct player indices >= 0, at "
                       f"least one; got {list(players)}")
    if self.share_policy:
      raise ValueError("reciprocal_players needs one policy per player (share_policy=False): "
                       "a shared policy cannot learn from two rewards")
    self._refuse_reciprocator_inputs("reciprocal_players")

  def _check_naive_partners(self) -> None:
    if not self.reciprocal:
      raise ValueError("naive_partners needs agent=reciprocator: it trains naive learners "
                       "beside Reciprocators")
    if self.share_policy or self.reciprocal_players is not None:
      raise ValueError("naive_partners excludes share_policy and reciprocal_players: it "
                       "gives each slot its own Reciprocator and naive learner")
    self._refuse_reciprocator_inputs("naive_partners")

  def _refuse_reciprocator_inputs(self, setting: str) -> None:
    """`setting` trains naive learners beside Reciprocators: what only Reciprocators
    should read (balances, the partners' influence) would reach them too."""
    for name in ("subtract_partner_influence", "value_sees_balance", "policy_sees_balance"):
      if getattr(self, name):
        raise ValueError(f"{setting} and {name} exclude each other: the naive "
                         f"learners would get it too")

  @property
  def effective_balance_decay(self) -> float:
    return self.influence.gamma if self.balance_decay is None else self.balance_decay

  def weight_at(self, env_steps: int) -> float:
    if self.reciprocal_weight_start is None:
      return self.reciprocal_weight
    return reciprocal_lib.linear_weight(env_steps, self.reciprocal_weight_start,
                                    self.reciprocal_weight, self.reciprocal_weight_ramp_steps)
