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
  # Sample reuse (a project option; Acme's IMPALA agent uses a queue, every sequence
  # learned from once). 1.0 keeps that queue. Above 1 the table is a FIFO replay of the
  # newest `replay_size` sequences sampled uniformly, and the learner takes
  # `samples_per_insert` sequences per inserted one: V-trace corrects for the older
  # behaviour policies. Melting Pot budgets here are ~1M steps, too few for a
  # single-use queue (README, "Base learner on Melting Pot").
  samples_per_insert: float = 1.0
  replay_size: int = 1_000

  def __post_init__(self):
    if not self.samples_per_insert >= 1.0:
      raise ValueError(f"samples_per_insert must be >= 1 (1 = Acme's queue); "
                       f"got {self.samples_per_insert}")
    if self.replay_size < self.batch_size:
      raise ValueError(f"replay_size must be >= batch_size ({self.batch_size}); "
                       f"got {self.replay_size}")
