"""The layout's rules, checked on the source: no import cycle, dependencies pointing one way, and
no likelihood or decoder name compared outside ``likelihoods/``."""

from __future__ import annotations

import ast
import pathlib

import pytest

import likelihoods
from likelihoods import decoders

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("likelihoods", "vae", "experiments")

# package prefix -> prefixes it must not import (study -> evaluation -> training -> model;
# data -> likelihoods; likelihoods -> nothing of ours).
FORBIDDEN = {
  "likelihoods": ("vae", "experiments"),
  "vae.data": ("vae.model", "vae.objective", "vae.training", "vae.evaluation", "vae.study"),
  "vae.model": ("vae.training", "vae.evaluation", "vae.study", "vae.data"),
  "vae.objective": ("vae.training", "vae.evaluation", "vae.study", "vae.data"),
  "vae.workdir": ("vae.training", "vae.evaluation", "vae.study", "vae.data", "vae.model"),
  "vae.mesh": ("vae.training", "vae.evaluation", "vae.study", "vae.data", "vae.model"),
  "vae.checkpoints": ("vae.training", "vae.evaluation", "vae.study", "vae.data"),
  "vae.batching": ("vae.training", "vae.evaluation", "vae.study", "vae.data", "vae.model"),
  "vae.training": ("vae.evaluation", "vae.study", "experiments"),
  "vae.evaluation": ("vae.study", "experiments", "vae.training"),
  "vae.study": ("experiments",),
}


def _modules() -> dict[str, pathlib.Path]:
  out = {}
  for package in PACKAGES:
    for path in (ROOT / package).rglob("*.py"):
      parts = path.relative_to(ROOT).with_suffix("").parts
      name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
      out[name] = path
  return out


def _imports(name: str, path: pathlib.Path, modules: dict) -> set[str]:
  """Our modules that ``name`` imports (anywhere in the file, function-level imports too)."""
  found = set()
  package = name if path.name == "__init__.py" else name.rpartition(".")[0]
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
      targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
    else:
      continue
    found.update(t for t in targets if t in modules and t != name)
  return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
  modules = _modules()
  return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_the_import_graph_has_no_cycle(graph):
  # A package's __init__ re-exporting its submodules is not a cycle of the submodules.
  edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
  state, cycle = {}, []

  def visit(node, path):
    state[node] = "open"
    for nxt in sorted(edges[node]):
      if state.get(nxt) == "open":
        cycle.append(path[path.index(nxt) :] + [nxt])
      elif nxt not in state:
        visit(nxt, path + [nxt])
    state[node] = "done"

  for node in sorted(edges):
    if node not in state:
      visit(node, [node])
  assert not cycle, f"import cycles: {cycle}"


def test_dependencies_point_one_way(graph):
  bad = [
    (module, target)
    for module, targets in graph.items()
    for prefix, forbidden in FORBIDDEN.items()
    if module == prefix or module.startswith(prefix + ".")
    for target in targets
    if any(target == f or target.startswith(f + ".") for f in forbidden)
  ]
  assert not bad, f"imports against the direction of the layout: {bad}"


def _compared_names(tree: ast.AST, names: set[str]) -> list[tuple[int, str]]:
  hits = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Compare):
      operands = [node.left, *node.comparators]
      for operand in operands:
        elements = (
          operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
        )
        for e in elements:
          if isinstance(e, ast.Constant) and e.value in names:
            hits.append((node.lineno, e.value))
  return hits


def test_no_likelihood_or_decoder_name_is_compared_outside_likelihoods():
  names = set(likelihoods.available()) | set(decoders.names())
  offenders = []
  for package in ("vae", "experiments"):
    for path in (ROOT / package).rglob("*.py"):
      for line, name in _compared_names(ast.parse(path.read_text()), names):
        offenders.append(f"{path.relative_to(ROOT)}:{line} compares {name!r}")
  assert not offenders, offenders


def test_the_name_check_catches_a_comparison():
  tree = ast.parse('if config.likelihood == "bernoulli" or d in ("gaussian_fixed", "x"): pass')
  assert [name for _, name in _compared_names(tree, {"bernoulli", "gaussian_fixed"})] == [
    "bernoulli",
    "gaussian_fixed",
  ]
