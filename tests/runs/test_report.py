"""The run report builds from one smoke workdir and from several (seed grouping)."""

import json
import os
import shutil

import pytest

from ltjax import train
from ltjax.runs import report
from tests.conftest import load_config


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("report_runs")
  runs = []
  for seed in (0, 1):
    c = load_config("configs/digits_lt/ce.py")
    c.seed = seed
    train.train_and_evaluate(c, str(root / f"ce_s{seed}"))
    runs.append(str(root / f"ce_s{seed}"))
  return runs


def test_single_workdir_report(smoke_runs, tmp_path):
  index = report.build_report(smoke_runs[:1], str(tmp_path / "out"))
  text = open(index).read()
  for png in ("class_counts.png", "per_class_accuracy.png", "reliability.png",
              "confusion_head_to_tail.png", "curves.png"):
    assert f"ce_s0/{png}" in text
    assert os.path.getsize(tmp_path / "out" / "ce_s0" / png) > 1000
  assert "| test |" in text and "Resolved config" in text


def test_several_workdirs_group_by_seed(smoke_runs, tmp_path):
  other = str(tmp_path / "focal_s0")
  shutil.copytree(smoke_runs[0], other)
  with open(os.path.join(other, "results.json")) as f:
    r = json.load(f)
  r["config"]["loss"]["name"] = "focal"
  with open(os.path.join(other, "results.json"), "w") as f:
    json.dump(r, f)
  text = open(report.build_report(smoke_runs + [other], str(tmp_path / "cmp"))).read()
  rows = [line for line in text.splitlines() if line.startswith("| ce |")
          or line.startswith("| focal |")]
  assert len(rows) == 2
  assert rows[0].startswith("| ce | 2 |") and "±" in rows[0]
  assert rows[1].startswith("| focal | 1 |")
  assert os.path.exists(tmp_path / "cmp" / "curves_all.png")


def test_missing_results_is_explained(tmp_path):
  with pytest.raises(FileNotFoundError, match="finished workdirs"):
    report.build_report([str(tmp_path)], str(tmp_path / "out"))
