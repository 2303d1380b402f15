"""Settings of the value-of-influence estimators and of their refits."""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

# How the future term's E[G_{t+1} | s, a] and counterfactuals are estimated.
FUTURE_ESTIMATORS = ("returns", "transition")
# How the counterfactual (j left out) estimates are formed.
COUNTERFACTUALS = ("regression", "marginal", "marginal_uniform")
# Those formed from the joint estimator, averaged over j's actions.
MARGINAL_COUNTERFACTUALS = ("marginal", "marginal_uniform")


@dataclasses.dataclass
class InfluenceConfig:
  """Defaults follow the paper's Coins setting (Algorithm 1; ALGORITHM.md section 1).

  Attributes:
    hidden_sizes: hidden layers of each of the 2(N+1) estimators.
    learning_rate: Adam step size (paper: 0.01).
    final_learning_rate_fraction: the step size decays linearly within each refit
      to this fraction of `learning_rate`; 1.0 (default) keeps it constant as in the
      paper. Lower values give less noisy estimates for the same number of steps.
    batch_size: samples per gradient step (paper: 4096).
    epochs: passes per refit over `samples_per_epoch` samples (paper: 20).
    first_fit_epochs: epochs of the first fit, the one from scratch (None: `epochs`).
      Later refits start from the last fit's estimators and need fewer: at the
      paper's Coins batch a 2-epoch refit from scratch correlates 0.23 with a 5-epoch
      one, but from the 3rd refit on 0.91-0.95 against a 0.94-0.96 noise floor
      (results/paper/paper_scale/refit_epochs.csv).
    samples_per_epoch: samples drawn per epoch; capped at what the replay holds
      (published code: 16 batches of 4096).
    replay_episodes: K, how many most recent episodes the replay keeps (paper: 4).
    refit_every: k, refit after this many new episodes (paper: 1).
    initial_episodes: episodes collected before the first fit; policies are not
      updated before it.
    use_time_left: feed the time left in the episode (fixed-horizon games).
    future_term: add gamma * (vhat - vhat^-j); False keeps the immediate term only.
    future_estimator: how vhat and vhat^-j are estimated: "returns" regresses
      Monte-Carlo returns (ALGORITHM.md section 1); "transition" is the published
      Coins code's model, sum_s' p(s'|s,a) V(s') with next-state classifiers and a
      state-value critic, for states made of one-hot factors (paper games' Coins).
    counterfactual: how Q^{-j}(s, a^-j) is formed. "regression" (ALGORITHM.md section
      1) fits one more estimator per left-out player, blind to j's action;
      "marginal" (project extension, README) averages the joint estimator over j's
      behaviour probabilities, sum_{a_j} pi_j(a_j|s) Q(s, a_j, a^-j). One network
      serves both sides, so their errors cancel: VoI is exactly 0 where the joint
      estimator ignores j's action, and has mean exactly 0 under j's policy, so
      estimator error cannot drift an influence balance over a long episode.
      "marginal_uniform" (project extension, README) averages it over a uniformly
      random j instead: VoI is then j's influence relative to a j acting at random,
      so a harm j does with near certainty still counts in full (under "marginal" and
      "regression" a predictable harm is already in the counterfactual and its VoI
      tends to 0; measured on Coins R vs NL, #15).
    gamma: discount of the return targets and of the future term.
  """
  hidden_sizes: Sequence[int] = (64, 64)
  learning_rate: float = 0.01
  final_learning_rate_fraction: float = 1.0
  batch_size: int = 4096
  epochs: int = 20
  first_fit_epochs: Optional[int] = None
  samples_per_epoch: int = 16 * 4096
  replay_episodes: int = 4
  refit_every: int = 1
  initial_episodes: int = 1
  use_time_left: bool = True
  future_term: bool = True
  future_estimator: str = "returns"
  counterfactual: str = "regression"
  gamma: float = 0.99

  def __post_init__(self):
    for name in ("learning_rate", "batch_size", "epochs", "samples_per_epoch",
                 "replay_episodes", "refit_every", "initial_episodes"):
      if getattr(self, name) <= 0:
        raise ValueError(f"InfluenceConfig.{name} must be > 0; got {getattr(self, name)}")
    if self.first_fit_epochs is not None and self.first_fit_epochs <= 0:
      raise ValueError("InfluenceConfig.first_fit_epochs must be > 0 or None; got "
                       f"{self.first_fit_epochs}")
    if not 0.0 < self.final_learning_rate_fraction <= 1.0:
      raise ValueError("InfluenceConfig.final_learning_rate_fraction must be in (0, 1]; "
                       f"got {self.final_learning_rate_fraction}")
    if self.future_estimator not in FUTURE_ESTIMATORS:
      raise ValueError(f"InfluenceConfig.future_estimator must be one of "
                       f"{', '.join(FUTURE_ESTIMATORS)}; got {self.future_estimator!r}")
    if self.counterfactual not in COUNTERFACTUALS:
      raise ValueError(f"InfluenceConfig.counterfactual must be one of "
                       f"{', '.join(COUNTERFACTUALS)}; got {self.counterfactual!r}")
    if (self.counterfactual in MARGINAL_COUNTERFACTUALS
        and self.future_estimator != "returns"):
      raise ValueError(f"InfluenceConfig.counterfactual={self.counterfactual!r} needs "
                       f"future_estimator='returns'; got {self.future_estimator!r}")
    if not 0.0 <= self.gamma <= 1.0:
      raise ValueError(f"InfluenceConfig.gamma must be in [0, 1]; got {self.gamma}")
