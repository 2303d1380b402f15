"""Data and imports flow one way: substrates/ (environments) never import the library."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _imported_modules(path: pathlib.Path):
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      yield node.module


def test_substrates_import_nothing_from_recip_acme():
  offenders = {str(p.relative_to(ROOT)): m for p in (ROOT / "substrates").glob("*.py")
               for m in _imported_modules(p) if m.split(".")[0] == "recip_acme"}
  assert not offenders, f"substrates/ must not import recip_acme: {offenders}"
