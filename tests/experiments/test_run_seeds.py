"""The seed-sweep table: mean ± std, empty buckets, references read from config docstrings."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    "run_seeds", os.path.join(REPO, "experiments", "run_seeds.py"))
run_seeds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_seeds)


def _result(top1, few, tau=None):
  r = {"test": {"top1": top1, "many": 0.9, "medium": 0.5, "few": few, "ece": 0.1}}
  if tau is not None:
    r["tuned"] = {"tau": tau}
  return r


def test_cells_mean_and_sample_std():
  assert run_seeds._cell([0.40, 0.42, 0.44]) == "42.00 ± 2.00"
  assert run_seeds._cell([0.5]) == "50.00"
  assert run_seeds._cell([None, None]) == "empty"


def test_table_rows():
  text = run_seeds.table({"configs/x/ce.py": [_result(0.4, None), _result(0.42, None)],
                          "configs/x/tau_norm.py": [_result(0.5, 0.2, 1.1)]},
                         {"configs/x/ce.py": "38.3 (LDAM paper)", "configs/x/tau_norm.py": ""})
  lines = text.splitlines()
  assert lines[2].startswith("| `configs/x/ce.py` | 2 | 41.00 ± 1.41 |")
  assert "| empty |" in lines[2] and "38.3 (LDAM paper)" in lines[2]
  assert "| 1.1 |" in lines[3]


def test_reference_is_read_from_the_config_docstring():
  assert run_seeds._reference("configs/cifar100_lt/ldam_drw.py").startswith("42.0")
  assert run_seeds._is_stage2("configs/cifar100_lt/crt.py")
  assert not run_seeds._is_stage2("configs/cifar100_lt/ce.py")
