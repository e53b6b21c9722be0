"""Bad DLSA inputs stop the run before any work with one line naming the input and the fix:
non-finite features, bad labels, shapes that disagree, missing / truncated / corrupt files; and
the JSON the DLSA code writes is strict."""

import contextlib
import logging
import json
import os
import re

import numpy as np
import pytest

from ltjax.dlsa import classifiers
from ltjax.dlsa import feature_report
from ltjax.dlsa import features
from ltjax.dlsa import pipeline
from ltjax.dlsa import stage
from ltjax.runs import feature_cache
from tests.conftest import load_config

REEXTRACT = r"re-extract the features from a finished run \(its stage-1 run diverged\?\)"


@contextlib.contextmanager
def raises(error, *parts):
  """pytest.raises(error) whose one-line message contains every regex in `parts`."""
  with pytest.raises(error, match="".join(f"(?=.*{p})" for p in parts)) as info:
    yield info
  assert "\n" not in str(info.value)


def _npz_folder(directory, dim=4, **overrides):
  """train / val / test npz files (30 / 9 / 12 rows, 3 classes); `overrides[split]` replaces or
  (value None) drops arrays of that split."""
  os.makedirs(directory, exist_ok=True)
  rng = np.random.RandomState(0)
  for split, n in (("train", 30), ("val", 9), ("test", 12)):
    arrays = {"features": rng.randn(n, dim).astype(np.float32), "labels": np.arange(n) % 3,
              "logits": rng.randn(n, 3).astype(np.float32)}
    arrays.update(overrides.get(split, {}))
    np.savez(os.path.join(directory, f"{split}.npz"),
             **{k: v for k, v in arrays.items() if v is not None})
  return str(directory)


def _with_nan(n=30, dim=4, where=(3, 1), value=np.nan):
  x = np.random.RandomState(1).randn(n, dim).astype(np.float32)
  x[where] = value
  return x


def _cache(workdir, head_dim=4, **overrides):
  """A stage-2 style cache written by feature_cache.write_cache (train / test, 3 classes)."""
  rng = np.random.RandomState(0)
  arrays = {}
  for split, n in (("train", 20), ("test", 12)):
    arrays[split] = {"features": rng.randn(n, 4).astype(np.float32),
                     "logits": rng.randn(n, 3).astype(np.float32),
                     "labels": (np.arange(n) % 3).astype(np.int32)}
    arrays[split].update(overrides.get(split, {}))
  head = {"kernel": np.zeros((head_dim, 3)), "bias": np.zeros(3)}
  feature_cache.write_cache(str(workdir), arrays, np.array([7, 7, 6]), head, {"step": 1})
  return str(workdir)


# --- non-finite values ----------------------------------------------------------------------

@pytest.mark.parametrize("split,key,value,count", [
    ("train", "features", _with_nan(), 1),
    ("test", "features", _with_nan(12, where=(slice(None), 0), value=np.inf), 12),
    ("val", "logits", np.full((9, 3), -np.inf, np.float32), 27)])
def test_non_finite_npz_arrays(tmp_path, split, key, value, count):
  path = _npz_folder(tmp_path, **{split: {key: value}})
  with raises(ValueError, re.escape(os.path.join(path, f"{split}.npz")), f"{count} of",
              f"'{key}'", "not finite", REEXTRACT):
    features.load(path)


def test_non_finite_h5_features(tmp_path):
  h5py = pytest.importorskip("h5py")
  for name in ("feature_train.h5", "feature_test.h5"):
    with h5py.File(tmp_path / name, "w") as f:
      f["features"] = _with_nan(10)
      f["labels"] = np.arange(10) % 2
  with raises(ValueError, re.escape(str(tmp_path / "feature_train.h5")), "1 of 40",
              "'features'", REEXTRACT):
    features.load(str(tmp_path))


def test_load_split_rejects_nan_in_a_stage2_cache(tmp_path):
  run = _cache(tmp_path / "run", train={"features": _with_nan(20)})
  path = re.escape(os.path.join(run, "features", "train.npz"))
  with raises(ValueError, path, "1 of 80", "'features'", REEXTRACT):
    feature_cache.load_split(run, "train")
  with raises(ValueError, path, "'features'", REEXTRACT):  # DLSA reads it the same way
    features.load(run)


