"""Throughput of the Reciprocator stack, as ratios measured in one run.

1. Actor: raw substrate steps/s with random actions vs the joint actor's steps/s
   (policy inference for all players, VoI and reciprocal reward, Reverb writes), on
   coins (11x11 observations) and clean_up. Targets: >= 0.5 of raw on coins. The
   actor runs the run's own acting loop; at the largest num_envs also with the copies
   in a child process (--substrate_process) and with half of them there
   (--substrate_split), against the same loop in one process.
   Profile: the joint actor's time per environment step, split into the substrate,
   the TF step, the writes and the Python bookkeeping (on coins also with
   --substrate_split, where "substrate" is this process's half and the wait for the
   child's).
4. Memory: resident memory of the learner process and of each Ray actor process over
   a training run (default 10 minutes) on coins and clean_up, peak and growth; and
   (section memory_recycle, not run by default) the same on coins with each actor
   replaced by a fresh process every --recycle_steps env steps, against no replacement.
   Writes (section writes): what one Reverb trajectory-writer append costs per
   column, for 1 column and for the joint writer's coins row (all players' fields),
   so the profile's write time can be read as columns x appends x that cost.
2. Learner: the wrapped IMPALA learner's updates/s with the adapter on
   (reciprocator: shaped dataset) vs off (independent). Target: overhead <= 25 %.
3. Ray (acting and learning, as `launch.train` runs): steady-state env steps/s on
   coins with --num_actors=1 (one process) vs 2 (two Ray actors beside the learner,
   the driver), the same num_envs per actor; Ray's start-up time (from the run's start
   until every actor is built); and a model of how many actors one learner can feed:
   the learner's measured updates/s x batch x unroll / (samples per insert x players),
   the env steps/s it can learn from, over one actor's measured env steps/s.
   Training (section training, not run by default): the single-process default as
   `launch.train --substrate=coins --agent=reciprocator` runs it (the preset's
   num_envs), its steady-state env steps/s over the raw substrate's (measured before
   and after it): #14's "training keeps up" target of 0.35; and the same with
   --substrate_process and with --substrate_split.

  python benchmarks/throughput.py [--seconds 15] [--num_envs 1,4,8] [--train_seconds 120]
                                [--memory_seconds 600]
                                [--sections actor,profile,writes,learner,ray,memory]
                                [--sections memory_recycle --recycle_steps 50000]
                                [--sections substrate_memory --num_envs 8]
                                [--sections training --train_seconds 120 [--train_num_envs 8]]
"""

import argparse
import csv
import functools
import os
import tempfile
import sys
import time
from typing import Optional, Sequence, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402
import tree  # noqa: E402

import recip_acme  # noqa: E402,F401
from recip_acme.experiments import environment_loop  # noqa: E402
from recip_acme.experiments import records  # noqa: E402
from recip_acme import experiments  # noqa: E402
from substrates import melting_pot  # noqa: E402


def raw_rate(substrate: str, seconds: float) -> float:
  env = melting_pot.MeltingPotSubstrate(substrate)
  rng = np.random.default_rng(0)
  env.raw_reset()
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    ts = env.raw_step(rng.integers(0, env.num_actions[0], env.num_players))
    steps += 1
    if ts.last():
      env.raw_reset()
  env.close()
  return steps / (time.perf_counter() - start)


# Where an actor's copies step: the config fields each choice sets.
_STEPPING = {"here": {}, "child": {"substrate_process": True},
             "split": {"substrate_split": True}}
_STEPPING_NAMES = {"here": "", "child": ", substrate process", "split": ", substrate split"}


def _build(substrate: str, agent_kind: str, num_envs: int, where: str = "here"):
  config = experiments.default_config(substrate, agent_kind, **_STEPPING[where])
  config.reciprocator.num_envs = num_envs
  return experiments.build_agent(config), config


