"""The influence learner: refits the VoI estimators from a replay of joint experience.

Paper, Algorithm 1: after an initial batch of episodes, and then every k episodes,
fit all 2(N+1) estimators for E epochs on the last K episodes. Between refits the
estimators are frozen, so the policies' learners may treat the VoI (and so the
reciprocal reward) as part of the environment's reward.
"""

from __future__ import annotations

import math
import time
from typing import List, Optional, Sequence

import acme
from acme.utils import counting
from acme.utils import loggers
import numpy as np
import tensorflow as tf

from recip_acme import guards
from recip_acme.influence import config as config_lib
from recip_acme.influence import data as data_lib
from recip_acme.influence import networks


class InfluenceLearner(acme.Learner):
  """An Acme learner whose step() is one refit of the influence estimators."""

  def __init__(self, estimators: networks.InfluenceEstimators,
               replay: data_lib.JointReplay, config: config_lib.InfluenceConfig,
               counter: Optional[counting.Counter] = None,
               logger: Optional[loggers.Logger] = None):
    self._estimators = estimators
    self._replay = replay
    self._config = config
    self._counter = counter or counting.Counter()
    self._logger = logger or loggers.NoOpLogger()
    self._optimizer = tf.keras.optimizers.Adam(config.learning_rate)
    self._num_fits = tf.Variable(0, dtype=tf.int64, name="num_fits")
    self._episodes_at_last_fit = tf.Variable(0, dtype=tf.int64, name="episodes_at_last_fit")
    self._variables = list(estimators.trainable_variables)
    # Adam's moments exist from the start, so that every checkpoint holds them and a
    # restore fills them at once (see agents/base.create_optimizer_state).
    self._optimizer.build(self._variables)
    self._sgd_step = tf.function(self._sgd_step_impl, autograph=False)

  @property
  def num_fits(self) -> int:
    return int(self._num_fits.numpy())

  def refit_due(self) -> bool:
    """True when the initial batch of episodes, or k new episodes, have arrived."""
    episodes = self._replay.episodes_added()
    if self.num_fits == 0:
      return episodes >= self._config.initial_episodes
    return episodes - int(self._episodes_at_last_fit.numpy()) >= self._config.refit_every

  def rebase_episode_count(self, episodes_added: int) -> None:
    """Counts refits from `episodes_added` (a resumed run's replay starts empty)."""
    self._episodes_at_last_fit.assign(episodes_added)

  def maybe_step(self) -> bool:
    """Refits if due (see refit_due); returns whether it did."""
    if not self.refit_due():
      return False
    self.step()
    return True

  def loss(self, batch: data_lib.JointBatch) -> tf.Tensor:
    """The estimators' summed loss (InfluenceEstimators.loss)."""
    return self._estimators.loss(batch)

  def _sgd_step_impl(self, batch: data_lib.JointBatch) -> tf.Tensor:
    with tf.GradientTape() as tape:
      loss = self.loss(batch)
    gradients = tape.gradient(loss, self._variables)
    self._optimizer.apply_gradients(zip(gradients, self._variables))
    return loss

  def sgd_steps_per_fit(self) -> int:
    """Adam steps of the next fit: its epochs over min(samples_per_epoch, replay)."""
    samples = min(self._config.samples_per_epoch, self._replay.num_samples())
    epochs = self._config.epochs
    if self.num_fits == 0 and self._config.first_fit_epochs is not None:
      epochs = self._config.first_fit_epochs
    return max(1, math.ceil(epochs * samples / self._config.batch_size))

  def step(self) -> None:
    """One refit: E epochs (in expectation) of uniform samples from the replay."""
    start = time.time()
    num_steps = self.sgd_steps_per_fit()
    losses = []
    end_fraction = self._config.final_learning_rate_fraction
    for k in range(num_steps):
      fraction = 1.0 - (1.0 - end_fraction) * k / max(1, num_steps - 1)
      self._optimizer.learning_rate.assign(self._config.learning_rate * fraction)
      batch = self._replay.sample(self._config.batch_size)
      batch = data_lib.JointBatch(*(None if x is None else tf.convert_to_tensor(x)
                                    for x in batch))
      losses.append(float(self._sgd_step(batch)))
      guards.check_finite(losses[-1], "estimator loss", "influence learner",
                          self.num_fits + 1)
    self._estimators.after_fit()
    self._num_fits.assign_add(1)
    self._episodes_at_last_fit.assign(self._replay.episodes_added())
    counts = self._counter.increment(influence_fits=1, influence_sgd_steps=num_steps)
    tail = losses[-max(1, num_steps // 10):]  # The loss at the end of the refit.
    self._logger.write({**counts, "influence_loss_start": losses[0],
                        "influence_loss": float(np.mean(tail)),
                        "influence_fit_seconds": time.time() - start})

  def get_variables(self, names: Sequence[str]) -> List[List[np.ndarray]]:
    return [[v.numpy() for v in self._estimators.variables] for _ in names]

  @property
  def state(self):
    """What a checkpoint must hold to resume (for acme.tf.savers.Checkpointer)."""
    return {"estimators": self._estimators, "optimizer": self._optimizer,
            "num_fits": self._num_fits, "episodes_at_last_fit": self._episodes_at_last_fit}