def test_non_finite_head_and_arrays_from_a_notebook(tmp_path):
  run = _cache(tmp_path / "run")
  np.savez(os.path.join(run, "features", "head.npz"), kernel=np.full((4, 3), np.nan))
  with raises(ValueError, re.escape(os.path.join(run, "features", "head.npz")), "12 of 12",
              "'kernel'", REEXTRACT):
    feature_cache.load_head(run)
  x = _with_nan(20)
  with raises(ValueError, "dlsa train_head", "1 of 80", "'inputs.x'", REEXTRACT):
    classifiers.train_head(classifiers.HeadInputs(x), np.arange(20) % 3, 3,
                           log_prior=np.zeros(3))


def test_run_pipeline_checks_every_split_before_any_training(monkeypatch):
  def no_training(*args, **kwargs):
    raise AssertionError("training started on bad input")

  monkeypatch.setattr(classifiers, "train_head", no_training)
  rng = np.random.RandomState(0)
  good = lambda n: {"features": rng.randn(n, 4).astype(np.float32), "labels": np.arange(n) % 3}
  bad = {"features": _with_nan(12), "labels": np.arange(12) % 3}
  with raises(ValueError, "dlsa test split", "1 of 48", "'features'", REEXTRACT):
    pipeline.run_pipeline(good(30), good(9), bad, 3, pipeline.DLSAConfig())
  two = lambda split: {**split, "labels": split["labels"] % 2}
  with raises(ValueError, "dlsa val split", r"'labels' has 3 value\(s\) >= 2", "C = 2",
              "fix the labels"):
    pipeline.run_pipeline(two(good(30)), good(9), two(good(12)), 2, pipeline.DLSAConfig())
  with raises(ValueError, "dlsa test split", r"shape \(12, 5\)", r"\(N, 4\)", "re-extract"):
    pipeline.run_pipeline(good(30), None, {**good(12), "features": np.zeros((12, 5))}, 3,
                          pipeline.DLSAConfig())
  with raises(ValueError, "dlsa train split", "30 rows", "'labels' has 29"):
    pipeline.run_pipeline({**good(30), "labels": np.arange(29) % 3}, None, good(12), 3,
                          pipeline.DLSAConfig())
  with raises(ValueError, "dlsa test split is empty"):
    pipeline.run_pipeline(good(30), None, good(0), 3, pipeline.DLSAConfig())


def test_train_head_rejects_labels_outside_the_classes():
  x = np.random.RandomState(0).randn(20, 4).astype(np.float32)
  with raises(ValueError, "dlsa train_head", r">= 3 \(largest 3\)", "fix the labels"):
    classifiers.train_head(classifiers.HeadInputs(x), np.arange(20) % 4, 3,
                           log_prior=np.zeros(3))
  with raises(ValueError, "dlsa train_head", "negative", "fix the labels"):
    classifiers.train_head(classifiers.HeadInputs(x), np.arange(20) % 3 - 1, 3,
                           log_prior=np.zeros(3))


# --- labels and shapes ---------------------------------------------------------------------

@pytest.mark.parametrize("split,arrays,parts", [
    ("test", {"labels": np.arange(12) % 3 - 1}, ("'labels' has 4 negative", "0..C-1")),
    ("test", {"labels": np.arange(12) % 3 + 0.5},
     ("must be integer class ids", "such as 0.5", "class index as an int")),
    ("val", {"labels": np.array(list("abcabcabc"))}, ("must be integer class ids", "<U1")),
    ("train", {"labels": np.arange(29) % 3},
     ("'features' has 30 rows but 'labels' has 29", "numpy.savez")),
    ("test", {"logits": np.zeros((11, 3))}, ("'logits' has 11 rows", "numpy.savez")),
    ("val", {"features": np.zeros((0, 4)), "labels": np.zeros(0, int), "logits": None},
     ("the split is empty", "numpy.savez", "left out")),
    ("train", {"features": np.zeros(30)}, (r"must be \(N, D\)", "numpy.savez")),
])
def test_bad_labels_and_shapes_name_the_file(tmp_path, split, arrays, parts):
  path = _npz_folder(tmp_path, **{split: arrays})
  with raises(ValueError, re.escape(os.path.join(path, f"{split}.npz")), *parts):
    features.load(path)


