"""The environment loop: E substrate copies stepped by one joint actor, and an
observer that turns each finished episode into one row of episode metrics.

Per joint step: the actor selects actions, the copies are asked to step
(`substrates.stepping`), the actor's writes of the previous step run, and then the
step's outcome is collected. With the copies in a child process
(`--substrate_process`) the writes overlap the substrates' step; in this process the
order changes nothing but when the writes happen.

Shared by the single-process run and by every distributed actor, so an episode row
means the same thing whichever path produced it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import numpy as np

from recip_acme import guards
from recip_acme.experiments.config import ExperimentConfig
from substrates import metrics as metrics_lib
from substrates import stepping


class EpisodeObserver:
  """Per-environment running sums for the episode rows."""

  def __init__(self, substrate: str, num_players: int):
    self.substrate = substrate
    self.num_players = num_players
    self.reset()

  def reset(self):
    self.returns = np.zeros(self.num_players)
    self.squared_rewards = 0.0
    self.abs_rewards = 0.0
    self.reciprocal = np.zeros(self.num_players)
    self.abs_weighted_reciprocal = 0.0
    # Sums of r - partner influence and its square (subtract_partner_influence).
    self.controlled_rewards = 0.0
    self.squared_controlled_rewards = 0.0
    self.steps = 0
    self.tally = metrics_lib.make_tally(self.substrate, self.num_players)


# What the joint actor computes online, by the name a non-finite value is reported.
_ACTOR_QUANTITIES = (("voi", "value of influence"), ("reciprocal_reward", "reciprocal reward"),
                     ("lagged_balance", "influence balance"))


class ActingLoop:
  """Steps E substrate copies with one joint actor and summarises finished episodes.

  ``substrates`` steps the copies (stepping.LocalSubstrates or SubstrateWorker).
  ``policy_learning_enabled`` is asked at every episode start: before policy
  learning starts, the actor does not write episodes for the policy learners.
  ``episode_written`` is called when an episode's joint experience has been written,
  before that question is asked (actor processes count episodes with it).
  """

  def __init__(self, substrates: stepping.Substrates, actor, config: ExperimentConfig,
               reciprocal_weight: Callable[[], float],
               policy_learning_enabled: Callable[[], bool],
               episode_written: Optional[Callable[[], None]] = None):
    self._episode_written = episode_written
    self.substrates = substrates
    self.actor = actor
    self.actor.defer_writes = True
    self._reciprocal = config.agent == "reciprocator"
    self._weight = reciprocal_weight
    self._enabled = policy_learning_enabled
    self.actor.record_policy_data = self._enabled()
    self._timesteps = substrates.reset_all()
    self._stats = [EpisodeObserver(config.substrate, len(ts.rewards)) for ts in self._timesteps]
    # A partner pool's copies play different pairings; each row says which.
    self._pairings = getattr(actor, "pairings", None)
    for e, ts in enumerate(self._timesteps):
      self.actor.observe_first(e, ts)

  def step(self) -> List[Dict[str, Any]]:
    """One joint step in every copy; returns a row per episode that ended."""
    actor = self.actor
    actions = actor.select_actions(self._timesteps)
    self.substrates.step_async(actions)
    actor.flush_writes()   # The previous step's, while the copies step.
    outcomes = self.substrates.step_wait()
    next_timesteps = [timestep for timestep, _ in outcomes]
    rec = actor.last_reciprocal()
    for ts in next_timesteps:
      guards.check_finite(ts.rewards, "extrinsic reward", "environment")
    if rec is not None:
      for key, quantity in _ACTOR_QUANTITIES:
        guards.check_finite(rec[key], quantity, "joint actor")
    actor.observe(actions, next_timesteps)
    weight = float(self._weight()) if self._reciprocal else 0.0
    rows = []
    for e, ts in enumerate(next_timesteps):
      s = self._stats[e]
      s.returns += ts.rewards
      s.squared_rewards += float(np.square(ts.rewards).sum())
      s.abs_rewards += float(np.abs(ts.rewards).sum())
      s.steps += 1
      if rec is not None:
        s.reciprocal += rec["reciprocal_reward"][e]
        s.abs_weighted_reciprocal += weight * float(np.abs(rec["reciprocal_reward"][e]).sum())
        if "partner_influence" in rec:
          controlled = ts.rewards - rec["partner_influence"][e]
          s.controlled_rewards += float(controlled.sum())
          s.squared_controlled_rewards += float(np.square(controlled).sum())
      if s.tally is not None:
        s.tally.add(ts.rewards, ts.signals, None if rec is None else rec["voi"][e],
                    None if rec is None else weight * rec["reciprocal_reward"][e])
      if ts.last():
        actor.flush_writes()   # The episode's last step and its joint item.
        if self._episode_written is not None:
          self._episode_written()
        player_steps = max(s.steps, 1) * s.num_players
        mean_reward = float(s.returns.sum() / player_steps)
        row = {"env": e} if self._pairings is None else {"env": e, "pairing": self._pairings[e]}
        row.update({"length": s.steps, "mean_return": float(s.returns.mean()),
               "extrinsic_reward_per_step": mean_reward,
               "abs_extrinsic_reward": s.abs_rewards / player_steps,
               "extrinsic_reward_std": float(np.sqrt(max(
                   s.squared_rewards / player_steps - mean_reward ** 2, 0.0)))})
        row.update({f"return_p{i}": float(r) for i, r in enumerate(s.returns)})
        if self._reciprocal:
          row["mean_reciprocal_reward"] = float(s.reciprocal.mean() / max(s.steps, 1))
          row["abs_weighted_reciprocal_reward"] = s.abs_weighted_reciprocal / player_steps
          row["reciprocal_weight"] = weight
          if "partner_influence" in rec:
            # What the control variate leaves of the reward's spread (README): compare
            # with extrinsic_reward_std, the spread it replaces.
            mean_controlled = s.controlled_rewards / player_steps
            row["controlled_reward_std"] = float(np.sqrt(max(
                s.squared_controlled_rewards / player_steps - mean_controlled ** 2, 0.0)))
        if s.tally is not None:
          row.update(s.tally.summary())
        rows.append(row)
        s.reset()
        actor.record_policy_data = self._enabled()
        next_timesteps[e] = outcomes[e][1]   # The copy was reset at once.
        actor.observe_first(e, next_timesteps[e])
    self._timesteps = next_timesteps
    return rows


