"""The command line: overrides, typo errors, resume after SIGKILL, rerun of a finished run."""

import functools
import json
import os
import signal
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = "configs/digits_lt/ce.py:smoke"
# Auxiliary classes capped and redrawn every epoch: the resumed stream must match too.
AUX_SMOKE = "configs/granularity/digits_lt_5plus5.py:aux_silenced,smoke"


def run_main(workdir, *overrides, config=SMOKE):
  cmd = [sys.executable, "-m", "ltjax.main", f"--config={config}", f"--workdir={workdir}",
         *overrides]
  return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def _results(workdir):
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f)


def _final_params(workdir):
  ckpt_dir = os.path.join(workdir, "checkpoints")
  last = max(int(d) for d in os.listdir(ckpt_dir) if d.isdigit())
  state = ocp.StandardCheckpointer().restore(os.path.join(ckpt_dir, str(last), "state"))
  return last, state["params"]


def test_mistyped_override_fails_with_the_key_name(tmp_path):
  proc = run_main(tmp_path, "--config.dataset.imbalanse_factor=5")
  assert proc.returncode != 0
  assert "imbalanse_factor" in proc.stderr


@pytest.mark.parametrize("config", [SMOKE, AUX_SMOKE])
def test_kill_and_resume_matches_an_uninterrupted_run(tmp_path, config):
  common = ["--config.train.num_epochs=4", "--config.dataset.imbalance_factor=10"]
  run = functools.partial(run_main, config=config)
  straight = tmp_path / "straight"
  proc = run(straight, *common)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert _results(straight)["config"]["dataset"]["imbalance_factor"] == 10.0  # override applied

  resumed = tmp_path / "resumed"
  # SIGKILL right after step 8 (epoch 3 of 3-step epochs, checkpoints every epoch).
  proc = run(resumed, *common, "--config.debug.kill_at_step=8")
  assert proc.returncode == -signal.SIGKILL
  assert not os.path.exists(resumed / "results.json")
  assert os.listdir(resumed / "checkpoints")
  proc = run(resumed, *common)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "resumed at step" in proc.stderr

  a, b = _results(straight), _results(resumed)
  for split in ("val", "test"):
    assert a[split]["per_class"] == b[split]["per_class"]
    np.testing.assert_allclose(a[split]["nll"], b[split]["nll"], rtol=1e-6)
  step_a, params_a = _final_params(straight)
  step_b, params_b = _final_params(resumed)
  assert step_a == step_b == 12
  np.testing.assert_allclose(np.concatenate([np.ravel(v) for v in _leaves(params_a)]),
                             np.concatenate([np.ravel(v) for v in _leaves(params_b)]),
                             rtol=1e-6, atol=1e-7)

  if config == SMOKE:
    # SIGKILL while the asynchronous write of step 9's checkpoint is in flight: the half-written
    # step is ignored and the run resumes from step 6, to the same result.
    mid_save = tmp_path / "mid_save"
    proc = run(mid_save, *common, "--config.debug.kill_during_save_at_step=9")
    assert proc.returncode == -signal.SIGKILL
    entries = sorted(os.listdir(mid_save / "checkpoints"))
    assert "9" not in entries and any(e.startswith("9.") for e in entries), entries
    proc = run(mid_save, *common)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resumed at step 6" in proc.stderr
    c = _results(mid_save)
    for split in ("val", "test"):
      assert a[split]["per_class"] == c[split]["per_class"]
      np.testing.assert_allclose(a[split]["nll"], c[split]["nll"], rtol=1e-6)

  # Running the finished command again trains nothing more and rewrites the same results.
  proc = run(resumed, *common)
  assert proc.returncode == 0
  assert _results(resumed)["test"]["per_class"] == b["test"]["per_class"]


def _leaves(tree):
  if isinstance(tree, dict):
    return [leaf for k in sorted(tree) for leaf in _leaves(tree[k])]
  return [np.asarray(tree)]
