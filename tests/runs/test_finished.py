"""A finished run read back: the checkpoint its results report, and a run that would write
over the run it reads."""

import json
import os

import pytest

from ltjax.runs import finished
from tests.conftest import load_config


def _fake_run(root, best=(), latest=(), selected=None, select="best_val"):
  for sub, steps in (("best", best), ("checkpoints", latest)):
    for step in steps:
      os.makedirs(os.path.join(root, sub, str(step), "state"))
  with open(os.path.join(root, "config.json"), "w") as f:
    json.dump({"train": {"select": select}}, f)
  with open(os.path.join(root, "results.json"), "w") as f:
    json.dump({"selected_step": selected, "class_counts": [1, 2]}, f)
  return str(root)


def test_the_checkpoint_of_the_reported_step_is_the_one_handed_on(tmp_path):
  # select="last": best/ holds the val-best step 3, but the results report step 6.
  run = _fake_run(tmp_path / "last", best=(3,), latest=(4, 6), selected=6, select="last")
  assert finished.load(run, "role").selected_checkpoint() == os.path.join(
      run, "checkpoints", "6", "state")
  run = _fake_run(tmp_path / "best", best=(3,), latest=(4, 6), selected=3)
  assert finished.load(run, "role").selected_checkpoint() == os.path.join(
      run, "best", "3", "state")


def test_a_reported_step_without_its_checkpoint_is_an_error(tmp_path):
  run = _fake_run(tmp_path / "gone", best=(3,), latest=(6,), selected=5)
  with pytest.raises(FileNotFoundError, match=r"selected_step 5.*re-train the run"):
    finished.load(run, "role").selected_checkpoint()


def test_a_run_without_a_reported_step_keeps_the_old_rule(tmp_path):
  run = _fake_run(tmp_path / "old", best=(3,), latest=(6,), selected=None)
  assert finished.selected_checkpoint(run) == os.path.join(run, "best", "3", "state")


@pytest.mark.parametrize("config_file,key", [
    ("configs/digits_lt/crt.py", "decoupled.stage1_workdir"),
    ("configs/dlsa/digits_lt_ce.py", "dlsa.features"),
    ("configs/digits_lt/ride_e3_distill.py", "distill.teacher_workdir"),
])
def test_a_run_may_not_write_into_the_run_it_reads(tmp_path, config_file, key):
  c = load_config(config_file)
  section, leaf = key.split(".")
  c[section][leaf] = str(tmp_path / "input")
  with pytest.raises(ValueError, match=rf"is the run this config reads \({key}="):
    finished.refuse_own_input(c, str(tmp_path / "input"))
  os.symlink(tmp_path / "input", tmp_path / "alias", target_is_directory=True)
  os.makedirs(tmp_path / "input", exist_ok=True)
  with pytest.raises(ValueError, match="give this run its own --workdir"):
    finished.refuse_own_input(c, str(tmp_path / "alias"))  # the same directory by another name
  finished.refuse_own_input(c, str(tmp_path / "elsewhere"))
