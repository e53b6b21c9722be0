"""The feature-evaluation command: one table and plot per feature set, and a summary."""

import os
import subprocess
import sys

import numpy as np

from tests.test_train import REPO


def _features(directory, seed):
  rng = np.random.RandomState(seed)
  centers = 2.0 * rng.randn(3, 6)
  os.makedirs(directory)
  for name, counts in (("train", (120, 40, 10)), ("val", (10, 10, 10)), ("test", (20, 20, 20))):
    labels = np.repeat(np.arange(3), counts)
    feats = (centers[labels] + rng.randn(len(labels), 6)).astype(np.float32)
    np.savez(os.path.join(directory, f"{name}.npz"), features=feats, labels=labels,
             logits=feats[:, :3])


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
