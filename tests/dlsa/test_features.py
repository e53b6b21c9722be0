"""Feature loading: ltjax caches, npz folders, the reference's h5 layout, val hold-out, errors."""

import os

import numpy as np
import pytest

from ltjax.dlsa import features


def _write_npz(directory, name, n, dim=4, classes=3, seed=0):
  rng = np.random.RandomState(seed)
  np.savez(directory / f"{name}.npz", features=rng.randn(n, dim).astype(np.float32),
           labels=np.arange(n) % classes)


def test_npz_folder_with_val(tmp_path):
  for name, n in (("train", 30), ("val", 9), ("test", 12)):
    _write_npz(tmp_path, name, n)
  train, val, test, what = features.load(str(tmp_path))
  assert (len(train["labels"]), len(val["labels"]), len(test["labels"])) == (30, 9, 12)
  assert what == "npz features"


def test_missing_val_is_held_out_per_class(tmp_path):
  _write_npz(tmp_path, "train", 60)
  _write_npz(tmp_path, "test", 12)
  train, val, _, what = features.load(str(tmp_path), val_holdout_fraction=0.2, seed=0)
  assert np.bincount(val["labels"]).tolist() == [4, 4, 4]
  assert len(train["labels"]) == 48 and "held out" in what
  # No overlap: every original row is in exactly one of the two.
  rows = np.concatenate([train["features"], val["features"]])
  assert len(np.unique(rows, axis=0)) == 60


def test_h5_reference_layout(tmp_path):
  h5py = pytest.importorskip("h5py")
  rng = np.random.RandomState(0)
  for name, key in (("feature_train.h5", "labels"), ("feature_val.h5", "label")):
    with h5py.File(tmp_path / name, "w") as f:
      f["features"] = rng.randn(20, 5).astype(np.float32)
      f[key] = np.arange(20) % 2
  # No feature_test.h5: the reference reads feature_val.h5 as the test set (iNaturalist).
  train, val, test, what = features.load(str(tmp_path), val_holdout_fraction=0.1)
  assert test["features"].shape == (20, 5) and len(val["labels"]) == 2
  assert "h5" in what


def test_write_h5_round_trips_in_the_reference_layout(tmp_path):
  h5py = pytest.importorskip("h5py")
  rng = np.random.RandomState(1)
  splits = {s: {"features": rng.randn(n, 4).astype(np.float64), "labels": np.arange(n) % 3}
            for s, n in (("train", 30), ("val", 6), ("test", 9))}
  written = features.write_h5(str(tmp_path / "h5"), splits)
  assert sorted(os.path.basename(f) for f in written.values()) == [
      "feature_test.h5", "feature_train.h5", "feature_val.h5"]
  assert not [f for f in os.listdir(tmp_path / "h5") if f.endswith(".partial")]
  with h5py.File(written["train"], "r") as f:  # the dtypes the reference's reader expects
    assert f["features"].dtype == np.float32 and f["labels"].dtype == np.int64
  train, val, test, what = features.load(str(tmp_path / "h5"))
  assert "h5" in what  # val comes from feature_val.h5, not a hold-out of train
  for name, got in (("train", train), ("val", val), ("test", test)):
    np.testing.assert_array_equal(got["labels"], splits[name]["labels"])
    np.testing.assert_allclose(got["features"], splits[name]["features"].astype(np.float32))
  with pytest.raises(ValueError, match="test split.*integer labels"):
    features.write_h5(str(tmp_path / "bad"), {"test": {"features": np.zeros((2, 2)),
                                                       "labels": np.zeros(3, np.int64)}})


def test_errors_name_the_fix(tmp_path):
  with pytest.raises(ValueError, match="dlsa.features"):
    features.load("")
  with pytest.raises(FileNotFoundError, match="feature_train.h5"):
    features.load(str(tmp_path))
  np.savez(tmp_path / "train.npz", feats=np.zeros((2, 2)))
  np.savez(tmp_path / "test.npz", feats=np.zeros((2, 2)))
  with pytest.raises(ValueError, match="'features'"):
    features.load(str(tmp_path))
