"""What every entry point does with bad input: one line on stderr, exit status 2.

Every flag of every CLI in ``launch/`` says what it allows, right after its
definition: ``cli.allow("num_steps", cli.above(0, integer=True))``. The rule is
registered as an absl validator, so a bad value is refused while the flags are
parsed, before TensorFlow is imported or anything is written, and ``cli.run(main)``
turns absl's refusal into one line naming the flag, the value and what is allowed.
Enum and bool flags need no rule: absl refuses what they do not list.
``tests/test_flags.py`` tries bad values on every flag of every CLI against its rule,
and fails for a flag that has none.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import os
import re
import sys
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence

from absl import app
from absl import flags

from launch import paths

FLAGS = flags.FLAGS


def fail(message: str) -> NoReturn:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def one_line(text: str, limit: int = 400) -> str:
  line = " ".join(str(text).split())
  return line if len(line) <= limit else line[:limit - 3] + "..."


@dataclasses.dataclass(frozen=True)
class Rule:
  """What one flag allows.

  ``check(value)`` returns None when the value is allowed, else the reason. ``kind``
  and the bounds are read by the flag test to choose the values it must see refused.
  """
  allowed: str
  kind: str
  check: Callable[[Any], Optional[str]]
  minimum: Optional[float] = None
  strict: bool = False
  maximum: Optional[float] = None


# Every rule registered in this process, by flag name (read by tests/test_flags.py).
RULES: Dict[str, Rule] = {}


def allow(name: str, rule: Rule) -> None:
  """Registers `rule` as the absl validator of flag `name` (None = unset is allowed)."""
  RULES[name] = rule

  def checker(value: Any) -> bool:
    if value is None:
      return True
    reason = rule.check(value)
    if reason is not None:
      raise flags.ValidationError(f"{reason}; allowed: {rule.allowed}")
    return True

  flags.register_validator(name, checker)


def _bounds_text(minimum, strict, maximum) -> str:
  parts = []
  if minimum is not None:
    parts.append(f"{'>' if strict else '>='} {minimum:g}")
  if maximum is not None:
    parts.append(f"<= {maximum:g}")
  return " and ".join(parts)


def _number_reason(x: float, minimum, strict, maximum) -> Optional[str]:
  if not math.isfinite(x):
    return "not a finite number"
  if minimum is not None and (x <= minimum if strict else x < minimum):
    return "out of range"
  if maximum is not None and x > maximum:
    return "out of range"
  return None


def number(minimum: Optional[float] = None, *, strict: bool = False,
           maximum: Optional[float] = None, integer: bool = False) -> Rule:
  """A finite number within the bounds (NaN and inf are always refused)."""
  what = "an integer" if integer else "a finite number"
  bounds = _bounds_text(minimum, strict, maximum)
  return Rule(f"{what} {bounds}".strip(), "number",
              lambda x: _number_reason(float(x), minimum, strict, maximum),
              minimum, strict, maximum)


def above(minimum: float, integer: bool = False) -> Rule:
  return number(minimum, strict=True, integer=integer)


def at_least(minimum: float, integer: bool = False) -> Rule:
  return number(minimum, integer=integer)


def integers(minimum: Optional[int] = None, *, strict: bool = False) -> Rule:
  """A non-empty comma-separated list of integers within the bounds."""
  bounds = _bounds_text(minimum, strict, None)

  def check(values: Sequence[str]) -> Optional[str]:
    if not values:
      return "empty list"
    for v in values:
      try:
        x = int(str(v).strip())
      except ValueError:
        return f"{v!r} is not an integer"
      if _number_reason(x, minimum, strict, None):
        return f"{x} is out of range"
    return None

  return Rule(f"a non-empty comma-separated list of integers {bounds}".strip(),
              "integer_list", check, minimum, strict)


def names(choices: Optional[Sequence[str]] = None) -> Rule:
  """A non-empty list of non-empty names (from `choices`, when given)."""

  def check(values: Sequence[str]) -> Optional[str]:
    if not values or any(not str(v).strip() for v in values):
      return "empty name"
    unknown = [v for v in values if choices is not None and v not in choices]
    return f"unknown {', '.join(unknown)}" if unknown else None

  allowed = ("a non-empty comma-separated list of names" if choices is None else
             f"a non-empty comma-separated list of {', '.join(choices)}")
  return Rule(allowed, "name_list", check)


def name() -> Rule:
  """A non-empty name (what it names is checked where it is used)."""
  return Rule("a non-empty name", "name",
              lambda v: "empty" if not str(v).strip() else None)


def _host_reason(host: str) -> Optional[str]:
  if not host.strip():
    return "empty host"
  if any(c.isspace() for c in host) or ":" in host or "/" in host:
    return f"{host!r} is not a host name or IPv4 address"
  return None


def host() -> Rule:
  """A host name or IPv4 address (no port)."""
  return Rule("a host name or IPv4 address", "host", lambda v: _host_reason(str(v)))


def host_port(*keywords: str) -> Rule:
  """HOST:PORT with a port in 1..65535, or one of `keywords` (e.g. Ray's 'auto')."""

  def check(value: str) -> Optional[str]:
    value = str(value)
    if value in keywords:
      return None
    address, _, port = value.rpartition(":")
    if not address:
      return f"{value!r} has no HOST:PORT form"
    reason = _host_reason(address)
    if reason is not None:
      return reason
    if not port.isdigit() or not 0 < int(port) < 65536:
      return f"port {port!r} is not in 1..65535"
    return None

  alternatives = "".join(f" or {k!r}" for k in keywords)
  return Rule(f"HOST:PORT with a port in 1..65535{alternatives}", "host_port", check)


def resources() -> Rule:
  """A non-empty list of NAME:AMOUNT pairs with AMOUNT > 0 (Ray custom resources)."""

  def check(values: Sequence[str]) -> Optional[str]:
    if not values:
      return "empty list"
    for v in values:
      key, _, amount = str(v).partition(":")
      if not key.strip() or not amount:
        return f"{v!r} is not NAME:AMOUNT"
      try:
        x = float(amount)
      except ValueError:
        return f"{amount!r} is not a number"
      if _number_reason(x, 0, True, None):
        return f"{amount} is not a finite number > 0"
    return None

  return Rule("a non-empty comma-separated list of NAME:AMOUNT with AMOUNT > 0",
              "resource_list", check)


def parse_resources(values: Optional[Sequence[str]]) -> Dict[str, float]:
  """`resources()` values as a dict (empty for None)."""
  pairs = (str(v).partition(":") for v in values or [])
  return {name.strip(): float(amount) for name, _, amount in pairs}


def any_list() -> Rule:
  """A list passed through as it is (e.g. extra flags for a child command)."""
  return Rule("any comma-separated list", "free_list", lambda v: None)


def output_dir() -> Rule:
  return Rule("a directory that exists or can be created, and is writable", "output_dir",
              paths.writable_dir_reason)


def existing_path() -> Rule:
  return Rule("an existing file or directory", "input_path",
              lambda v: None if str(v).strip() and os.path.exists(os.path.expanduser(v))
              else "no such file or directory")


def existing_paths() -> Rule:
  def check(values: Sequence[str]) -> Optional[str]:
    if not values:
      return "empty list"
    missing = [v for v in values if not os.path.exists(os.path.expanduser(v))]
    return f"no such file or directory: {', '.join(missing)}" if missing else None
  return Rule("a non-empty comma-separated list of existing files or directories",
              "input_path_list", check)


def parse_flags(argv: List[str]) -> List[str]:
  """absl's flag parsing, with every refusal turned into one line and exit status 2."""
  try:
    return FLAGS(argv)
  except flags.Error as e:
    message = one_line(e)
    # A list flag's value is shown as Python prints it; show it as it was typed.
    message = re.sub(r"^flag --(\w+)=(\[.*?\]): ",
                     lambda m: f"flag --{m.group(1)}={','.join(ast.literal_eval(m.group(2)))}: ",
                     message)
    match = re.match(r"flag --(\w+)=", message)
    if match and match.group(1) in RULES and "allowed:" not in message:
      message += f"; allowed: {RULES[match.group(1)].allowed}"
    fail(message)


def run(main: Callable[[List[str]], Any]) -> None:
  """app.run with one-line flag errors (see parse_flags)."""
  app.run(main, flags_parser=parse_flags)
