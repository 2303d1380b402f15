"""Tries bad (and one good) value on every flag of one CLI, in one process; prints JSON.

Run by tests/test_flags.py as ``python tests/flag_probe.py launch.train``: each CLI
defines its flags on absl's global FLAGS, so two CLIs cannot share a process. Values
go through ``cli.parse_flags`` exactly as on the command line (validators included);
nothing is trained and TensorFlow is not imported.
"""

import contextlib
import importlib
import io
import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import flags  # noqa: E402

from launch import cli  # noqa: E402

SELF_VALIDATING = ("bool", "enum")   # absl refuses anything they do not list.


def _fmt(x: float) -> str:
  return str(int(x)) if float(x).is_integer() else repr(float(x))


def cases(rule: cli.Rule, integer: bool):
  """(value, must_be_refused) pairs for a rule; the expectation follows its bounds."""
  out = []
  if rule.kind == "number":
    out += [(v, True) for v in ("abc", "", "nan", "inf", "-inf", "1e400")]
    lo, hi = rule.minimum, rule.maximum
    if lo is not None:
      out += [(_fmt(lo - 1), True), (_fmt(lo), rule.strict)]
    else:
      out += [("-1", False), ("0", False)]
    if hi is not None:
      out += [(_fmt(hi + 1), True)]
    good = (lo + hi) / 2 if lo is not None and hi is not None else (lo if lo is not None else 0) + 1
    out.append((_fmt(math.ceil(good)) if integer else _fmt(good), False))
    if integer:
      out.append(("1.5", True))
  elif rule.kind == "integer_list":
    out += [("", True), ("a,b", True), ("1.5", True)]
    lo = rule.minimum if rule.minimum is not None else 0
    if rule.minimum is not None:
      out += [(_fmt(lo - 1), True), (_fmt(lo), rule.strict)]
    out.append((f"{_fmt(lo + 1)},{_fmt(lo + 2)}", False))
  elif rule.kind == "name_list":
    out += [("", True), (",", True)]
  elif rule.kind == "name":
    out += [("", True), ("   ", True), ("something", False)]
  elif rule.kind == "output_dir":
    out += [("", True), ("/proc/forbidden/run", True), (os.path.abspath(__file__), True),
            (os.path.join(ROOT, ".pytest_cache", "probe_out"), False)]
  elif rule.kind == "input_path":
    out += [("", True), ("/no/such/path", True), (ROOT, False)]
  elif rule.kind == "input_path_list":
    out += [("", True), ("/no/such/path", True), (ROOT, False)]
  elif rule.kind == "host":
    out += [("", True), ("a b", True), ("10.0.0.1:6379", True), ("127.0.0.2", False)]
  elif rule.kind == "host_port":
    out += [("", True), ("nohost", True), (":6379", True), ("h:0", True), ("h:99999", True),
            ("h:port", True), ("127.0.0.2:6379", False), ("auto", False)]
  elif rule.kind == "resource_list":
    out += [("", True), ("node", True), (":1", True), ("node:x", True), ("node:0", True),
            ("node:nan", True), ("node:1,gpu:-1", True), ("actor_node:1", False),
            ("actor_node:0.5,big:2", False)]
  elif rule.kind == "free_list":
    out += [("", False)]
  else:
    raise ValueError(f"no cases for rule kind {rule.kind!r}")
  return out


def _parse(argv):
  """(exit status or None, what went to stderr)."""
  err = io.StringIO()
  flags.FLAGS.unparse_flags()
  with contextlib.redirect_stderr(err):
    try:
      cli.parse_flags(argv)
      status = None
    except SystemExit as e:
      status = e.code
  return status, err.getvalue()


def main(module_name: str) -> None:
  module = importlib.import_module(module_name)
  report = {"unvalidated": [], "results": []}
  for flag in flags.FLAGS.get_flags_for_module(module):
    if flag.flag_type().split()[-1] in SELF_VALIDATING:
      continue
    rule = cli.RULES.get(flag.name)
    if rule is None:
      report["unvalidated"].append(flag.name)
      continue
    for value, refuse in cases(rule, flag.flag_type() == "int"):
      status, stderr = _parse(["prog", f"--{flag.name}={value}"])
      report["results"].append({"flag": flag.name, "value": value, "must_refuse": refuse,
                                "status": status, "stderr": stderr})
  flags.FLAGS.unparse_flags()
  print(json.dumps(report))


if __name__ == "__main__":
  main(sys.argv[1])
