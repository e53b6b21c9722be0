"""Checkpoints: a damaged one gives an error that names it and the fix."""

import os

import pytest

from ltjax import train
from ltjax.core import checkpoint
from tests.conftest import load_config


def test_corrupt_checkpoint_is_reported_with_the_fix(tmp_path):
  c = load_config("configs/digits_lt/ce.py")
  train.train_and_evaluate(c, str(tmp_path))
  latest = tmp_path / "checkpoints" / "6"
  damaged = 0
  for root, _, files in os.walk(latest / "state"):
    for name in files:
      with open(os.path.join(root, name), "wb") as f:
        f.write(b"not a checkpoint")
      damaged += 1
  assert damaged
  # Unfinished, so the next command resumes (a finished run is not resumed: it reports its
  # results, which need no checkpoint).
  os.remove(tmp_path / "results.json")
  with pytest.raises(checkpoint.CorruptCheckpointError, match="delete that step directory"):
    train.train_and_evaluate(c, str(tmp_path))


def test_changed_data_setup_refuses_to_resume(tmp_path):
  c = load_config("configs/digits_lt/ce.py")
  train.train_and_evaluate(c, str(tmp_path))
  c.sampler = "class_balanced"
  with pytest.raises(ValueError, match="fresh --workdir"):
    train.train_and_evaluate(c, str(tmp_path))
