"""Every benchmark script runs and prints its measurement lines, at its smallest setting.

Why: benchmarks are not run by anything else, and they reach into the agent (the acting
loop, the writers); a refactor once left `benchmarks/actor_memory.py` calling a helper
that no longer existed. These tests check that each script still runs end to end, not
its numbers (timings belong in the scripts' output, never in a pass/fail test).
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = {
    "throughput_writes_profile": (
        ["benchmarks/throughput.py", "--sections", "writes,profile", "--seconds", "1"],
        ["the joint writer", "coins     substrate", "clean_up  substrate",
         "coins, substrate split substrate"]),
    "actor_memory": (
        ["benchmarks/actor_memory.py", "--parts", "tf_read,actor", "--seconds", "1",
         "--warmup", "0.5"],
        ["tf_read", "actor "]),
    "substrate_threads": (["benchmarks/substrate_threads.py", "--steps", "20", "--rounds", "1"],
                          ["one thread", "median speed-up"]),
    "influence_math": (["benchmarks/influence_math.py", "--steps", "20", "--repeats", "1"],
                       ["coins N=2  reciprocal_step", "clean_up N=7 voi"]),
    "paper_games": (["benchmarks/paper_games.py", "--batch", "256", "--episodes", "1",
                     "--experiments", "coins_nl_vs_nl"],
                    ["raw game, random actions", "coins_nl_vs_nl", "breakdown", "with XLA"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_script_runs(name):
  args, expected = CASES[name]
  result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  for text in expected:
    assert text in result.stdout, f"{text!r} not in the output of {name}:\n{result.stdout}"
