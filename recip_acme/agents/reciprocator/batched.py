"""Reciprocators on the paper's batched games (IPD, Coins), with the same parts as on
Melting Pot: Acme's unmodified TF IMPALA learner per player, the same adapter
(`learning.reciprocal_reward_transform`), the same VoI estimators, influence learner
and `reciprocal.reciprocal_step`.

What differs is only the data path, sized for B parallel games of a fixed horizon T:
per episode, each player writes ONE Reverb item holding all B games' T+1 steps
(shape [T+1, B, ...]); the dataset transposes it to the [B, T+1] batch the learner
expects. Players are set one by one: a Reciprocator (w > 0) or a naive learner (w=0,
the same learner on extrinsic rewards only), for the paper's R-vs-NL pairings.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Dict, Optional, Sequence

import numpy as np
import reverb
import sonnet as snt
import tensorflow as tf
import tree
from acme import specs
from acme.adders import reverb as adders
from acme.tf import networks as acme_networks
from acme.tf import utils as tf2_utils

from recip_acme import reciprocal
from recip_acme.agents.impala import builder as impala_builder
from recip_acme.agents.impala import config as impala_config
from recip_acme.agents.reciprocator import acting
from recip_acme.agents.reciprocator import learning
from recip_acme.influence import config as influence_config
from recip_acme.influence import data as data_lib
from recip_acme.influence import learning as influence_learning
from recip_acme.influence import networks as influence_networks


# Batches from this many games up act without XLA (BatchedConfig.jit_compile_acting).
XLA_ACTING_BELOW = 1024


@dataclasses.dataclass
class BatchedConfig:
  """One paired run on a batched game.

  Attributes:
    reciprocal_weights: w per player; 0 makes that player a naive learner.
    variant / balance_decay / reset: the reciprocal reward (ALGORITHM.md section 3).
    impala: the IMPALA learner's settings, the same config object Melting Pot runs use
      (discount, learning rate, entropy and value-loss weights, gradient clip).
    updates_per_episode: IMPALA steps per player on each episode's batch.
    games_per_update: games in each IMPALA step (None: all B). The episode's games are
      split into B / games_per_update minibatches, visited in turn, each the same
      number of times. At the paper's batch 2048 a step on all games costs ~0.1 s of
      compute (bound by the LSTM's FLOPs), so 8 full-batch steps are 60 % of an
      episode; minibatches of 256 keep the step count and do one pass over the data.
    hidden / lstm: policy network sizes (lstm=0: no recurrence).
    shared_torso: policy and value read one torso (Acme's PolicyValueHead on one
      MLP/LSTM), or each has its own (as the paper's PPO actor and critic do). With
      a shared torso the value loss keeps moving a saturated policy's logits.
    normalize_returns: standardise each batch's discounted returns of the shaped
      reward, as the paper's PPO does (learning.return_normalization_transform).
    policy_sees_balance: each Reciprocator's policy (and critic) reads its lagged
      influence balance towards each opponent, B[t-1, i, j], next to the game's
      observation (`policy_inputs`; naive learners read zeros there). A project
      extension, off by default (README): r_rec[t] = B[t-1] x VoI[t] pays the same
      action differently by a balance the grid does not show, so a policy that cannot
      see B retaliates at a steady rate instead of in answer to a take
      (results/paper/diagnostics/coins_r_vs_nl_retaliation_contingency).
    jit_compile_acting: compile the per-step act function with XLA; None compiles it
      for batches under XLA_ACTING_BELOW games only. XLA fuses the many small ops of a
      small batch (Coins R vs R at 128 games: 2.6 against 3.1 ms per step) but its CPU
      matmuls lose on large ones (at 2048: 18.3 against 15.0 ms, the estimators'
      next-state expectation); benchmarks/paper_games.py prints both.
  """
  reciprocal_weights: Sequence[float] = (1.0, 1.0)
  variant: str = "balance"
  balance_decay: Optional[float] = None
  reset_balance_each_episode: bool = True
  impala: impala_config.ImpalaConfig = dataclasses.field(
      default_factory=lambda: impala_config.ImpalaConfig(learning_rate=5e-3))
  updates_per_episode: int = 4
  games_per_update: Optional[int] = None
  hidden: int = 64
  lstm: int = 32
  shared_torso: bool = True
  normalize_returns: bool = False
  policy_sees_balance: bool = False
  jit_compile_acting: Optional[bool] = None
  influence: influence_config.InfluenceConfig = dataclasses.field(
      default_factory=influence_config.InfluenceConfig)
  seed: int = 0

  @property
  def any_reciprocator(self) -> bool:
    return any(w != 0 for w in self.reciprocal_weights)

  def minibatches(self, batch_size: int) -> int:
    """How many minibatches each episode of `batch_size` games is split into; a
    ValueError names the settings when they do not divide evenly."""
    games = self.games_per_update or batch_size
    if games > batch_size or batch_size % games:
      raise ValueError(f"games_per_update={games} must divide the batch of {batch_size} "
                       "games")
    count = batch_size // games
    if self.updates_per_episode % count:
      raise ValueError(f"updates_per_episode={self.updates_per_episode} must be a multiple "
                       f"of the {count} minibatches of {games} games, so that each is "
                       "learned from equally often")
    return count


def _torso(hidden: int, lstm: int) -> list:
  return [snt.nets.MLP([hidden], activate_final=True)] + ([snt.LSTM(lstm)] if lstm else [])


class _Tower(snt.RNNCore):
  """MLP -> optional LSTM -> linear, its variables named under its own scope."""

  def __init__(self, outputs: int, hidden: int, lstm: int, name: str):
    super().__init__(name=name)
    self._core = snt.DeepRNN(_torso(hidden, lstm) + [snt.Linear(outputs)])

  def __call__(self, inputs, state):
    return self._core(inputs, state)

  def initial_state(self, batch_size: int):
    return self._core.initial_state(batch_size)


class ActorCriticCore(snt.RNNCore):
  """(logits, value) from two separate torsos, with the output structure of Acme's
  PolicyValueHead, so Acme's IMPALA learner unrolls it unchanged."""

  def __init__(self, num_actions: int, hidden: int, lstm: int, name: str = "actor_critic"):
    super().__init__(name=name)
    self._policy = _Tower(num_actions, hidden, lstm, name="policy")
    self._value = _Tower(1, hidden, lstm, name="value")

  def __call__(self, inputs, state):
    logits, policy_state = self._policy(inputs, state[0])
    value, value_state = self._value(inputs, state[1])
    return (logits, tf.squeeze(value, axis=-1)), (policy_state, value_state)

  def initial_state(self, batch_size: int):
    return (self._policy.initial_state(batch_size), self._value.initial_state(batch_size))


def make_policy_network(num_actions: int, hidden: int, lstm: int,
                        shared_torso: bool = True) -> snt.RNNCore:
  """MLP -> LSTM -> (logits, value); lstm=0 is a memoryless policy (the paper's IPD
  policy sees only the memory-1 state), still an RNNCore with an empty state, which
  is what Acme's IMPALA learner unrolls. shared_torso=False: see BatchedConfig."""
  if not shared_torso:
    return ActorCriticCore(num_actions, hidden, lstm)
  return snt.DeepRNN(_torso(hidden, lstm) + [acme_networks.PolicyValueHead(num_actions)])


def policy_inputs(observations: tf.Tensor, balance_rows: tf.Tensor,
                  sees_balance: np.ndarray) -> tf.Tensor:
  """[B, N, obs] game observations -> [B, N, obs + N - 1]: player i's row followed by
  its balance towards each other player (`balance_rows` [B, N, N-1], as
  reciprocal.balance_observation lists them: the X its next reward multiplies),
  zeroed for players whose `sees_balance[i]` is False (naive learners)."""
  observations = tf.convert_to_tensor(observations)
  mask = tf.constant(np.asarray(sees_balance, np.float32)[None, :, None], observations.dtype)
  return tf.concat([observations, tf.cast(balance_rows, observations.dtype) * mask], axis=-1)


class BatchedReciprocators:
  """Trains N players on a batched game; see the module docstring."""

  def __init__(self, env, config: BatchedConfig):
    if len(config.reciprocal_weights) != env.num_players:
      raise ValueError(f"reciprocal_weights has {len(config.reciprocal_weights)} entries "
                       f"for {env.num_players} players")
    reciprocal.get_variant(config.variant)
    self.env, self.config = env, config
    n, b, t = env.num_players, env.batch_size, env.episode_length
    self._minibatches = config.minibatches(b)
    tf.random.set_seed(config.seed)
    self._seed = tf.Variable([config.seed, 1], dtype=tf.int64, trainable=False)
    # Which players' policies read their balance (policy_sees_balance; Reciprocators).
    self._sees_balance = (np.array([w != 0 for w in config.reciprocal_weights])
                          if config.policy_sees_balance else None)
    extra_inputs = n - 1 if self._sees_balance is not None else 0
    self.spec = specs.EnvironmentSpec(
        observations=specs.Array((env.observation_size + extra_inputs,), np.float32),
        actions=specs.DiscreteArray(env.num_actions, dtype=np.int64),
        rewards=specs.Array((), np.float32),
        discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))
    self.networks = [make_policy_network(env.num_actions, config.hidden, config.lstm,
                                         config.shared_torso) for _ in range(n)]
    for network in self.networks:
      tf2_utils.create_variables(network, [self.spec.observations])
    self.weights = [tf.Variable(float(w), trainable=False) for w in config.reciprocal_weights]

    extras = {"core_state": tf2_utils.squeeze_batch_dim(self.networks[0].initial_state(1)),
              "logits": tf.TensorSpec((env.num_actions,), tf.float32),
              acting.RECIPROCAL_REWARD: tf.TensorSpec((), tf.float32)}
    step_spec = adders.Step(
        observation=self.spec.observations, action=self.spec.actions,
        reward=self.spec.rewards, discount=self.spec.discounts,
        start_of_episode=specs.Array((), bool), extras=extras)
    signature = tree.map_structure(
        lambda s: tf.TensorSpec([t + 1, b // self._minibatches] + list(s.shape), s.dtype),
        step_spec)
    # Each episode's minibatch items are sampled in turn, each updates_per_episode /
    # minibatches times, then dropped: updates_per_episode steps per episode.
    tables = [reverb.Table(f"player_{i}", sampler=reverb.selectors.Fifo(),
                           remover=reverb.selectors.Fifo(), max_size=2 * self._minibatches,
                           max_times_sampled=config.updates_per_episode // self._minibatches,
                           rate_limiter=reverb.rate_limiters.MinSize(1), signature=signature)
              for i in range(n)]
    self.server = reverb.Server(tables, port=None)
    self.client = reverb.Client(f"localhost:{self.server.port}")
    # The learner and behaviour policy exactly as on Melting Pot (ImpalaBuilder).
    self._base = impala_builder.ImpalaBuilder(config.impala)
    self.learners = []
    for i in range(n):
      dataset = reverb.TrajectoryDataset.from_table_signature(
          server_address=self.client.server_address, table=f"player_{i}",
          max_in_flight_samples_per_worker=1)
      # [T+1, B, ...] -> [B, T+1, ...]: the batch of sequences IMPALA expects.
      dataset = dataset.map(lambda sample: sample._replace(data=tree.map_structure(
          lambda x: tf.transpose(x, [1, 0] + list(range(2, x.shape.rank))), sample.data)))
      dataset = dataset.map(learning.reciprocal_reward_transform(self.weights[i]))
      if config.normalize_returns:
        dataset = dataset.map(learning.return_normalization_transform(config.impala.discount))
      self.learners.append(self._base.make_learner(
          self.spec, self.networks[i], dataset, self.client.server_address, f"player_{i}",
          counter=None, logger=_silent()))
    self._writer = self.client.trajectory_writer(num_keep_alive_refs=1)

    self.estimators = self.influence = self.replay = None
    if config.any_reciprocator:
      c = config.influence
      self.estimators = influence_networks.InfluenceEstimators(
          n, env.num_actions, env.state_size, c.hidden_sizes, use_time_left=c.use_time_left,
          future_estimator=c.future_estimator,
          state_factors=getattr(env, "state_factors", None), counterfactual=c.counterfactual)
      self.replay = data_lib.EpisodeReplay(
          c.replay_episodes, c.gamma, seed=config.seed,
          with_next_state=c.future_estimator == "transition")
      self.influence = influence_learning.InfluenceLearner(self.estimators, self.replay, c)
    decay = config.balance_decay if config.balance_decay is not None else config.influence.gamma
    self._influence_settings = None
    if self.estimators is not None:
      self._influence_settings = acting.InfluenceSettings(
          self.estimators, config.variant, decay, config.influence.gamma,
          config.influence.future_term, config.reset_balance_each_episode)
    self._groups = [acting.PolicyGroup(network, [i]) for i, network in enumerate(self.networks)]
    self._balances = reciprocal.initial_state([b], n)
    jit = (config.jit_compile_acting if config.jit_compile_acting is not None
           else b < XLA_ACTING_BELOW)
    self._act = tf.function(self._act_impl, autograph=False, jit_compile=jit)
    self.episodes = 0
    # Cumulative seconds per part of run_episode (benchmarks/paper_games.py prints them).
    self.seconds = dict(acting=0.0, influence=0.0, writes=0.0, updates=0.0)
    # The parameters at the last policy_diagnostics call (for its param_change).
    self._diagnosed_parameters = None

  # One TF call per step for all B games and N players: the joint-policy step and the
  # influence step of the Melting Pot actor, each player its own policy group.
  def _act_impl(self, observations, state, time_left, cores, balance, debit):
    seeds = tf.random.experimental.stateless_split(self._seed, len(self.networks) + 1)
    self._seed.assign(seeds[-1])
    if self._sees_balance is not None:   # B[t-1]: the balance r_rec[t] is paid by.
      observations = policy_inputs(
          observations, reciprocal.balance_observation(
              reciprocal.ReciprocalState(balance, debit), self.config.variant),
          self._sees_balance)
    step = acting.joint_policy_step(self._groups, self._base, observations, cores, seeds,
                                    len(self.networks))
    out = {"actions": step.actions, "logits": [e["logits"] for e in step.extras],
           "cores": step.cores}
    if self._sees_balance is not None:   # What the policy read, for the learner.
      out["policy_inputs"] = observations
    if self._influence_settings is not None:
      influence = acting.influence_step(self._influence_settings, state, step.actions,
                                        time_left, step.probabilities,
                                        reciprocal.ReciprocalState(balance, debit))
      terms = influence.terms
      out.update(voi=influence.voi, reciprocal_reward=terms.rewards,
                 lagged_balance=terms.lagged_balance, balance=terms.final_state.balance,
                 debit=terms.final_state.debit)
    return out

  def run_episode(self) -> Dict[str, np.ndarray]:
    """Plays one batched episode, writes it, refits the estimators if due, learns."""
    start = time.perf_counter()
    env, n = self.env, self.env.num_players
    b, horizon = env.batch_size, env.episode_length
    step = env.reset()
    cores = [tree.map_structure(lambda x: x.numpy(), net.initial_state(b)) for net in self.networks]
    if self.config.reset_balance_each_episode:
      self._balances = reciprocal.initial_state([b], n)
    record = {k: [] for k in ("obs", "state", "actions", "rewards", "logits", "cores", "r_rec",
                              "time_left", "info", "voi", "balance")}
    for t in range(horizon + 1):
      time_left = np.full(b, (horizon - t) / horizon, np.float32)
      out = self._act(step.observations, step.state, time_left, cores,
                      self._balances.balance, self._balances.debit)
      record["obs"].append(out["policy_inputs"].numpy() if self._sees_balance is not None
                           else step.observations)
      record["cores"].append(cores)
      record["logits"].append([l.numpy() for l in out["logits"]])
      if t == horizon:   # The bootstrap step: observation only.
        break
      actions = out["actions"].numpy()
      r_rec = (out["reciprocal_reward"].numpy() if self.estimators is not None
               else np.zeros((b, n), np.float32))
      if self.estimators is not None:
        self._balances = reciprocal.ReciprocalState(out["balance"], out["debit"])
        record["voi"].append(out["voi"].numpy())                    # [B, N(j), N(i)]
        record["balance"].append(out["lagged_balance"].numpy())    # [B, N(i), N(j)]
      record["state"].append(step.state)
      record["time_left"].append(time_left)
      cores = tree.map_structure(lambda x: x.numpy(), out["cores"])
      step = env.step(actions)
      record["actions"].append(actions)
      record["rewards"].append(step.rewards)
      record["r_rec"].append(r_rec)
      record["info"].append(step.info)
    self.seconds["acting"] += time.perf_counter() - start
    stats = self._learn(record)
    self.episodes += 1
    return stats

  def _write(self, record) -> None:
    n = self.env.num_players
    horizon, b = len(record["actions"]), self.env.batch_size
    games = b // self._minibatches                                     # Per item.
    for i in range(n):
      pad = lambda x: np.concatenate([x, np.zeros_like(x[:1])])   # The bootstrap step.
      actions = pad(np.stack([a[:, i] for a in record["actions"]]))
      rewards = pad(np.stack([r[:, i] for r in record["rewards"]]).astype(np.float32))
      discounts = np.ones((horizon + 1, b), np.float32)
      discounts[horizon - 1:] = 0.0                                    # Episode ends.
      start = np.zeros((horizon + 1, b), bool)
      start[0] = True
      item = adders.Step(
          observation=np.stack([o[:, i] for o in record["obs"]]),
          action=actions.astype(np.int64), reward=rewards, discount=discounts,
          start_of_episode=start,
          extras={"core_state": tree.map_structure(lambda *x: np.stack(x),
                                                   *[c[i] for c in record["cores"]]),
                  "logits": np.stack([l[i] for l in record["logits"]]),
                  acting.RECIPROCAL_REWARD: pad(np.stack([r[:, i] for r in record["r_rec"]]))})
      for lo in range(0, b, games):
        self._writer.append(tree.map_structure(lambda x: x[:, lo:lo + games], item))
        self._writer.create_item(f"player_{i}", 1.0,
                                 tree.map_structure(lambda ref: ref[-1], self._writer.history))
    self._writer.flush()

  def _learn(self, record) -> Dict[str, np.ndarray]:
    # Policies stay frozen until the estimators' first fit: episodes played before it
    # carry reciprocal rewards from unfitted estimators and are not learned from.
    learning_enabled = self.influence is None or self.influence.num_fits > 0
    fitted = False
    clock = time.perf_counter()
    if self.influence is not None:
      self.replay.add_episode(np.stack(record["state"]), np.stack(record["actions"]),
                              np.stack(record["rewards"]), np.stack(record["time_left"]))
      fitted = self.influence.maybe_step()
    self.seconds["influence"] += time.perf_counter() - clock
    if learning_enabled:
      clock = time.perf_counter()
      self._write(record)
      self.seconds["writes"] += time.perf_counter() - clock
      clock = time.perf_counter()
      for learner in self.learners:
        for _ in range(self.config.updates_per_episode):
          learner.step()
      self.seconds["updates"] += time.perf_counter() - clock
    rewards = np.stack(record["rewards"])                            # [T, B, N]
    actions = np.stack(record["actions"])                            # [T, B, N]
    logits = np.stack([np.stack(l, axis=-2) for l in record["logits"][:len(actions)]])
    log_probs = tf.nn.log_softmax(logits).numpy()                    # [T, B, N, A]
    taken_log_probs = np.take_along_axis(log_probs, actions[..., None], axis=-1)[..., 0]
    return {"rewards": rewards, "actions": actions,
            "reciprocal_rewards": np.stack(record["r_rec"]), "info": record["info"],
            "influence_fitted": fitted,
            # [T, B, N]: how likely each player's policy was to take the action it took.
            "action_probabilities": np.exp(taken_log_probs),
            # [T, B, N, N] each when there are estimators: what r_rec was made of.
            "voi": np.stack(record["voi"]) if record["voi"] else None,
            "balance": np.stack(record["balance"]) if record["balance"] else None}

  def policy_diagnostics(self, observations: np.ndarray) -> list:
    """Per player: how saturated its policy is on `observations` [S, obs], and how much
    a gradient can still move it.

    For a memoryless policy (lstm=0, the IPD setting) these are the policy itself on
    each of the S states; with an LSTM they are its first step. Returns per player a
    dict with `logits` [S, A], `entropy` [S], `grad_norm_entropy` (||d sum_s H(s) /
    d theta||: what the entropy bonus can still do) and `grad_norm_least_likely`
    (||d sum_s pi(a_min(s)|s) / d theta||: the fastest any advantage can raise the
    action the policy has almost given up). A softmax at its limit has both near 0.
    `param_change` is the global norm of the parameters' change since the previous
    call (NaN on the first): what the optimiser actually did with those gradients.
    """
    if self._sees_balance is not None:   # Probed at a zero balance.
      observations = np.concatenate(
          [observations, np.zeros(observations.shape[:-1] + (self.env.num_players - 1,),
                                  np.float32)], axis=-1)
    obs = tf.convert_to_tensor(observations, tf.float32)
    out = []
    previous = self._diagnosed_parameters
    self._diagnosed_parameters = [[v.numpy().copy() for v in net.trainable_variables]
                                  for net in self.networks]
    for i, network in enumerate(self.networks):
      with tf.GradientTape(persistent=True) as tape:
        (logits, _), _ = network(obs, network.initial_state(obs.shape[0]))
        probs = tf.nn.softmax(logits)
        entropy = -tf.reduce_sum(probs * tf.nn.log_softmax(logits), axis=-1)
        least = tf.reduce_min(probs, axis=-1)
        total_entropy, total_least = tf.reduce_sum(entropy), tf.reduce_sum(least)
      variables = network.trainable_variables
      norms = [float(tf.linalg.global_norm(tape.gradient(y, variables)))
               for y in (total_entropy, total_least)]
      del tape
      change = (float(np.sqrt(sum(np.sum(np.square(a - b)) for a, b in
                                  zip(self._diagnosed_parameters[i], previous[i]))))
                if previous is not None else float("nan"))
      out.append({"logits": logits.numpy(), "entropy": entropy.numpy(),
                  "grad_norm_entropy": norms[0], "grad_norm_least_likely": norms[1],
                  "param_change": change})
    return out

  def close(self) -> None:
    self._writer.close()
    self.server.stop()


def _silent():
  from acme.utils import loggers  # pylint: disable=g-import-not-at-top
  return loggers.NoOpLogger()
