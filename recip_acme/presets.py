"""Per-substrate settings, with a generic fallback for every Melting Pot substrate.

A preset fixes what depends on the substrate (observation sizes, network sizes,
unroll length, discount, reciprocal weight, whether players share a policy); flags
of launch/train.py override any of it. Values are sized for a 2-core CPU machine.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional

from recip_acme import networks as networks_lib
from recip_acme import reciprocal as reciprocal_lib
from substrates import assets
from substrates import melting_pot


@dataclasses.dataclass(frozen=True)
class Preset:
  adapter: melting_pot.AdapterConfig = melting_pot.AdapterConfig()
  network: networks_lib.NetworkConfig = networks_lib.NetworkConfig()
  unroll_length: int = 20
  gamma: float = 0.99
  reciprocal_weight: float = 1.0
  share_policy: bool = False
  num_envs: int = 2
  influence_hidden_sizes: tuple = (64, 64)
  # IMPALA's value-loss weight (Acme's default 0.5). Policy and value share the torso;
  # where a preset lowers it, README "Base learner on Melting Pot" has the evidence.
  baseline_cost: float = 0.5
  # Melting Pot defaults for the reciprocal reward's scale (README, "Reciprocators on
  # Melting Pot"): counterfactuals that share the joint estimator's errors, and r_rec
  # rescaled to the game's reward scale.
  counterfactual: str = "marginal"
  reciprocal_scale: str = "extrinsic"
  # The reciprocal reward itself (ALGORITHM.md's by default): its variant, whether VoI
  # has its future term, and a ramp of w from `reciprocal_weight_start` over the first
  # `reciprocal_weight_ramp_steps` env steps (None: no ramp). A substrate's preset may
  # choose these because what works depends on its reward density and episode length.
  variant: str = reciprocal_lib.DEFAULT_VARIANT
  future_term: bool = True
  reciprocal_weight_start: Optional[float] = None
  reciprocal_weight_ramp_steps: int = 0


_MATRIX = Preset(adapter=melting_pot.AdapterConfig(rgb_downsample=4, world_downsample=8),
                 network=networks_lib.NetworkConfig(conv_channels=(16,), mlp_sizes=(64,),
                                                    lstm_size=64))
_LARGE_POPULATION = Preset(share_policy=True, num_envs=1,
                           network=networks_lib.NetworkConfig(conv_channels=(16, 32),
                                                              mlp_sizes=(128,), lstm_size=128))

PRESETS: Dict[str, Preset] = {
    # Value-loss weight 0.01: the independent learner collected coins faster with it
    # (README, "Base learner on Melting Pot"). The estimators see the cells around each
    # avatar: on WORLD.RGB they cannot tell what an action does (melting_pot.py).
    # r_rec matched to the game by its rms: the mean-abs match made the rare
    # coin-taking steps' r_rec 10-20x the game's largest reward (README, "Reciprocators
    # on Melting Pot", and results/coins_reciprocator_vs_independent_1M/).
    # Max pooling of the players' RGB (and of the estimators' cells): with the mean a
    # blue and a red coin are at most 0.14 of full scale apart, and the prosocial control
    # learned colour in 1 of 3 seeds within 2M steps; with the max, in 3 of 3 within 1M
    # (results/coins_prosocial_max_pooling/).
    # VoI against a uniformly random partner, immediate only, w = 0.25: above the
    # independent pair in P(own) and collective return in 3 of 3 seeds at 1M steps, not
    # exploited as a focal player (results/coins_uniform_counterfactual_w025/); the
    # behaviour counterfactual with the future term, w = 1, was ahead in one seed and
    # behind in the other (README, "Reciprocators on Melting Pot"). The same setting at
    # w = 1 is on the game's scale (#12's 0.1-10) and as far ahead in self-play (4 of 5
    # seeds, the same mean margin), but exploited as a focal player in 3 of 5 seeds
    # (results/coins_uniform_counterfactual_w1_5seeds/).
    "coins": Preset(baseline_cost=0.01, reciprocal_scale="extrinsic_rms",
                    counterfactual="marginal_uniform", future_term=False,
                    reciprocal_weight=0.25,
                    adapter=melting_pot.AdapterConfig(estimator_view="local",
                                                      rgb_pooling="max")),
    "prisoners_dilemma_in_the_matrix__repeated": _MATRIX,
    "chicken_in_the_matrix__repeated": _MATRIX,
    "stag_hunt_in_the_matrix__repeated": _MATRIX,
    "clean_up": _LARGE_POPULATION,
    "commons_harvest__open": _LARGE_POPULATION,
}
GENERIC = Preset(share_policy=True, num_envs=1)


def get_preset(substrate: str) -> Preset:
  """The substrate's preset, the generic one for other substrates; unknown names fail."""
  assets.check_substrate(substrate)
  return PRESETS.get(substrate, GENERIC)
