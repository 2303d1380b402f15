"""Every flag of every CLI in launch/ refuses bad values in one line (issue: reliability).

Table-driven: tests/flag_probe.py tries, on each flag, the values its rule must refuse
(non-numeric, NaN, inf, below the minimum, empty lists, unwritable or missing paths)
and one it must accept. A flag defined without a rule fails here.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ABSL_CLIS = ["launch.train", "launch.reproduce", "launch.evaluate", "launch.export",
             "launch.compare", "launch.compare_agents", "launch.reward_scale",
             "launch.voi_check"]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


@pytest.fixture(scope="module", params=ABSL_CLIS)
def probe(request):
  out = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "flag_probe.py"),
                        request.param], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env=ENV)
  assert out.returncode == 0, out.stderr[-2000:]
  return request.param, json.loads(out.stdout)


def test_every_flag_has_a_rule(probe):
  name, report = probe
  assert report["unvalidated"] == [], f"{name}: flags without cli.allow(...)"
  assert report["results"], f"{name}: no flag was tried"


def test_bad_values_are_refused_in_one_line_and_good_ones_pass(probe):
  name, report = probe
  wrong = []
  for r in report["results"]:
    refused = r["status"] is not None
    lines = r["stderr"].strip().splitlines()
    if refused != r["must_refuse"]:
      wrong.append(f"--{r['flag']}={r['value']!r}: refused={refused}, expected "
                   f"{r['must_refuse']} ({r['stderr'].strip()})")
    elif refused and not (r["status"] == 2 and len(lines) == 1
                          and f"--{r['flag']}=" in lines[0] and "allowed:" in lines[0]
                          and "Traceback" not in r["stderr"]):
      wrong.append(f"--{r['flag']}={r['value']!r}: not one clear line: {r['stderr']!r}")
  assert not wrong, f"{name}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("args,expected", [
    (["launch.train", "--workdir=/proc/forbidden"], "--workdir=/proc/forbidden"),
    (["launch.train", "--reciprocal_weight=nan"], "--reciprocal_weight=nan"),
    (["launch.train", "--conv_channels=0"], "--conv_channels=0"),
    (["launch.reproduce", "--seeds=a,b"], "--seeds=a,b"),
    (["launch.evaluate", "--agents=/no/such/run", "--scenario=coins_0"], "--agents=/no/such/run"),
])
def test_the_command_line_exits_2_with_one_line(args, expected):
  result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=ENV)
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2
  assert len(lines) == 1 and expected in lines[0] and "allowed:" in lines[0], result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("argv,expected", [
    (["--pip=/no/such/pip"], "--pip=/no/such/pip: no such file"),
    (["--pip={pip}", "--timeout=nan"], "--timeout=nan"),
    (["--pip={pip}", "--timeout=-1"], "--timeout=-1"),
    (["--pip={pip}", "--timeout=abc"], "--timeout=abc"),
    (["--pip={pip}", "--archive=/no/such.tar.gz"], "--archive=/no/such.tar.gz"),
    (["--pip={pip}", "--target=/proc/forbidden"], "--target=/proc/forbidden"),
    (["--pip={pip}", "--url="], "--url is empty"),
])
def test_setup_meltingpot_refuses_bad_arguments_in_one_line(argv, expected, capsys):
  from launch import setup_meltingpot  # pylint: disable=import-outside-toplevel
  argv = [a.format(pip=sys.executable) for a in argv]
  with pytest.raises(SystemExit) as exit_info:
    setup_meltingpot.parse_args(argv)
  lines = capsys.readouterr().err.strip().splitlines()
  assert exit_info.value.code == 2
  assert len(lines) == 1 and expected in lines[0], lines
