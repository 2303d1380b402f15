"""Do trained coins players prefer their own avatar's colour, or the colours they owned
in training? Plays a run's models against each other in freshly built copies and splits
P(own coin) by where the focal player's colour in that copy came from.

    python results/coins_colour_memorisation/measure.py --runs=WORKDIR[,WORKDIR...] \
        [--builds=3] [--episodes=2] [--seed=0]

For each run, every ordered pair of its models (focal model in slot 0, the other in
slot 1, as `launch.evaluate --stratify` pairs them on coins_0 with the run as its own
background) plays `--builds` fresh copies of `--episodes` episodes. Melting Pot draws a
copy's two colours when the copy is built (`coins.get_player_color_palettes`, recorded
here by `substrates.melting_pot.recorded_colour_draws`); the run's training copies' colours
come from `launch.coin_colours.copy_colours(seed, num_envs)`. Each build is labelled by
what the focal player's colour in it was in training: "own" (a colour that model owned
in a training copy), "partner's" (a colour its partner owned there), "new" (neither).
A player that compares coins with its own avatar has the same P(own) in all three; one
that memorised "these colours are mine" has a high P(own) on "own", a low one on
"partner's". Writes builds.csv (one row per build) and summary.csv (per run and label:
pooled P(own), builds, episodes) to this folder, and copies nothing else.
"""

import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))


def _label(colour: str, own: set, partner: set) -> str:
  if colour in own and colour not in partner:
    return "own"
  if colour in partner and colour not in own:
    return "partner's"
  return "new" if colour not in own | partner else "both"


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--runs", required=True)
  parser.add_argument("--builds", type=int, default=3)
  parser.add_argument("--episodes", type=int, default=2)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import recip_acme  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from launch import coin_colours  # pylint: disable=g-import-not-at-top
  from recip_acme import evaluation  # pylint: disable=g-import-not-at-top
  from substrates import melting_pot  # pylint: disable=g-import-not-at-top

  random.seed(args.seed)
  rows = []
  for workdir in args.runs.split(","):
    name = os.path.basename(workdir.rstrip("/"))
    with open(os.path.join(workdir, "config.json")) as f:
      config = json.load(f)
    training = coin_colours.copy_colours(int(config["seed"]),
                                         int(config["reciprocator"]["num_envs"]))
    population = evaluation.load_population(workdir)
    for focal, background in evaluation.model_pairings(population, population):
      focal_player = focal.manifest.players[0].player
      own = {pair[focal_player] for pair in training}
      partner = {pair[1 - focal_player] for pair in training}
      for build in range(args.builds):
        with melting_pot.recorded_colour_draws() as drawn:
          episodes = evaluation.evaluate_on_scenario(focal, "coins_0", args.episodes, background)
        colour = drawn[-1][0]     # Slot 0 is coins_0's focal slot.
        rows.append(dict(run=name, focal=focal.manifest.players[0].name,
                         background=background.manifest.players[0].name, build=build,
                         focal_colour=colour, partner_colour=drawn[-1][1],
                         label=_label(colour, own, partner),
                         own_coins=episodes["focal_own_coins"].sum(),
                         partner_coins=episodes["focal_partner_coins"].sum(),
                         episodes=len(episodes)))
        print(rows[-1], flush=True)
  builds = pd.DataFrame(rows)
  builds.to_csv(os.path.join(HERE, "builds.csv"), index=False)
  grouped = builds.groupby(["run", "label"])
  summary = grouped[["own_coins", "partner_coins", "episodes"]].sum()
  summary["builds"] = grouped.size()
  summary["p_own_coin"] = summary["own_coins"] / (summary["own_coins"] + summary["partner_coins"])
  summary.reset_index().to_csv(os.path.join(HERE, "summary.csv"), index=False,
                               float_format="%.4g")
  print(summary.round(3).to_string())


if __name__ == "__main__":
  main()
