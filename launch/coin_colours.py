r"""What a coins player can see of colour: per run seed, which colours each environment
copy gives the two players, and the cell colours of a player's view under each pooling.

  python -m launch.coin_colours                  # seeds 1-3, 400 random steps per seed

Why: P(own coin) moves only once a player tells its own coins from its partner's. Two
facts bound how hard that is, and this prints both.
- Melting Pot draws each copy's two colours when the copy is built, and the run seed
  fixes the copies (`substrates.melting_pot.seeded_copies`). Where one colour belongs to
  player 0 in one copy and to player 1 in another, "this colour is mine" cannot be
  memorised; the player must compare coins with its own avatar.
- How far apart coin colours are in the policy's input (`--rgb_pooling`): the cell
  colours seen in player 0's downsampled view, with their counts, under "mean" and "max".

The copy colours are read by recording the arguments of Melting Pot's own coins config
function `get_player_color_palettes` while the copies are built (wrapped, not changed:
`substrates.melting_pot.recorded_colour_draws`).
Output: --out/README.md with this command.
"""

import os
import random
from typing import Dict, List, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import flags  # noqa: E402

from launch import cli  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("seeds", ["1", "2", "3"], "Run seeds whose copies to build.")
cli.allow("seeds", cli.integers(minimum=0))
flags.DEFINE_integer("num_envs", 2, "Environment copies per run (launch.train's --num_envs).")
cli.allow("num_envs", cli.at_least(1, integer=True))
flags.DEFINE_integer("steps", 400, "Random joint steps per seed for the cell colours.")
cli.allow("steps", cli.above(0, integer=True))
flags.DEFINE_string("out", "results/coin_colours", "Output folder.")
cli.allow("out", cli.output_dir())


def copy_colours(seed: int, num_envs: int) -> List[Tuple[str, str]]:
  """(player 0's colour, player 1's colour) of each copy `seeded_copies` builds."""
  from substrates import melting_pot  # pylint: disable=g-import-not-at-top
  # The frame-limit lookup (cached) draws and restores Python's random state inside the
  # first build; done first, so the only draws recorded are the copies' own.
  melting_pot.episode_frame_limit("coins", ("default",) * 2)
  with melting_pot.recorded_colour_draws() as drawn:
    envs = melting_pot.seeded_copies("coins", melting_pot.AdapterConfig(), num_envs, seed)
  for env in envs:
    env.close()
  if len(drawn) != num_envs:
    raise RuntimeError(f"expected one colour draw per copy ({num_envs}); saw {len(drawn)}")
  return list(drawn)


def shared_colours(copies: List[Tuple[str, str]]) -> List[str]:
  """Colours that belong to player 0 in one copy and to player 1 in another."""
  return sorted({a for a, _ in copies} & {b for _, b in copies})


def cell_colours(seed: int, steps: int) -> Dict[str, List[Tuple[Tuple[int, ...], int]]]:
  """Most common cell colours of player 0's view under each pooling, random play."""
  import collections  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from substrates import melting_pot  # pylint: disable=g-import-not-at-top
  random.seed(seed)
  env = melting_pot.MeltingPotSubstrate("coins", melting_pot.AdapterConfig(rgb_downsample=1))
  rng = np.random.default_rng(seed)
  counts = {p: collections.Counter() for p in melting_pot.RGB_POOLINGS}
  env.reset()
  for _ in range(steps):
    step = env.step(rng.integers(0, env.num_actions[0], size=env.num_players))
    for pooling in counts:
      cells = melting_pot.downsample_rgb(step.observations[0], melting_pot.CELL_PIXELS, pooling)
      counts[pooling].update(tuple(int(v) for v in c) for c in cells.reshape(-1, 3))
  env.close()
  return {p: c.most_common(8) for p, c in counts.items()}


def main(argv):
  del argv
  import recip_acme  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  seeds = [int(s) for s in FLAGS.seeds]
  lines = ["# What a coins player can see of colour", "",
           "Made by (from the project root):", "",
           f"    python -m launch.coin_colours --seeds={','.join(FLAGS.seeds)} "
           f"--num_envs={FLAGS.num_envs} --steps={FLAGS.steps}", "",
           "## Colours of each environment copy (player 0, player 1), per run seed", "",
           "| seed | copies | a colour owned by different players in different copies |",
           "|---|---|---|"]
  for seed in seeds:
    copies = copy_colours(seed, FLAGS.num_envs)
    shared = shared_colours(copies)
    lines.append(f"| {seed} | {'; '.join(f'({a}, {b})' for a, b in copies)} | "
                 f"{', '.join(shared) if shared else 'none'} |")
    print(f"seed {seed}: copies {copies}; shared {shared or 'none'}", flush=True)
  lines += ["", f"## Cell colours in player 0's view (8x8 cells, 0-255), seed {seeds[0]}, "
            f"{FLAGS.steps} random steps", "",
            "The most common colours and how many cells had them, per pooling "
            "(`--rgb_pooling`). Black is the floor, grey the walls; the rest are avatars and "
            "coins.", ""]
  for pooling, common in cell_colours(seeds[0], FLAGS.steps).items():
    lines.append(f"- **{pooling}**: " + ", ".join(f"{c} x{n}" for c, n in common))
    print(pooling, common, flush=True)
  os.makedirs(FLAGS.out, exist_ok=True)
  with open(os.path.join(FLAGS.out, "README.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print(f"wrote {FLAGS.out}/README.md")


if __name__ == "__main__":
  cli.run(main)
