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
"""

from __future__ import annotations

import os

import numpy as np

from ltjax import feature_cache


def _h5(path: str) -> dict[str, np.ndarray]:
  try:
    import h5py  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(f"{path} is an h5 feature file; install h5py (pip install -e '.[h5]') or "
                      "convert it to npz (features, labels)") from e
  with h5py.File(path, "r") as f:
    if "features" not in f or not ({"labels", "label"} & set(f.keys())):
      raise ValueError(f"{path} must hold datasets 'features' and 'labels' (or 'label'); it has "
                       f"{sorted(f.keys())}")
    labels = f["labels"][()] if "labels" in f else f["label"][()]
    return {"features": np.asarray(f["features"][()], np.float32),
            "labels": np.asarray(labels, np.int64)}


def _npz(path: str) -> dict[str, np.ndarray]:
  with np.load(path) as data:
    if "features" not in data.files or "labels" not in data.files:
      raise ValueError(f"{path} must hold arrays 'features' (N, D) and 'labels' (N,); it has "
                       f"{data.files}")
    return {k: data[k] for k in data.files}


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


def load(path: str, *, val_holdout_fraction: float = 0.1, seed: int = 0
         ) -> tuple[dict, dict | None, dict, str]:
  """(train, val, test, description) from one of the layouts above."""
  if not path:
    raise ValueError("config.dlsa.features is empty: set it to a stage-1 workdir (with a "
                     "features/ cache) or a folder of train/test npz or h5 features")
  if not os.path.isdir(path):
    raise FileNotFoundError(f"config.dlsa.features={path!r} is not a directory")
  if os.path.isdir(os.path.join(path, "features")):
    train, val, test = (feature_cache.load_split(path, s) for s in ("train", "val", "test"))
    what = "ltjax feature cache"
  elif os.path.exists(os.path.join(path, "train.npz")):
    load_opt = lambda s: (_npz(os.path.join(path, f"{s}.npz"))
                          if os.path.exists(os.path.join(path, f"{s}.npz")) else None)
    train, val, test = load_opt("train"), load_opt("val"), load_opt("test")
    what = "npz features"
  elif os.path.exists(os.path.join(path, "feature_train.h5")):
    has_test = os.path.exists(os.path.join(path, "feature_test.h5"))
    train = _h5(os.path.join(path, "feature_train.h5"))
    test = _h5(os.path.join(path, "feature_test.h5" if has_test else "feature_val.h5"))
    val = (_h5(os.path.join(path, "feature_val.h5"))
           if has_test and os.path.exists(os.path.join(path, "feature_val.h5")) else None)
    what = "h5 features (reference layout)"
  else:
    raise FileNotFoundError(
        f"no features found in {path}: expected a features/ cache, train.npz/test.npz, or "
        "feature_train.h5/feature_test.h5")
  if train is None or test is None:
    raise FileNotFoundError(f"{path}: both a train and a test split are needed")
  if val is None and val_holdout_fraction > 0:
    train, val = holdout_split(train, val_holdout_fraction, seed)
    what += f", val held out from train ({val_holdout_fraction:.0%} per class)"
  for name, split in (("train", train), ("val", val), ("test", test)):
    if split is not None and split["features"].shape[1] != train["features"].shape[1]:
      raise ValueError(f"{path}: {name} features have dimension {split['features'].shape[1]}, "
                       f"train {train['features'].shape[1]}")
  return train, val, test, what
