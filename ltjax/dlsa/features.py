"""Frozen features for DLSA: an ltjax feature cache, an npz folder, or the reference's h5 files.

Accepted layouts of `config.dlsa.features` (a directory):
  * an ltjax stage-1 workdir (it has `features/`): the cache `train.py` writes (features,
    labels, logits; the stage-1 logits become the "base classifier" of the report);
  * a folder with `train.npz`, `test.npz` and optionally `val.npz`, each holding `features`
    (N, D) and `labels` (N,) (optional `logits` (N, C)): features made by any framework;
  * the reference's h5 layout: `feature_train.h5` and `feature_test.h5` (or, as the reference
    reads iNaturalist, `feature_val.h5` as the test set), datasets `features` and `labels` (or
    `label`); `feature_val.h5` is the validation split only when `feature_test.h5` also exists.
    Needs h5py (`pip install -e .[h5]`).
With no validation split, a class-stratified `val_holdout_fraction` of the training features is
held out for selection (ltjax never selects on test).

Every split is checked when it is read (`feature_cache.check_split`: readable, non-empty, rows
matching the labels, finite, integer labels), and the splits against each other (one feature
dimension; labels below the class count of `class_counts` when the features carry them), so a
bad input stops the run before any training with one line naming the file and the fix.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from ltjax.runs import feature_cache

NPZ_FORMAT = "numpy.savez(path, features=(N, D) floats, labels=(N,) ints)"
H5_FORMAT = "h5py: datasets 'features' (N, D) and 'labels' (N,)"
REWRITE_NPZ = f"rewrite it with {NPZ_FORMAT}"
REWRITE_H5 = f"rewrite it with {H5_FORMAT}"


def _h5(path: str) -> dict[str, np.ndarray]:
  try:
    import h5py  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(f"{path} is an h5 feature file; install h5py (pip install -e '.[h5]') or "
                      "convert it to npz (features, labels)") from e
  try:
    with h5py.File(path, "r") as f:
      if "features" not in f or not ({"labels", "label"} & set(f.keys())):
        raise ValueError(f"{path} must hold datasets 'features' and 'labels' (or 'label'); it "
                         f"has {sorted(f.keys())}; {REWRITE_H5}")
      labels = f["labels"][()] if "labels" in f else f["label"][()]
      arrays = {"features": np.asarray(f["features"][()], np.float32),
                "labels": np.asarray(labels)}
  except OSError as e:  # h5py's error for a truncated, corrupt or non-h5 file
    reason = " ".join(str(e).split())
    raise ValueError(f"{path} is not a readable h5 file (truncated or corrupt? {reason}); "
                     f"{REWRITE_H5}") from e
  arrays = feature_cache.check_split(arrays, path, REWRITE_H5)
  # int64 labels, as the reference's loader returns them.
  return {**arrays, "labels": np.asarray(arrays["labels"], np.int64)}


def write_h5(path: str, splits: dict[str, dict[str, np.ndarray]]) -> dict[str, str]:
  """Writes {split: {"features", "labels"}} as the reference's h5 files under `path`
  (`feature_<split>.h5`, datasets `features` float32 (N, D) and `labels` int64 (N,)), each
  through a temporary name and a rename, so a killed export leaves no half-written file that
  `load` would read. Returns {split: file}."""
  try:
    import h5py  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("writing h5 features needs h5py (pip install -e '.[h5]')") from e
  os.makedirs(path, exist_ok=True)
  written = {}
  for split, arrays in splits.items():
    checked = feature_cache.check_split(
        {"features": arrays["features"], "labels": arrays["labels"]}, f"the {split} split",
        "pass (N, D) features and (N,) integer labels")
    final = os.path.join(path, f"feature_{split}.h5")
    partial = final + ".partial"
    with h5py.File(partial, "w") as f:
      f.create_dataset("features", data=np.asarray(checked["features"], np.float32))
      f.create_dataset("labels", data=np.asarray(checked["labels"], np.int64))
    os.replace(partial, final)
    written[split] = final
  return written


def _npz(path: str) -> dict[str, np.ndarray]:
  data = feature_cache.read_npz(path, REWRITE_NPZ)
  if "features" not in data or "labels" not in data:
    raise ValueError(f"{path} must hold arrays 'features' (N, D) and 'labels' (N,); it has "
                     f"{list(data)}; {REWRITE_NPZ}")
  return feature_cache.check_split(data, path, REWRITE_NPZ)


def holdout_split(train: dict, fraction: float, seed: int) -> tuple[dict, dict]:
  """(train', val): floor(fraction * n_c) random samples of each class moved to val."""
  labels = np.asarray(train["labels"])
  rng = np.random.default_rng([seed, 7])
  val_idx = []
  for c in np.unique(labels):
    members = np.nonzero(labels == c)[0]
    take = int(np.floor(fraction * len(members)))
    if take:
      val_idx.append(rng.choice(members, take, replace=False))
  val_idx = np.sort(np.concatenate(val_idx)) if val_idx else np.zeros((0,), np.int64)
  keep = np.setdiff1d(np.arange(len(labels)), val_idx)
  pick = lambda idx: {k: v[idx] for k, v in train.items() if k != "class_counts"}
  return pick(keep), pick(val_idx)


def num_classes(train: dict, val: dict | None, test: dict) -> int:
  """C: the length of the features' `class_counts` when they carry them (an ltjax cache), and
  at least 1 + the largest label of ANY split (a val-only class must not vanish)."""
  splits = [s for s in (train, val, test) if s is not None]
  from_labels = max(int(np.max(s["labels"])) + 1 for s in splits if len(s["labels"]))
  counts = next((s["class_counts"] for s in splits if "class_counts" in s), None)
  return from_labels if counts is None else max(from_labels, len(counts))


def _layout(path: str) -> tuple[dict[str, str], Callable[[str, str], dict], str]:
  """({split: file} of the splits present, reader(split, file), description) of the layout at
  `path`; a missing train or test file raises FileNotFoundError naming it."""
  join = lambda *names: os.path.join(path, *names)
  if os.path.isdir(join("features")):
    expected = {s: join("features", f"{s}.npz") for s in feature_cache.SPLITS}
    read = lambda s, f: feature_cache.load_split(path, s)
    what, fix = "ltjax feature cache", feature_cache.REWRITE_CACHE
  elif os.path.exists(join("train.npz")) or os.path.exists(join("test.npz")):
    expected = {s: join(f"{s}.npz") for s in feature_cache.SPLITS}
    read = lambda s, f: _npz(f)
    what, fix = "npz features", f"write it with {NPZ_FORMAT}"
  elif os.path.exists(join("feature_train.h5")) or os.path.exists(join("feature_test.h5")):
    # As the reference: without feature_test.h5, feature_val.h5 is the test set.
    has_test = os.path.exists(join("feature_test.h5")) or not os.path.exists(
        join("feature_val.h5"))
    expected = {"train": join("feature_train.h5"),
                "test": join("feature_test.h5" if has_test else "feature_val.h5")}
    if has_test:
      expected["val"] = join("feature_val.h5")
    read = lambda s, f: _h5(f)
    what, fix = "h5 features (reference layout)", f"write it with {H5_FORMAT}"
  else:
    raise FileNotFoundError(
        f"no features found in {path}: expected a features/ cache (run stage 1 with "
        "train.cache_features=True), train.npz/test.npz, or feature_train.h5/feature_test.h5")
  for split in ("train", "test"):
    if not os.path.exists(expected[split]):
      raise FileNotFoundError(f"{expected[split]} is missing: DLSA needs a train and a test "
                              f"split (val is optional); {fix}")
  return {s: f for s, f in expected.items() if os.path.exists(f)}, read, what


def _check_together(splits: dict[str, dict], files: dict[str, str]) -> None:
  """One feature dimension for all splits; labels below C when `class_counts` fix C."""
  dim = splits["train"]["features"].shape[1]
  for name, split in splits.items():
    if split["features"].shape[1] != dim:
      raise ValueError(f"{files[name]}: {name} features have dimension "
                       f"{split['features'].shape[1]} but train ({files['train']}) has {dim}; "
                       "all splits must come from one backbone (re-extract them together)")
  with_counts = [n for n in splits if "class_counts" in splits[n]]
  if with_counts:
    owner = with_counts[0]
    count = len(splits[owner]["class_counts"])
    for name, split in splits.items():
      feature_cache.check_labels(split["labels"], files[name], count,
                                 f"the 'class_counts' of {files[owner]}")


def load(path: str, *, val_holdout_fraction: float = 0.1, seed: int = 0
         ) -> tuple[dict, dict | None, dict, str]:
  """(train, val, test, description) from one of the layouts above (all checked)."""
  if not path:
    raise ValueError("config.dlsa.features is empty: set it to a stage-1 workdir (with a "
                     "features/ cache) or a folder of train/test npz or h5 features")
  if not os.path.isdir(path):
    raise FileNotFoundError(f"config.dlsa.features={path!r} is not a directory: set it to a "
                            "stage-1 workdir (with a features/ cache) or a folder of train/test "
                            "npz or h5 features")
  files, read, what = _layout(path)
  splits = {s: read(s, f) for s, f in files.items()}
  _check_together(splits, files)
  train, val, test = splits["train"], splits.get("val"), splits["test"]
  if val is None and val_holdout_fraction > 0:
    train, val = holdout_split(train, val_holdout_fraction, seed)
    what += f", val held out from train ({val_holdout_fraction:.0%} per class)"
  return train, val, test, what
