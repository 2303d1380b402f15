"""A run's CSV records, kept in agreement with its checkpoint.

Rows are appended as episodes end, checkpoints are written every few minutes, so a
killed run leaves rows for episodes its last checkpoint does not know about (and
possibly a half-written last line). A resumed run starts again from the checkpoint's
counters and would number those episodes a second time. ``rewind`` therefore cuts
every record back to what the checkpoint holds before the resumed run writes a row:
one row per episode, episodes 1..n in order.
"""

from __future__ import annotations

import csv
import os
from typing import Any, Callable, Dict

CONFIG_FILE = "config.json"     # The run's configuration (resume reuses it).
EPISODES_FILE = "episodes.csv"
PROGRESS_FILE = os.path.join("logs", "progress", "logs.csv")


def append_row(path: str, row: Dict[str, Any]) -> None:
  """Appends one row (with a header if the file is new) in one write.

  An existing file keeps its header: the row is written in that column order, with
  empty cells for columns it lacks and without columns the header lacks. A run resumed
  by a version that logs more (or fewer) columns then still writes rows that line up,
  and `keep_rows` (which drops rows of the wrong length) loses none of them.
  """
  header = None
  if os.path.exists(path) and os.path.getsize(path) > 0:
    with open(path, newline="") as f:
      header = next(csv.reader([f.readline()]))
  with open(path, "a", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=header or list(row), restval="",
                            extrasaction="ignore")
    if header is None:
      writer.writeheader()
    writer.writerow(row)


def keep_rows(path: str, keep: Callable[[Dict[str, str]], bool]) -> int:
  """Rewrites `path` with the complete rows that `keep` accepts; returns rows dropped.

  A row is complete when its line ended (a kill can cut the last one) and it has a
  value for every column. The file is replaced atomically.
  """
  if not os.path.exists(path):
    return 0
  with open(path, newline="") as f:
    text = f.read()
  lines = text.splitlines(keepends=True)
  if not lines:
    return 0
  if not lines[-1].endswith("\n"):
    lines = lines[:-1]   # Cut off mid-write.
  if not lines:
    os.remove(path)
    return 0
  header = next(csv.reader([lines[0]]))
  kept, dropped = [lines[0]], 0
  for line in lines[1:]:
    values = next(csv.reader([line]), [])
    try:
      accepted = len(values) == len(header) and keep(dict(zip(header, values)))
    except ValueError:   # A damaged field.
      accepted = False
    if accepted:
      kept.append(line)
    else:
      dropped += 1
  tmp = path + ".tmp"
  with open(tmp, "w", newline="") as f:
    f.writelines(kept)
  os.replace(tmp, path)
  return dropped


def rewind(workdir: str, episodes: int, env_steps: int) -> Dict[str, int]:
  """Cuts the run's records back to a checkpoint holding `episodes` and `env_steps`."""
  return {
      EPISODES_FILE: keep_rows(os.path.join(workdir, EPISODES_FILE),
                               lambda r: int(r["episode"]) <= episodes),
      PROGRESS_FILE: keep_rows(os.path.join(workdir, PROGRESS_FILE),
                               lambda r: float(r["env_steps"]) <= env_steps),
  }


def reward_scale_by_fifth(episodes, num_steps: int):
  """Per fifth of a run (episodes by the step they end at): mean |w r_rec| and the
  pooled std of r_ext, both per player-step, and their ratio (launch.reward_scale).

  `episodes` is the run's episodes.csv as a DataFrame; episode statistics are pooled
  weighted by episode length.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  import pandas as pd  # pylint: disable=g-import-not-at-top
  rows = []
  fifth = _fifths(episodes, num_steps)
  for k in range(5):
    part = episodes[fifth == k]
    n = part["length"].sum()
    if n == 0:
      rows.append({"fifth": k + 1, "episodes": 0})
      continue
    mean = (part["extrinsic_reward_per_step"] * part["length"]).sum() / n
    second = ((part["extrinsic_reward_std"] ** 2 + part["extrinsic_reward_per_step"] ** 2)
              * part["length"]).sum() / n
    std = float(np.sqrt(max(second - mean ** 2, 0.0)))
    rec = float((part["abs_weighted_reciprocal_reward"] * part["length"]).sum() / n)
    rows.append({"fifth": k + 1, "episodes": len(part), "steps": int(n),
                 "episodes_with_game_reward": int((part["extrinsic_reward_std"] > 0).sum()),
                 "mean_abs_weighted_reciprocal_reward": rec, "extrinsic_reward_std": std,
                 "ratio": rec / std if std > 0 else float("inf")})
  return pd.DataFrame(rows)


def _fifths(episodes, num_steps: int):
  """Fifth of the run (0..4) of each episode, by the env step it ended at."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  return np.minimum((episodes["env_steps"] - 1) * 5 // num_steps, 4)


