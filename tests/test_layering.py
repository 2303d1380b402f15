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


def _module_name(path: pathlib.Path) -> str:
  parts = list(path.relative_to(ROOT).with_suffix("").parts)
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_one_that_imports_it_back():
  """Counting imports inside functions too: a lazy import is still a dependency."""
  files = [p for pkg in ("recip_acme", "substrates") for p in (ROOT / pkg).rglob("*.py")]
  modules = {_module_name(p): p for p in files}
  graph = {}
  for name, path in modules.items():
    targets = {m for m in _imported_modules(path) if m in modules}
    # `from recip_acme import experiments` names the module in its alias.
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.ImportFrom) and node.module:
        targets.update(f"{node.module}.{a.name}" for a in node.names
                       if f"{node.module}.{a.name}" in modules)
    graph[name] = targets - {name}
  state, cycles = {}, []

  def visit(node, stack):
    state[node] = "open"
    for nxt in sorted(graph[node]):
      if state.get(nxt) == "open":
        cycles.append(stack[stack.index(nxt):] + [nxt])
      elif nxt not in state:
        visit(nxt, stack + [nxt])
    state[node] = "done"

  for name in sorted(graph):
    if name not in state:
      visit(name, [name])
  assert not cycles, f"import cycles: {cycles}"


def test_experiment_layer_exports_no_name_that_is_also_a_module():
  """Importing a submodule sets the package attribute of its name, which would hide a
  lazily exported function of the same name (experiments.train once did)."""
  from recip_acme import experiments
  modules = {p.stem for p in (ROOT / "recip_acme" / "experiments").glob("*.py")}
  assert not modules & set(experiments._EXPORTS)   # pylint: disable=protected-access
