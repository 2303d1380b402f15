"""launch.coin_colours: which colours the run seed gives each coins copy, and a bad flag.

Run as a subprocess (launch modules define absl flags; two in one process collide).
Known answer: seed 3's two copies give purple to player 1 in one and to player 0 in
the other, which is why colour cannot be memorised per player in that seed.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
  return subprocess.run([sys.executable, "-m", "launch.coin_colours", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=600,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def test_seed_three_gives_one_colour_to_both_players_and_the_pooling_table_is_written(tmp_path):
  out = str(tmp_path / "colours")
  result = _run("--seeds=3,1", "--steps=5", f"--out={out}")
  assert result.returncode == 0, result.stderr[-1500:]
  assert "seed 3: copies [('blue', 'purple'), ('purple', 'red')]; shared ['purple']" in result.stdout
  assert "seed 1: copies [('blue', 'red'), ('green', 'purple')]; shared none" in result.stdout
  with open(os.path.join(out, "README.md")) as f:
    text = f.read()
  assert "| 3 | (blue, purple); (purple, red) | purple |" in text
  assert "- **mean**:" in text and "- **max**:" in text


def test_a_bad_seed_list_is_one_clear_line():
  result = _run("--seeds=1,x")
  assert result.returncode != 0
  last = result.stderr.strip().splitlines()[-1]
  assert "--seeds" in last or "seeds" in last, last