def collective_return(episodes):
  """Sum of all players' returns per episode (the return_p* columns)."""
  return episodes[[c for c in episodes.columns if c.startswith("return_p")]].sum(axis=1)


def learning_by_fifth(episodes, num_steps: int):
  """What a coins run learned, per fifth of it: coins collected per step, P(own coin),
  and collective return per 1,000 steps, each pooled over the fifth's steps (episodes
  run 600-5,000 steps, so per-episode means would weigh a short episode like a long one).
  """
  import pandas as pd  # pylint: disable=g-import-not-at-top
  fifth = _fifths(episodes, num_steps)
  total = collective_return(episodes)
  rows = []
  for k in range(5):
    part = episodes[fifth == k]
    steps = float(part["length"].sum())
    row = {"fifth": k + 1, "episodes": len(part), "steps": int(steps)}
    if steps:
      row["collective_return_per_1000_steps"] = 1000.0 * float(total[fifth == k].sum()) / steps
      if "own_coins" in part:
        coins = float(part["own_coins"].sum() + part["other_coins"].sum())
        row["coins_per_step"] = coins / steps
        row["p_own_coin"] = float(part["own_coins"].sum()) / coins if coins else float("nan")
      # Mean w * r_rec on the player-steps a Reciprocator took its partner's coin, took
      # its own, or took none, over all such steps of the fifth (each episode's mean
      # weighted by its count). The first is what the reciprocal reward does to
      # exploitation; the other two show whether it pays for collecting at all
      # (README, the Melting Pot comparison: paying non-takes taught coin avoidance).
      num_players = sum(c.startswith("return_p") for c in part.columns)
      counts = {"shaping_took_partner_coin": part["other_coins"].astype(float),
                "shaping_took_own_coin": part["own_coins"].astype(float),
                "shaping_otherwise": (num_players * part["length"] - part["own_coins"]
                                      - part["other_coins"]).astype(float)}
      for column, count in counts.items():
        if column in part:
          shaping = part[column].fillna(0.0)
          row[column] = (float((shaping * count).sum() / count.sum())
                         if count.sum() else float("nan"))
    rows.append(row)
  return pd.DataFrame(rows)


def players_by_fifth(episodes, num_steps: int):
  """Each player of a 2-player coins run, per fifth: its P(own coin) (of the coins it
  took, the share of its own colour), coins it took per step, its return and the
  coins of its colour its partner took, per 1,000 steps; pooled over the fifth's steps.

  Why: in a run where the players learn differently (Reciprocators beside naive
  learners, ReciprocatorConfig.reciprocal_players) the pooled numbers of
  learning_by_fifth mix two learners; the paper's shaping claim is about the naive
  learner's own P(own), and exploitation is one player's return against the other's.
  """
  import pandas as pd  # pylint: disable=g-import-not-at-top
  fifth = _fifths(episodes, num_steps)
  rows = []
  for k in range(5):
    part = episodes[fifth == k]
    steps = float(part["length"].sum())
    for i in range(2):
      own, other = float(part[f"own_coins_p{i}"].sum()), float(part[f"other_coins_p{i}"].sum())
      lost = float(part[f"other_coins_p{1 - i}"].sum())
      row = {"fifth": k + 1, "player": i, "episodes": len(part), "steps": int(steps)}
      if steps:
        row.update(p_own_coin=own / (own + other) if own + other else float("nan"),
                   coins_per_step=(own + other) / steps,
                   return_per_1000_steps=1000.0 * float(part[f"return_p{i}"].sum()) / steps,
                   coins_lost_per_1000_steps=1000.0 * lost / steps)
      rows.append(row)
  return pd.DataFrame(rows)


def steady_state_rate(rows, warmup_seconds: float, skip_rows: int,
                      min_rows: int) -> float | None:
  """Env steps per second over a run's steady state, from its progress rows.

  `rows` are (elapsed_seconds, env_steps) in order. Start-up is discarded twice: by
  time (rows before `warmup_seconds`) and by count (the first `skip_rows` rows, which
  hold tracing and the first estimator fits). The window runs from the first row left
  to the last, and must hold at least `min_rows` rows and some progress; otherwise
  the answer is None ("no steady state seen"), never a rate of 0 for a working run
  whose steps were reported late.
  """
  window = [r for k, r in enumerate(rows) if k >= skip_rows and r[0] >= warmup_seconds]
  if len(window) < max(min_rows, 2):
    return None
  (t0, s0), (t1, s1) = window[0], window[-1]
  if s1 <= s0 or t1 <= t0:
    return None
  return (s1 - s0) / (t1 - t0)