@functools.lru_cache(maxsize=None)   # Sections share measurements.
def actor_rate(substrate: str, agent_kind: str, num_envs: int, seconds: float,
               where: str = "here") -> float:
  """Joint actor + substrate + Reverb writes, as the run's acting loop steps them
  (episode rows included); no learner steps. `where` the copies step (_STEPPING)."""
  agent, config = _build(substrate, agent_kind, num_envs, where)
  loop = environment_loop.ActingLoop(agent.substrates, agent.actor, config, lambda: 1.0,
                                     lambda: True)
  for _ in range(20):  # Warm-up: tracing.
    loop.step()
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    loop.step()
    steps += num_envs
  rate = steps / (time.perf_counter() - start)
  agent.close()
  return rate


@functools.lru_cache(maxsize=None)   # Sections share measurements.
def learner_rate(agent_kind: str, seconds: float) -> float:
  """IMPALA updates/s on coins; the table is filled first, so only learning is timed."""
  config = experiments.default_config("coins", agent_kind)
  config.reciprocator.num_envs = 4
  agent = experiments.build_agent(config)
  loop = environment_loop.ActingLoop(agent.substrates, agent.actor, config, lambda: 1.0,
                                     lambda: True)
  learner = agent.learner.learners[0]
  batch, seq = config.impala.batch_size, config.impala.sequence_length
  for _ in range(40 * batch * seq // len(agent.envs) + seq):
    loop.step()
  agent.actor.flush_writes()
  learner.step()  # Warm-up: tracing.
  updates, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds and updates < 38:
    learner.step()
    updates += 1
  rate = updates / (time.perf_counter() - start)
  agent.close()
  return rate


def actor_profile(substrate: str, agent_kind: str, num_envs: int, seconds: float,
                  where: str = "here") -> dict:
  """Seconds per environment step spent in each part of the run's acting loop
  (`ActingLoop`, the loop `actor_rate` times, episode rows included).

  Parts: the substrate (Melting Pot's step and resets, and our adapter's conversion),
  the TF step (select_actions: one XLA call for every player slot, VoI and r_rec),
  the writes (the joint writers' appends and items), and the Python bookkeeping (the
  rest of observe and of the loop). Each part is timed by wrapping its methods on this
  agent's objects, for this measurement only.
  """
  agent, config = _build(substrate, agent_kind, num_envs, where)
  loop = environment_loop.ActingLoop(agent.substrates, agent.actor, config, lambda: 1.0,
                                     lambda: True)
  parts = dict(substrate=0.0, tf_step=0.0, writes=0.0, bookkeeping=0.0)

  def timed(part, method):
    def wrapper(*args, **kwargs):
      start = time.perf_counter()
      try:
        return method(*args, **kwargs)
      finally:
        parts[part] += time.perf_counter() - start
    return wrapper

  for writer in agent.actor._writers:  # pylint: disable=protected-access
    writer.step, writer.first = timed("writes", writer.step), timed("writes", writer.first)
  agent.actor.select_actions = timed("tf_step", agent.actor.select_actions)
  for name in ("step_async", "step_wait"):
    setattr(loop.substrates, name, timed("substrate", getattr(loop.substrates, name)))
  for _ in range(20):  # Warm-up: tracing.
    loop.step()
  for key in parts:
    parts[key] = 0.0
  steps, begin = 0, time.perf_counter()
  while time.perf_counter() - begin < seconds:
    loop.step()
    steps += num_envs
  total = time.perf_counter() - begin
  parts["bookkeeping"] = total - parts["tf_step"] - parts["substrate"] - parts["writes"]
  agent.close()
  return {k: v / steps for k, v in parts.items()} | {"total": total / steps}


def training_rate(num_actors: int, num_envs: int, seconds: float, min_rows: int = 10,
                  max_seconds: float = 1200.0, where: str = "here"
                  ) -> Tuple[Optional[float], Optional[float]]:
  """Env steps/s of the training loop in its steady state (records.steady_state_rate).

  Start-up is discarded by time (the first third of the run) and by rows (the first
  3 progress rows); if fewer than `min_rows` progress rows remain, the run is repeated
  twice as long, up to `max_seconds`. With actor processes, steps taken while the
  learner process was busy are reported in bursts, which the long window averages.
  Returns (rate, seconds until every Ray actor was built); the rate is None if no
  steady state was seen even then, the start-up None for a one-process run.
  """
  while True:
    config = experiments.default_config("coins", "reciprocator", num_steps=10**9,
                                     num_actors=num_actors, log_every_seconds=2.0,
                                     **_STEPPING[where])
    config.reciprocator.num_envs = num_envs
    with tempfile.TemporaryDirectory() as workdir:
      summary = experiments.train(config, workdir, verbose=False, max_seconds=seconds)
      with open(os.path.join(workdir, records.PROGRESS_FILE)) as f:
        rows = [(float(r["elapsed_seconds"]), int(r["env_steps"])) for r in csv.DictReader(f)]
    rate = records.steady_state_rate(rows, seconds / 3, 3, min_rows)
    if rate is not None or seconds * 2 > max_seconds:
      return rate, summary.get("actors_ready_seconds")
    print(f"  (num_actors={num_actors}: fewer than {min_rows} progress rows in the steady "
          f"state of {seconds:.0f} s; repeating for {2 * seconds:.0f} s)", flush=True)
    seconds *= 2


def _rss_mib(pid) -> Optional[float]:
  """Resident memory of a process (Linux /proc), or None if it is gone."""
  try:
    with open(f"/proc/{pid}/status") as f:
      for line in f:
        if line.startswith("VmRSS:"):
          return int(line.split()[1]) / 1024
  except OSError:
    return None
  return None


def _ray_actor_pids(name: str = "ray::ActorWorker") -> list:
  pids = []
  for entry in os.listdir("/proc"):
    if entry.isdigit():
      try:
        with open(f"/proc/{entry}/cmdline", "rb") as f:
          if f.read().split(b"\0")[0].decode(errors="replace").startswith(name):
            pids.append(int(entry))
      except OSError:
        continue
  return pids


def memory_use(substrate: str, seconds: float, num_actors: int = 2,
               period: float = 5.0, actor_recycle_steps: Optional[int] = None) -> dict:
  """Resident memory of the learner process (this one, the driver) and of each Ray
  actor process over one training run of `seconds`, sampled every `period` s.

  Growth is measured from the first sample after the first quarter of the run (when
  the tables, traced functions and Ray workers exist) to the last sample, so start-up
  allocation is not counted as growth. With `actor_recycle_steps` the actor processes
  change during the run, so per-process growth is not defined: the largest actor's
  resident memory is compared between the two halves of that window instead.
  """
  import threading  # pylint: disable=g-import-not-at-top
  samples, done = [], threading.Event()

  def sample():
    start = time.time()
    while not done.wait(period):
      actors = {pid: _rss_mib(pid) for pid in _ray_actor_pids()}
      samples.append((time.time() - start, _rss_mib(os.getpid()),
                      {pid: rss for pid, rss in actors.items() if rss is not None}))

  config = experiments.default_config(substrate, "reciprocator", num_steps=10**9,
                                      num_actors=num_actors, log_every_seconds=10.0,
                                      actor_recycle_steps=actor_recycle_steps)
  thread = threading.Thread(target=sample, daemon=True)
  thread.start()
  with tempfile.TemporaryDirectory() as workdir:
    summary = experiments.train(config, workdir, verbose=False, max_seconds=seconds)
  done.set()
  thread.join()
  settled = [s for s in samples if s[0] >= seconds / 4 and s[2]]
  first, last = settled[0], settled[-1]
  actor_pids = sorted(set(first[2]) & set(last[2]))
  largest = [(t, max(actors.values())) for t, _, actors in settled]
  middle = (first[0] + last[0]) / 2
  return {
      "actor_peak_first_half": max(m for t, m in largest if t <= middle),
      "actor_peak_second_half": max((m for t, m in largest if t > middle), default=float("nan")),
      "actor_recycles": summary.get("actor_recycles", 0),
      "env_steps": summary["env_steps"],
      "learner_peak": max(s[1] for s in samples),
      "learner_growth": last[1] - first[1],
      "actor_peak": max(max(s[2].values()) for s in samples if s[2]),
      "actor_growth": max((last[2][p] - first[2][p] for p in actor_pids), default=float("nan")),
      "window": last[0] - first[0],
  }


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--seconds", type=float, default=15.0)
  parser.add_argument("--num_envs", default="1,4,8")
  parser.add_argument("--train_seconds", type=float, default=120.0)
  parser.add_argument("--train_num_envs", type=int, default=None,
                      help="copies per actor in the training section (default: the preset's)")
  parser.add_argument("--memory_seconds", type=float, default=600.0)
  parser.add_argument("--recycle_steps", type=int, default=50_000,
                      help="memory_recycle: env steps after which an actor is replaced.")
  parser.add_argument("--sections", default="actor,profile,writes,learner,ray,memory",
                      help="Which parts to run: actor, profile, writes, learner, ray, memory, "
                      "memory_recycle (coins with --actor_recycle_steps; not by default), "
                      "training (the single-process default on coins; not by default).")
  args = parser.parse_args()
  env_counts = [int(x) for x in args.num_envs.split(",")]
  sections = set(args.sections.split(","))
  if "actor" in sections:
    actor_section(env_counts, args.seconds)
  if "profile" in sections:
    profile_section(args.seconds)
  if "writes" in sections:
    writes_section(args.seconds)
  if "learner" in sections:
    learner_section(args.seconds)
  if "ray" in sections:
    ray_section(args.train_seconds, args.seconds)
  if "training" in sections:
    training_section(args.train_seconds, args.seconds, args.train_num_envs)
  if "memory" in sections:
    memory_section(args.memory_seconds)
  if "memory_recycle" in sections:
    memory_recycle_section(args.memory_seconds, args.recycle_steps)
  if "substrate_memory" in sections:
    substrate_memory_section(max(int(n) for n in args.num_envs.split(",")))


def actor_section(env_counts, seconds) -> None:
  print("== actor: environment steps per second (ratio to the raw substrate, whose rate is "
        "the mean of one measurement before and one after the actors': this VM's speed "
        "drifts within a run)")
  for substrate in ("coins", "clean_up"):
    before = raw_rate(substrate, seconds)
    rates = {(kind, num_envs, "here"): actor_rate(substrate, kind, num_envs, seconds)
             for kind in ("reciprocator", "independent") for num_envs in env_counts}
    # The copies in a child process, stepping while the actor writes (one more core),
    # and half of them there, stepping beside this process's half.
    largest = max(env_counts)
    if largest >= 2:
      for where in ("child", "split"):
        for kind in ("reciprocator", "independent"):
          rates[kind, largest, where] = actor_rate(substrate, kind, largest, seconds, where)
    after = raw_rate(substrate, seconds)
    raw = (before + after) / 2
    print(f"{substrate:9s} raw substrate, random actions: {raw:8.0f} steps/s  "
          f"(before {before:.0f}, after {after:.0f})")
    for (kind, num_envs, where), rate in rates.items():
      print(f"{substrate:9s} joint actor {kind:12s} num_envs={num_envs}"
            f"{_STEPPING_NAMES[where]}: {rate:8.0f} steps/s  ratio {rate / raw:5.2f}"
            + (f"  ({rate / rates[kind, num_envs, 'here']:4.2f}x in-process)"
               if where != "here" else ""))


def profile_section(seconds, num_envs: int = 8) -> None:
  print(f"== profile: where one joint-actor step goes (reciprocator, num_envs={num_envs}), "
        "microseconds per environment step and share")
  runs = [("coins", "here"), ("clean_up", "here")] + ([("coins", "split")] if num_envs >= 2
                                                       else [])
  for substrate, where in runs:
    parts = actor_profile(substrate, "reciprocator", num_envs, seconds, where)
    shares = "  ".join(f"{k} {1e6 * v:6.0f} us ({100 * v / parts['total']:4.1f} %)"
                       for k, v in parts.items() if k != "total")
    print(f"{substrate + _STEPPING_NAMES[where]:9s} {shares}  total {1e6 * parts['total']:6.0f} us")


def _writer_server(names: Sequence[str] = ("t",)):
  """An in-process Reverb server with tables `names` that never block an insert (no
  items are sampled here), and a client."""
  import reverb  # pylint: disable=import-outside-toplevel
  tables = [reverb.Table(name=name, sampler=reverb.selectors.Uniform(),
                         remover=reverb.selectors.Fifo(), max_size=10,
                         rate_limiter=reverb.rate_limiters.MinSize(1))
            for name in names]
  server = reverb.Server(tables, port=None)
  return server, reverb.Client(f"localhost:{server.port}")


def append_cost(rows: Sequence[tuple], seconds: float, episode_steps: int = 500) -> float:
  """Seconds per step of Reverb trajectory-writer appends, one per row of `rows` (all
  but the last as partial steps; episodes of `episode_steps`; no items: the appends
  alone), on an in-process server."""
  server, client = _writer_server()
  try:
    writer = client.trajectory_writer(num_keep_alive_refs=21)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
      for row in rows[:-1]:
        writer.append(row, partial_step=True)
      writer.append(rows[-1])
      steps += 1
      if steps % episode_steps == 0:
        writer.end_episode(clear_buffers=True)
    cost = (time.perf_counter() - start) / steps
    writer.close()
  finally:
    server.stop()
  return cost


def joint_writer_cost(template, layout, seconds: float, episode_steps: int = 500) -> float:
  """Seconds per step of `writing.JointTrajectoryWriter.step` (the actor's whole write:
  its NumPy rows, every player's items and each episode's joint item), with the
  columns of `template` (a coins actor's writer), on an in-process server."""
  from recip_acme.agents.reciprocator import writing  # pylint: disable=import-outside-toplevel
  zeros = template.zero_step
  columns = template._players  # pylint: disable=protected-access
  observations = [tree.map_structure(lambda c: zeros[c], p.observation) for p in columns]
  extras = [tree.map_structure(lambda c: zeros[c], p.extras) for p in columns]
  flat_extras = [tree.flatten(e) for e in extras]
  state = np.zeros(template._state_zeros.shape, np.float32)  # pylint: disable=protected-access
  actions, rewards = np.zeros(len(columns), np.int64), np.zeros(len(columns), np.float32)
  player_tables = [f"p{i}" for i in range(len(columns))]
  server, client = _writer_server(player_tables + ["joint"])
  try:
    writer = writing.JointTrajectoryWriter(
        client, player_tables, layout, observations, extras,
        joint_table="joint", state_size=state.size, max_episode_steps=episode_steps)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
      writer.first(observations, state, 1.0, record_policy=True)
      for t in range(episode_steps):
        writer.step(actions, rewards, 1.0, flat_extras, observations,
                    t == episode_steps - 1, state, 1.0)
      steps += episode_steps
    cost = (time.perf_counter() - start) / steps
    writer.close()
  finally:
    server.stop()
  return cost


def writes_section(seconds) -> None:
  """What the coins actor's writes cost per environment copy and step: Reverb's append
  cost per column, and the joint writer against one append of its columns per step."""
  print("== writes: Reverb trajectory-writer appends and the joint writer, microseconds "
        "(coins, reciprocator)")
  config = experiments.default_config("coins", "reciprocator")
  config.reciprocator.num_envs = 1
  agent = experiments.build_agent(config)
  template = agent.actor._writers[0]  # pylint: disable=protected-access
  layout = template._layout  # pylint: disable=protected-access
  row = template.zero_step
  agent.close()
  # Alternating rounds, medians of each setting and of the per-round ratio: this VM's
  # speed drifts within seconds.
  cases = {"one": lambda s: append_cost([row[:1]], s), "full": lambda s: append_cost([row], s),
           "joint": lambda s: joint_writer_cost(template, layout, s)}
  rounds = {name: [] for name in cases}
  for _ in range(9):
    for name, cost in cases.items():
      rounds[name].append(cost(seconds / 27))
  one, full, joint = (float(np.median(rounds[name])) for name in ("one", "full", "joint"))
  ratio = float(np.median(np.divide(rounds["full"], rounds["joint"])))
  print("(medians of 9 alternating rounds)")
  print(f"1 column, one append:                   {1e6 * one:7.1f} us per step")
  print(f"{len(row)} columns: {1e6 * full / len(row):5.1f} us per column, "
        f"{full / one:5.1f}x one column")
  print(f"{len(row)} columns (the players' fields), one append per step, no items (the "
        f"writer until 2026-12-06 appended these and 2 more per step, and cut items from "
        f"them): {1e6 * full:7.1f} us per step")
  print(f"the joint writer (NumPy rows; one append per item of whole sequences; items and "
        f"joint item included): {1e6 * joint:7.1f} us per step "
        f"(one append per step takes {ratio:4.1f}x as long, median per round)")


def learner_section(seconds) -> None:
  print("== learner: IMPALA updates per second on coins (batch 16 x 20 steps)")
  on = learner_rate("reciprocator", seconds)
  off = learner_rate("independent", seconds)
  print(f"adapter on (reciprocator): {on:6.2f} updates/s")
  print(f"adapter off (independent): {off:6.2f} updates/s")
  print(f"adapter overhead: {100 * (off / on - 1):+.1f} % time per update")


def ray_section(train_seconds, seconds) -> None:
  num_envs = 4
  print(f"== ray: training on coins (acting + learning), num_envs={num_envs} per actor, "
        f"{os.cpu_count()} cores, local Ray on loopback")
  one, _ = training_rate(1, num_envs, train_seconds)
  two, startup = training_rate(2, num_envs, train_seconds)
  shown = lambda rate: "no steady state seen" if rate is None else f"{rate:8.0f} env steps/s"
  print(f"num_actors=1 (one process):              {shown(one)}")
  print(f"num_actors=2 (2 Ray actors + learner):   {shown(two)}"
        + (f"  ratio {two / one:5.2f}" if one and two else ""))
  print(f"Ray start-up (run start -> 2 actors built): {startup:6.1f} s")
  # How many actors one learner feeds (README table): measured, not assumed.
  config = experiments.default_config("coins", "reciprocator")
  c = config.impala
  players = 2
  updates = learner_rate("reciprocator", seconds)
  per_actor = actor_rate("coins", "reciprocator", num_envs, seconds)
  absorbs = updates * c.batch_size * c.sequence_length / (c.samples_per_insert * players)
  print(f"learner: {updates:6.2f} updates/s x batch {c.batch_size} x unroll "
        f"{c.sequence_length} / (samples per insert {c.samples_per_insert:g} x {players} "
        f"players) = {absorbs:6.0f} env steps/s it can learn from")
  print(f"one actor (num_envs={num_envs}): {per_actor:6.0f} env steps/s")
  print(f"actors one learner can feed on coins: {absorbs / per_actor:5.1f}")


def training_section(train_seconds, seconds, num_envs: Optional[int] = None) -> None:
  preset = experiments.default_config("coins", "reciprocator").reciprocator.num_envs
  num_envs = num_envs or preset
  which = (f"the preset's num_envs={num_envs}" if num_envs == preset else
           f"num_envs={num_envs} instead of the preset's {preset}")
  print(f"== training: the single-process default on coins (acting + learning, {which}), "
        f"steady-state env steps/s over the raw substrate's")
  before = raw_rate("coins", seconds)
  rate, _ = training_rate(1, num_envs, train_seconds)
  # The same with the copies in a child process (--substrate_process), and with half
  # of them there (--substrate_split).
  child_rate, _ = training_rate(1, num_envs, train_seconds, where="child")
  split_rate, _ = training_rate(1, num_envs, train_seconds, where="split")
  after = raw_rate("coins", seconds)
  raw = (before + after) / 2
  print(f"coins     raw substrate, random actions: {raw:8.0f} steps/s  "
        f"(before {before:.0f}, after {after:.0f})")
  for name, value in (("one process:", rate), ("substrate process:", child_rate),
                      ("substrate split:", split_rate)):
    shown = "no steady state seen" if value is None else (
        f"{value:8.0f} env steps/s  ratio {value / raw:5.3f} (target 0.35)")
    print(f"coins     training, {name:19s} {shown}")


def substrate_memory_section(num_envs: int, steps: int = 3000) -> None:
  """Resident memory of a --substrate_process child with `num_envs` coins copies, after
  its build and over `steps` joint steps of random actions."""
  from substrates import stepping  # pylint: disable=import-outside-toplevel
  print(f"== substrate_memory: resident MiB of the --substrate_process child "
        f"(coins, {num_envs} copies, random actions)")
  worker = stepping.SubstrateWorker("coins", melting_pot.AdapterConfig(), num_envs, seed=0,
                                    preload=("recip_acme",))
  try:
    worker.reset_all()
    rng = np.random.default_rng(0)
    samples = {0: _rss_mib(worker.pid)}
    for step in range(1, steps + 1):
      worker.step_async(rng.integers(0, 7, size=(num_envs, 2)))
      worker.step_wait()
      if step in (steps // 6, steps):
        samples[step] = _rss_mib(worker.pid)
  finally:
    worker.close()
  print("  ".join(f"after {k} steps: {v:6.0f} MiB" for k, v in samples.items()))


def memory_section(seconds) -> None:
  print(f"== memory: resident MiB over a {seconds:.0f} s training run (reciprocator, "
        "2 Ray actors + learner, local Ray on loopback)")
  for substrate in ("coins", "clean_up"):
    m = memory_use(substrate, seconds)
    print(f"{substrate:9s} learner peak {m['learner_peak']:7.0f} MiB, growth "
          f"{m['learner_growth']:+6.0f} MiB | actor peak {m['actor_peak']:7.0f} MiB, growth "
          f"{m['actor_growth']:+6.0f} MiB (growth over the last {m['window']:.0f} s)")


def memory_recycle_section(seconds, recycle_steps) -> None:
  """The same run on coins with each actor replaced every `recycle_steps` env steps
  (launch.train --actor_recycle_steps): does the largest actor stay bounded?"""
  print(f"== memory with actors replaced every {recycle_steps} env steps: resident MiB "
        f"over a {seconds:.0f} s training run on coins (2 Ray actors + learner)")
  for recycle in (None, recycle_steps):
    m = memory_use("coins", seconds, actor_recycle_steps=recycle)
    label = "never replaced" if recycle is None else f"replaced every {recycle}"
    print(f"{label:24s} largest actor, peak in the first half {m['actor_peak_first_half']:6.0f} "
          f"MiB, second half {m['actor_peak_second_half']:6.0f} MiB (difference "
          f"{m['actor_peak_second_half'] - m['actor_peak_first_half']:+5.0f}) | replacements "
          f"{m['actor_recycles']} | env steps {m['env_steps']} | learner peak "
          f"{m['learner_peak']:6.0f} MiB, growth {m['learner_growth']:+5.0f} MiB "
          f"(window {m['window']:.0f} s)")
    if recycle is not None and not m["actor_recycles"]:
      print(f"  no actor reached {recycle} env steps in {seconds:.0f} s, so this row says "
            "nothing about replacement: lower --recycle_steps or raise --memory_seconds")


if __name__ == "__main__":
  main()