def test_feature_dimensions_must_agree(tmp_path):
  path = _npz_folder(tmp_path, val={"features": np.zeros((9, 5), np.float32)})
  with raises(ValueError, re.escape(os.path.join(path, "val.npz")), "dimension 5",
              re.escape(f"train ({os.path.join(path, 'train.npz')}) has 4"), "re-extract"):
    features.load(path)


def test_labels_beyond_the_class_counts(tmp_path):
  path = _npz_folder(tmp_path, train={"class_counts": np.array([10, 10, 10])},
                     test={"labels": np.arange(12) % 4})
  with raises(ValueError, re.escape(os.path.join(path, "test.npz")), r"3 value\(s\) >= 3",
              re.escape(f"'class_counts' of {os.path.join(path, 'train.npz')}"), "C = 3"):
    features.load(path)
  run = _cache(tmp_path / "run", test={"labels": (np.arange(12) % 4).astype(np.int32)})
  with raises(ValueError, re.escape(os.path.join(run, "features", "test.npz")),
              "its 'class_counts' gives C = 3"):
    feature_cache.load_split(run, "test")


def test_a_val_only_class_counts_towards_C(tmp_path):
  val_labels = np.arange(9) % 3
  val_labels[0] = 3  # above every train / test label
  path = _npz_folder(tmp_path, val={"labels": val_labels})
  train, val, test, _ = features.load(path)
  assert features.num_classes(train, val, test) == 4
  run = _cache(tmp_path / "run")  # the cache's class_counts give C
  assert features.num_classes(*features.load(run, val_holdout_fraction=0.2)[:3]) == 3


def test_head_dimension_must_match_the_features(tmp_path):
  run = _cache(tmp_path / "run", head_dim=5)
  with raises(ValueError, re.escape(os.path.join(run, "features", "head.npz")),
              "input dimension 5", "features' dimension 4",
              re.escape(os.path.join(run, "features", "train.npz")), "rerun stage 1"):
    feature_cache.load_head(run)
  assert feature_cache.load_head(_cache(tmp_path / "ok"))["kernel"].shape == (4, 3)


# --- missing, truncated and corrupt files ----------------------------------------------------

# Fixed bytes (not os.urandom): pytest-xdist's workers must collect the same test ids.
_GARBAGE = np.random.default_rng(0).bytes(100)


@pytest.mark.parametrize("content,reason", [
    (_GARBAGE, "not a zip archive"),
    (b"PK\x03\x04" + _GARBAGE[:96], "truncated or corrupt"),
    (b"", "the file is empty")], ids=["random bytes", "zip header then garbage", "empty"])
def test_unreadable_npz(tmp_path, content, reason):
  path = _npz_folder(tmp_path)
  with open(os.path.join(path, "train.npz"), "wb") as f:
    f.write(content)
  with raises(ValueError, re.escape(os.path.join(path, "train.npz")), "not a readable npz",
              reason, "numpy.savez") as info:
    features.load(path)
  assert info.value.__cause__ is not None  # the library's error is chained, not shown raw


