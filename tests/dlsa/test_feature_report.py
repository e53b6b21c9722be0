"""The feature-evaluation command: one table and plot per feature set, and a summary; the
filtered make-up it writes checked against a hand-computed case."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ltjax.dlsa import feature_report
from tests.conftest import load_config
from tests.conftest import REPO
from tests.dlsa import hand_cases


def _features(directory, seed):
  rng = np.random.RandomState(seed)
  centers = 2.0 * rng.randn(3, 6)
  os.makedirs(directory)
  for name, counts in (("train", (120, 40, 10)), ("val", (10, 10, 10)), ("test", (20, 20, 20))):
    labels = np.repeat(np.arange(3), counts)
    feats = (centers[labels] + rng.randn(len(labels), 6)).astype(np.float32)
    np.savez(os.path.join(directory, f"{name}.npz"), features=feats, labels=labels,
             logits=feats[:, :3])


def _hand_features(directory, seed):
  os.makedirs(directory)
  for i, name in enumerate(("train", "val", "test")):
    split = hand_cases.make_up_split(name, dim=6, seed=seed + i)
    np.savez(os.path.join(directory, f"{name}.npz"), **split)


def _strict_json(path):
  def reject(constant):
    raise AssertionError(f"{path} is not strict JSON: it holds {constant}")
  with open(path) as f:
    return json.loads(f.read(), parse_constant=reject)


def _make_up_cells(make_up):
  return "/".join("-" if make_up[b] is None else f"{100 * make_up[b]:.1f}"
                  for b in ("many", "medium", "few"))


def test_feature_report_writes_tables_plots_and_a_summary(tmp_path):
  _features(tmp_path / "a", 0)
  _features(tmp_path / "b", 1)
  out = tmp_path / "report"
  subprocess.run([sys.executable, "-m", "ltjax.dlsa.feature_report",
                  "--config=configs/dlsa/digits_lt_ce.py:smoke", f"--features={tmp_path / 'a'}",
                  f"--features={tmp_path / 'b'}", f"--out={out}"],
                 cwd=REPO, check=True, timeout=600, capture_output=True,
                 env={**os.environ, "PYTHONPATH": REPO})
  names = sorted(os.listdir(out))
  assert names == ["0_a.json", "0_a.md", "0_a.png", "1_b.json", "1_b.md", "1_b.png",
                   "summary.md"]
  summary = (out / "summary.md").read_text().splitlines()
  assert len(summary) == 4 and str(tmp_path / "a") in summary[2]
  table = (out / "0_a.md").read_text()
  assert "| 1 |" in table and "| regular |" in table
  # The rows carry the JSON's make-up, and each filtered set's shares add up to 1.
  result = _strict_json(out / "0_a.json")
  stage = result["stages"][0]
  for split in ("train", "test"):
    make_up = stage["filtered_make_up"][split]
    assert sum(make_up.values()) == pytest.approx(1.0)
    assert f"| {_make_up_cells(make_up)} |" in table


def test_feature_report_make_up_values_are_the_hand_computed_shares(tmp_path, fake_flows):
  del fake_flows  # column 0 is the flow's score: the filtered samples are known
  _hand_features(tmp_path / "a", 0)
  _hand_features(tmp_path / "b", 10)
  out = tmp_path / "report"
  config = load_config("configs/dlsa/digits_lt_ce.py")
  feature_report.write_report(config, [str(tmp_path / "a"), str(tmp_path / "b")], str(out))
  for name in ("0_a", "1_b"):
    result = _strict_json(out / f"{name}.json")
    (stage,) = result["stages"]
    assert stage["filtered"] == {"train": 48, "val": 4, "test": 8}
    for split, shares in hand_cases.MAKE_UP_SHARES.items():
      assert stage["filtered_make_up"][split] == pytest.approx(shares), (name, split)
    rows = (out / f"{name}.md").read_text().splitlines()
    stage_row = next(r for r in rows if r.startswith("| 1 |"))
    # filtered fraction of train 48/160, of test 8/32; train 6/48, 12/48, 30/48; test 2/8,
    # 2/8, 4/8.
    assert stage_row.startswith("| 1 | 30.0 / 25.0 | 12.5/25.0/62.5 | 25.0/25.0/50.0 |")
