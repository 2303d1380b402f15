"""Settings of acme's TF R2D2 learner as used by recip_acme (small, CPU-sized)."""

import dataclasses


@dataclasses.dataclass
class R2D2Config:
  burn_in_length: int = 4
  trace_length: int = 16
  replay_period: int = 8
  batch_size: int = 16
  discount: float = 0.99
  learning_rate: float = 1e-3
  target_update_period: int = 100
  importance_sampling_exponent: float = 0.2
  priority_exponent: float = 0.6
  epsilon: float = 0.05
  min_replay_size: int = 64
  max_replay_size: int = 10_000
  samples_per_insert: float = 4.0
  max_priority_weight: float = 0.9