def test_truncated_npz_in_a_cache(tmp_path):
  run = _cache(tmp_path / "run")
  path = os.path.join(run, "features", "test.npz")
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[:len(data) // 2])
  with raises(ValueError, re.escape(path), "not a readable npz", "rerun stage 1"):
    feature_cache.load_split(run, "test")


def test_object_array_npz(tmp_path):
  path = _npz_folder(tmp_path, test={"labels": np.array([None] * 12)})
  with raises(ValueError, re.escape(os.path.join(path, "test.npz")), "object", "numpy.savez"):
    features.load(path)


def test_corrupt_h5(tmp_path):
  h5py = pytest.importorskip("h5py")
  with open(tmp_path / "feature_train.h5", "wb") as f:
    f.write(os.urandom(100))
  with h5py.File(tmp_path / "feature_test.h5", "w") as f:
    f["features"] = np.zeros((4, 2))
    f["labels"] = np.arange(4)
  with raises(ValueError, re.escape(str(tmp_path / "feature_train.h5")),
              "not a readable h5 file", "rewrite it with h5py") as info:
    features.load(str(tmp_path))
  assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize("missing", ["train", "test"])
def test_missing_split_file(tmp_path, missing):
  path = _npz_folder(tmp_path)
  os.remove(os.path.join(path, f"{missing}.npz"))
  with raises(FileNotFoundError, re.escape(os.path.join(path, f"{missing}.npz")), "is missing",
              "val is optional", "numpy.savez"):
    features.load(path)
  run = _cache(tmp_path / "run")
  os.remove(os.path.join(run, "features", f"{missing}.npz"))
  with raises(FileNotFoundError, re.escape(os.path.join(run, "features", f"{missing}.npz")),
              "rerun stage 1"):
    features.load(run)


def test_missing_keys_and_folders(tmp_path):
  path = _npz_folder(tmp_path / "npz", test={"labels": None})
  with raises(ValueError, re.escape(os.path.join(path, "test.npz")), "'labels'",
              r"it has \['features', 'logits'\]", "numpy.savez"):
    features.load(path)
  empty = tmp_path / "empty"
  empty.mkdir()
  with raises(FileNotFoundError, re.escape(str(empty)), "features/ cache",
              "train.cache_features=True"):
    features.load(str(empty))
  with raises(FileNotFoundError, re.escape(str(empty / "features")),
              "train.cache_features=True"):
    feature_cache.load_split(str(empty), "train")
  with raises(FileNotFoundError, re.escape(str(tmp_path / "nowhere")), "not a directory"):
    features.load(str(tmp_path / "nowhere"))
  run = _cache(tmp_path / "run")
  np.savez(os.path.join(run, "features", "test.npz"), feats=np.zeros((2, 2)))
  with raises(ValueError, "test.npz", r"lacks \['features', 'labels'\]", "rerun stage 1"):
    feature_cache.load_split(run, "test")


# --- the entry points: stage.run and the feature report -------------------------------------

def test_stage_run_fails_before_writing_anything(tmp_path):
  config = load_config("configs/dlsa/digits_lt_ce.py")
  config.dlsa.features = _npz_folder(tmp_path / "feats", test={"features": _with_nan(12)})
  workdir = tmp_path / "dlsa"
  with raises(ValueError, re.escape(str(tmp_path / "feats" / "test.npz")), "'features'",
              REEXTRACT):
    stage.run(config, str(workdir))
  assert not os.path.exists(workdir / "results.json")


def test_feature_report_checks_every_feature_set_first(tmp_path):
  good = _npz_folder(tmp_path / "good")
  bad = _npz_folder(tmp_path / "bad")
  with open(os.path.join(bad, "val.npz"), "wb") as f:
    f.write(os.urandom(100))
  out = tmp_path / "report"
  with raises(ValueError, re.escape(os.path.join(bad, "val.npz")), "not a readable npz"):
    feature_report.write_report(load_config("configs/dlsa/digits_lt_ce.py"), [good, bad],
                                str(out))
  assert not os.path.exists(out / "0_good.json")  # the good set was not run either


def test_meta_json_is_strict(tmp_path):
  rng = np.random.RandomState(0)
  arrays = {"train": {"features": rng.randn(4, 2).astype(np.float32),
                      "labels": np.arange(4, dtype=np.int32)}}
  directory = feature_cache.write_cache(str(tmp_path), arrays, np.ones(4, np.int64), None,
                                        {"step": np.int64(3), "loss": float("nan")})

  def reject(constant):
    raise AssertionError(f"meta.json holds {constant}")

  with open(os.path.join(directory, "meta.json")) as f:
    meta = json.loads(f.read(), parse_constant=reject)
  assert meta["step"] == 3 and meta["loss"] is None and "loss" in meta["null_reasons"]
  assert not [n for n in os.listdir(directory) if n.endswith(".tmp")]


def test_classes_without_training_features_are_named_once(tmp_path, caplog, fake_flows):
  del fake_flows
  val_labels = np.arange(9) % 3
  val_labels[0] = 3  # a class the training features never show
  config = load_config("configs/dlsa/digits_lt_ce.py")
  config.dlsa.features = _npz_folder(tmp_path / "feats", train={"logits": None},
                                     val={"labels": val_labels, "logits": None},
                                     test={"logits": None})
  with caplog.at_level(logging.WARNING):
    result = stage.evaluate_features(config, config.dlsa.features)
  said = [r.getMessage() for r in caplog.records if "no training features" in r.getMessage()]
  assert len(said) == 1 and "[3]" in said[0] and "val / test labels hold [3]" in said[0], said
  assert result["absent_classes"] == [3]
