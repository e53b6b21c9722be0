"""Every module of the package imports on its own: no import cycle hides behind import order.

A cycle shows only when the import starts at one of its members, so each module is imported
first, with every `ltjax` module forgotten before it (third-party modules stay loaded, which
keeps this to seconds; modules that define command-line flags get an interpreter each).
"""

import os
import pkgutil
import subprocess
import sys

import ltjax

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Modules that define absl flags at import (a second definition in one interpreter is an error).
_FLAG_MODULES = ("ltjax.main", "ltjax.dlsa.feature_report")

_IMPORT_EACH = r"""
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
  for loaded in [m for m in sys.modules if m == "ltjax" or m.startswith("ltjax.")]:
    del sys.modules[loaded]
  try:
    importlib.import_module(name)
  except Exception:
    failed.append(name + ":\n" + traceback.format_exc(limit=6))
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


def _modules():
  return sorted(m.name for m in pkgutil.walk_packages(ltjax.__path__, "ltjax."))


def test_the_package_has_the_modules_this_test_walks():
  names = _modules()
  assert len(names) > 60
  for expected in ("ltjax.train.setup", "ltjax.core.metrics", "ltjax.decoupled.stage",
                   "ltjax.ride.router", "ltjax.dlsa.pipeline", "ltjax.granularity.attach"):
    assert expected in names


def test_every_module_imports_first():
  # `__main__` modules run their command when imported.
  names = [n for n in _modules() if n not in _FLAG_MODULES and not n.endswith(".__main__")]
  proc = subprocess.run([sys.executable, "-c", _IMPORT_EACH, *names], cwd=REPO,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
  for name in _FLAG_MODULES:
    proc = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_moved_modules_keep_their_old_names():
  """`from ltjax import optim` (the notebooks' form) still gives the module that moved."""
  import importlib  # pylint: disable=g-import-not-at-top
  for old, new in ltjax._MOVED_MODULES.items():  # pylint: disable=protected-access
    assert getattr(ltjax, old) is importlib.import_module(new), old
  from ltjax import optim, steps, stage2  # pylint: disable=g-import-not-at-top
  assert optim.ScheduleSpec and steps.AugmentSpec and stage2.METHODS
  from ltjax.metrics import evaluate_logits  # pylint: disable=g-import-not-at-top
  from ltjax.core.metrics import evaluate_logits as moved  # pylint: disable=g-import-not-at-top
  assert evaluate_logits is moved
