"""Settings of acme's TF IMPALA learner as used by recip_acme (Acme's own defaults
where it has them)."""

import dataclasses
from typing import Optional


@dataclasses.dataclass
class ImpalaConfig:
  sequence_length: int = 20
  sequence_period: Optional[int] = None  # Default: sequence_length (no overlap).
  batch_size: int = 16
  max_queue_size: int = 10_000
  discount: float = 0.99
  learning_rate: float = 1e-3
  entropy_cost: float = 0.01
  baseline_cost: float = 0.5
  max_abs_reward: Optional[float] = None
  max_gradient_norm: Optional[float] = 40.0
