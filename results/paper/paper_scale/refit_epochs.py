"""How many estimator epochs a Coins refit needs at the paper's batch (#15, deliver 4).

A branch test inside one coins_r_vs_r run at batch 2048 (the --paper_scale policy
settings): at every refit, from the same warm-started estimators and optimiser, refit
with each of --epochs (say 2) and with the reference 5 again (other samples of the
same replay), then restore and refit with 5 as the run does. Each branch's VoI on the
newest episode (the rewards the next episode is paid by are made of the same
estimators) is compared with the reference refit's:

  rel_rms_diff   ||voi_branch - voi_ref|| / ||voi_ref|| over every step, game and pair
  correlation    of the two VoI arrays
  sign_agreement on the 10 % of entries with the largest |voi_ref| (coin takes)

Every branch runs its epochs on the first fit too (from scratch), where the run itself
uses InfluenceConfig.first_fit_epochs = 5. The 5-epoch branch is the noise floor: how much two refits that differ only in which
samples they drew disagree. Writes refit_epochs.csv and refit_epochs.png beside this
file.

  python results/paper/paper_scale/refit_epochs.py [--epochs 2] [--episodes 14] [--seed 0]
"""

import argparse
import dataclasses
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", ".."))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

import recip_acme  # noqa: E402,F401
from recip_acme import paper  # noqa: E402
from recip_acme.agents.reciprocator import batched  # noqa: E402
from recip_acme.influence import networks  # noqa: E402

REFERENCE_EPOCHS = 5


def compare(voi: np.ndarray, reference: np.ndarray) -> dict:
  large = np.abs(reference) >= np.percentile(np.abs(reference), 90)
  return {"rel_rms_diff": float(np.sqrt(np.mean((voi - reference) ** 2))
                                / np.sqrt(np.mean(reference ** 2))),
          "correlation": float(np.corrcoef(voi.ravel(), reference.ravel())[0, 1]),
          "sign_agreement_top10": float(np.mean(np.sign(voi[large])
                                                == np.sign(reference[large])))}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--epochs", type=int, default=2)
  parser.add_argument("--episodes", type=int, default=14)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  scale, _ = paper.with_paper_scale("coins_r_vs_r", {}, None)   # Its epochs: the branches.
  env, config = paper.experiment_setup("coins_r_vs_r", paper.PAPER_SCALE_BATCH, args.seed,
                                       influence_epochs=REFERENCE_EPOCHS)
  trainer = batched.BatchedReciprocators(env, paper.with_overrides(config, **scale))
  learner, estimators = trainer.influence, trainer.estimators
  reference_config = learner._config  # pylint: disable=protected-access
  newest = {}
  add_episode = trainer.replay.add_episode

  def remember(states, actions, rewards, time_left):
    newest.update(states=states, actions=actions, time_left=time_left)
    return add_episode(states, actions, rewards, time_left)

  def voi() -> np.ndarray:
    steps, games = newest["actions"].shape[:2]
    flat = lambda x: tf.reshape(x, [steps * games, -1])
    predictions = estimators(flat(newest["states"]), flat(newest["actions"]),
                             tf.reshape(newest["time_left"], [-1]))
    return networks.value_of_influence(predictions, reference_config.gamma,
                                       reference_config.future_term).numpy()

  state = (list(estimators.variables) + list(learner._optimizer.variables)  # pylint: disable=protected-access
           + [learner._num_fits, learner._episodes_at_last_fit])  # pylint: disable=protected-access
  refit, rows = learner.step, []

  def branched_refit():
    saved = [v.numpy() for v in state]
    branches = {}
    for epochs in (args.epochs, REFERENCE_EPOCHS):
      learner._config = dataclasses.replace(reference_config, epochs=epochs,  # pylint: disable=protected-access
                                            first_fit_epochs=epochs)
      start = time.perf_counter()
      refit()
      branches[epochs] = (voi(), time.perf_counter() - start)
      for variable, value in zip(state, saved):
        variable.assign(value)
    learner._config = reference_config  # pylint: disable=protected-access
    start = time.perf_counter()
    refit()
    reference, seconds = voi(), time.perf_counter() - start
    for epochs, (branch, branch_seconds) in branches.items():
      rows.append({"episode": trainer.episodes, "epochs": epochs,
                   "sgd_steps": int(np.ceil(epochs * reference_config.samples_per_epoch
                                            / reference_config.batch_size)),
                   **compare(branch, reference), "branch_seconds": branch_seconds,
                   "reference_seconds": seconds})
      print(rows[-1], flush=True)

  trainer.replay.add_episode = remember
  learner.step = branched_refit
  try:
    for _ in range(args.episodes):
      trainer.run_episode()
  finally:
    trainer.close()
  df = pd.DataFrame(rows)
  df.to_csv(os.path.join(HERE, "refit_epochs.csv"), index=False)
  later = df[df["episode"] > df["episode"].min()]          # After the first fit.
  print(later.groupby("epochs")[["rel_rms_diff", "correlation", "sign_agreement_top10",
                                 "branch_seconds"]].mean().round(3).to_string())
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
  for epochs, group in df.groupby("epochs"):
    label = (f"{epochs} epochs" + (" (another 5-epoch refit: the noise floor)"
                                   if epochs == REFERENCE_EPOCHS else ""))
    ax[0].plot(group["episode"], group["rel_rms_diff"], "o-", label=label)
    ax[1].plot(group["episode"], group["correlation"], "o-", label=label)
  ax[0].set(xlabel="episode of the refit", ylabel="relative RMS difference of VoI",
            title=f"VoI vs the 5-epoch refit (seed {args.seed})")
  ax[1].set(xlabel="episode of the refit", ylabel="correlation with the 5-epoch VoI")
  ax[0].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "refit_epochs.png"), dpi=100)


if __name__ == "__main__":
  main()
