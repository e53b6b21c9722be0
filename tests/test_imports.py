"""The package's import graph: every module imports on its own, `import ltjax` loads almost
nothing, and the framework never imports a method room (statically or when it is imported).

A cycle shows only when the import starts at one of its members, so each module is imported
first, with every `ltjax` module forgotten before it (third-party modules stay loaded, which
keeps this to seconds; modules that define command-line flags get an interpreter each), and
the `ltjax` modules each import loaded are recorded.
"""

import ast
import json
import os
import pkgutil
import subprocess
import sys

import ltjax
import ltjax.methods

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "ltjax")
# The framework: what every method shares. It never imports a method room.
FRAMEWORK = ("config", "data", "models", "losses", "train", "runs", "core")
# Entry points and public paths at the top of the package (they may import the rooms).
TOP_LEVEL = ("main", "methods", "metrics", "report", "reproduce")
# Modules that define absl flags at import (a second definition in one interpreter is an error).
_FLAG_MODULES = ("ltjax.main", "ltjax.dlsa.feature_report")

_IMPORT_EACH = r"""
import importlib, json, sys, traceback
failed, loaded = [], {}
for name in sys.argv[1:]:
  for old in [m for m in sys.modules if m == "ltjax" or m.startswith("ltjax.")]:
    del sys.modules[old]
  try:
    importlib.import_module(name)
  except Exception:
    failed.append(name + ":\n" + traceback.format_exc(limit=6))
  loaded[name] = sorted(m for m in sys.modules if m.startswith("ltjax."))
print(json.dumps({"failed": failed, "loaded": loaded}))
"""


def _modules():
  return sorted(m.name for m in pkgutil.walk_packages(ltjax.__path__, "ltjax."))


def _rooms() -> list[str]:
  """The method rooms: the subpackages of ltjax that hold a registered record."""
  return sorted({_room_of(r) for r in ltjax.methods.INSTALLED})


def _room_of(record) -> str:
  # A record lives in `ltjax.<room>.record`; find it by identity among the room modules.
  for name, module in list(sys.modules.items()):
    if name.startswith("ltjax.") and name.endswith(".record") and \
        getattr(module, "RECORD", None) is record:
      return name.split(".")[1]
  raise AssertionError(f"no ltjax.<room>.record module holds record {record.name!r}")


def _is_room_module(name: str, rooms) -> bool:
  parts = name.split(".")
  return len(parts) > 1 and parts[0] == "ltjax" and (parts[1] in rooms or parts[1] == "methods")


def test_the_package_has_the_modules_this_test_walks():
  names = _modules()
  assert len(names) > 60
  for expected in ("ltjax.train.setup", "ltjax.core.metrics", "ltjax.core.plugins",
                   "ltjax.decoupled.stage", "ltjax.ride.router", "ltjax.dlsa.pipeline",
                   "ltjax.granularity.attach"):
    assert expected in names
  # Every top-level entry is framework, a top-level entry point, or a registered room.
  top = {n.split(".")[1] for n in names}
  assert top == set(FRAMEWORK) | set(TOP_LEVEL) | set(_rooms()), top
  assert set(_rooms()) == {"decoupled", "dlsa", "granularity", "ride"}


def _imported_names(path: str) -> list[tuple[int, str]]:
  """(line, module) of every import in a file, at module level or inside a function."""
  tree = ast.parse(open(path, encoding="utf-8").read(), path)
  out = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out.extend((node.lineno, a.name) for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      out.append((node.lineno, node.module))
      out.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
  return out


def test_no_framework_module_imports_a_method_room():
  rooms = _rooms()
  offending = []
  for package in FRAMEWORK:
    for root, _, files in os.walk(os.path.join(PACKAGE, package)):
      for f in files:
        if f.endswith(".py"):
          path = os.path.join(root, f)
          offending += [f"{os.path.relpath(path, REPO)}:{line}: {name}"
                        for line, name in _imported_names(path) if _is_room_module(name, rooms)]
  assert not offending, "\n".join(offending)


def test_the_layering_check_sees_an_import_inside_a_function(tmp_path):
  """The check above must catch the kind of edge that hid before (an import in a function)."""
  path = tmp_path / "m.py"
  path.write_text("def f():\n  from ltjax.ride import distill\n  import ltjax.methods\n")
  names = [n for _, n in _imported_names(str(path)) if _is_room_module(n, _rooms())]
  assert names == ["ltjax.ride", "ltjax.ride.distill", "ltjax.methods"]


def _import_each(names):
  proc = subprocess.run([sys.executable, "-c", _IMPORT_EACH, *names], cwd=REPO,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_module_imports_first_and_the_framework_loads_no_room():
  # `__main__` modules run their command when imported.
  names = [n for n in _modules() if n not in _FLAG_MODULES and not n.endswith(".__main__")]
  out = _import_each(names)
  assert not out["failed"], "\n".join(out["failed"])[-6000:]
  rooms = _rooms()
  for name, loaded in out["loaded"].items():
    if name.split(".")[1] in FRAMEWORK:
      stray = [m for m in loaded if _is_room_module(m, rooms)]
      assert not stray, f"importing {name} loaded method-room modules {stray}"
  for name in _FLAG_MODULES:
    proc = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_import_ltjax_loads_only_the_xla_defaults():
  proc = subprocess.run(
      [sys.executable, "-c", "import sys, ltjax; print(sorted(m for m in sys.modules "
       "if m == 'ltjax' or m.startswith('ltjax.')))"], cwd=REPO, capture_output=True,
      text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip() == str(["ltjax", "ltjax.core", "ltjax.core.xla_cpu"])


def test_the_notebook_imports_work_without_the_rooms():
  """The pure pieces a notebook composes load without any method room."""
  code = ("import sys\nfrom ltjax import data, models, losses, metrics\n"
          "from ltjax.core import optim\nfrom ltjax.train import steps\n"
          "assert losses.ride_loss and losses.neighbor_silencing_loss\n"
          "print([m for m in sys.modules if m.split('.')[:2] in "
          f"{[['ltjax', r] for r in _rooms()] + [['ltjax', 'methods']]}])")
  proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip() == "[]"


def _module_graph() -> dict[str, set[str]]:
  """{module: the ltjax modules it imports at module level}, with each module's parent
  packages (importing a.b.c runs a/__init__ and a/b/__init__ first)."""
  names = {m: None for m in ["ltjax", *_modules()]}
  def resolve(name):
    while name and name not in names:
      name = name.rsplit(".", 1)[0] if "." in name else ""
    return name or None
  graph = {}
  for name in names:
    module = sys.modules.get(name) or __import__("importlib").util.find_spec(name)
    path = getattr(module, "__file__", None) or module.origin
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    out = set()
    for node in tree.body:
      targets = []
      if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
      out.update(r for t in targets if t.startswith("ltjax") and (r := resolve(t)) != name
                 and r is not None)
    parts = name.split(".")
    out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    graph[name] = out
  return graph


def test_no_import_circle_between_modules():
  """Strongly connected components of the module-level import graph: a package importing its
  own submodules (an __init__ re-exporting them) is the only allowed circle."""
  graph = _module_graph()
  index, low, stack, on_stack, circles = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in graph.get(v, ()):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      root = min(component, key=len)
      if len(component) > 1 and not all(c.startswith(root) for c in component):
        circles.append(sorted(component))

  for v in graph:
    if v not in index:
      visit(v)
  assert not circles, circles
