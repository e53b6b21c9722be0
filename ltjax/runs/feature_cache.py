"""The feature / logit cache that decoupled stage-2 methods (cRT, LWS, tau-norm, NCM, DLSA)
read instead of re-running the backbone.

On-disk format, under `<workdir>/features/`:
  - `train.npz`, `val.npz`, `test.npz` (val absent when the run has no val split), each with
      `features` (N, D) float32: the penultimate ("pooled") features, eval mode, no augmentation;
      `logits` (N, C) float32; `labels` (N,) int32; `class_counts` (C,) int64 (training counts);
    multi-expert models (RIDE) add `expert_logits` (N, E, C) and `expert_pooled` (N, E, D);
  - `head.npz`: the classifier's `kernel` (D, C) and, when it has one, `bias` (C,) (absent for
    models without a single "head" classifier, e.g. RIDE);
  - `meta.json`: the stage-1 step the features come from, the model name and the dataset.
Rows follow each split's order (for train: the LT subset order). Files are written atomically.

Reading checks what a consumer would otherwise turn into a silent wrong number: an unreadable
(truncated / corrupt) file, missing arrays, an empty split, rows that disagree with the labels,
non-finite values, labels that are not class ids, a head whose input dimension is not the
features'. Each raises one line naming the file, the array and the fix.
"""

from __future__ import annotations

import os
from typing import Any
import zipfile
import zlib

import jax
import jax.numpy as jnp
import numpy as np

from ltjax.core import evaluate
from ltjax.core import inference
from ltjax.runs import results as results_lib

SPLITS = ("train", "val", "test")
REEXTRACT = "re-extract the features from a finished run (its stage-1 run diverged?)"
REWRITE_CACHE = ("rewrite the cache: rerun stage 1 to completion with "
                 "train.cache_features=True")
# What numpy / zipfile raise for a truncated, corrupt or non-npz file.
_UNREADABLE = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)


def make_extract_step(model, *, mean, std, num_targets: int | None = None):
  """extract_step(state, batch) -> dict of batch-major arrays, eval mode (logits of the first
  `num_targets` classes when given: auxiliary classes are dropped at inference)."""

  def extract_step(state, batch):
    logits, features = inference.apply_eval(model, state, batch["image"], mean=mean, std=std,
                                            num_targets=num_targets)
    out = {"features": features["pooled"], "logits": logits, "mask": batch["mask"]}
    for key in ("expert_logits", "expert_pooled"):  # (E, B, .) -> (B, E, .)
      if key in features:
        out[key] = jnp.swapaxes(features[key], 0, 1)
    return out

  return extract_step


def extract_split(extract_step, state, split, mesh, batch_size: int) -> dict[str, np.ndarray]:
  """Features and logits of a whole split, in its order (padding dropped)."""
  out = evaluate.collect_split(extract_step, state, split, mesh, batch_size)
  out["labels"] = np.asarray(split.labels, np.int32)
  return out


def _save_npz(path: str, **arrays) -> None:
  tmp = path + ".tmp.npz"
  np.savez(tmp, **arrays)
  os.replace(tmp, path)


def write_cache(workdir: str, arrays_by_split: dict[str, dict[str, np.ndarray]],
                class_counts: np.ndarray, head: dict[str, Any], meta: dict[str, Any]) -> str:
  """Writes the cache (process 0 only) and returns its directory."""
  directory = os.path.join(workdir, "features")
  if jax.process_index() != 0:
    return directory
  os.makedirs(directory, exist_ok=True)
  for name, arrays in arrays_by_split.items():
    _save_npz(os.path.join(directory, f"{name}.npz"), class_counts=np.asarray(class_counts),
              **arrays)
  if head is not None:
    _save_npz(os.path.join(directory, "head.npz"),
              **{k: np.asarray(v, np.float32) for k, v in head.items()})
  results_lib.write_json_atomically(os.path.join(directory, "meta.json"), meta)
  return directory


def read_npz(path: str, fix: str) -> dict[str, np.ndarray]:
  """All arrays of an npz file; a truncated, corrupt or non-npz file raises ValueError naming
  `path` and `fix`."""
  try:
    with np.load(path) as data:
      return {k: data[k] for k in data.files}
  except _UNREADABLE as e:
    raise ValueError(f"{path} is not a readable npz file ({_unreadable_reason(path, e)}); "
                     f"{fix}") from e


def _unreadable_reason(path: str, error: Exception) -> str:
  """Why numpy could not read `path`, in words (its own message suggests unpickling)."""
  with open(path, "rb") as f:
    head = f.read(2)
  if not head:
    return "the file is empty"
  if head != b"PK":
    return "truncated or corrupt: it is not a zip archive, which an npz is"
  if "allow_pickle" in str(error):
    return "it holds an object (pickled) array; store plain numeric arrays"
  return "truncated or corrupt: " + " ".join(f"{type(error).__name__}: {error}".split())


def check_finite(arrays: dict[str, np.ndarray], where: str, fix: str = REEXTRACT) -> None:
  """Raises ValueError naming `where`, the key and the count when a float array has NaN / inf."""
  for key, value in arrays.items():
    value = np.asarray(value)
    if value.dtype.kind != "f":
      continue
    # A float64 sum is finite iff every value is (bar float64 overflow, which the count
    # settles): no (N, D) boolean temporary for the common, clean case.
    if np.isfinite(np.sum(value, dtype=np.float64)):
      continue
    bad = int(value.size - np.count_nonzero(np.isfinite(value)))
    if bad:
      raise ValueError(f"{where}: {bad} of {value.size} values of {key!r} are not finite "
                       f"(NaN/inf); {fix}")


def check_labels(labels, where: str, num_classes: int | None = None,
                 source: str = "num_classes") -> np.ndarray:
  """`labels` as integer class ids; raises ValueError naming `where` for non-integer, negative or
  (given `num_classes`, which comes from `source`) too large labels. Integer labels come back
  unchanged; integral floats (some h5 dumps) as int64."""
  labels = np.asarray(labels)
  if labels.ndim != 1:
    raise ValueError(f"{where}: 'labels' must be (N,), got shape {labels.shape}; store one "
                     "class id per sample")
  if labels.dtype.kind == "f":
    integral = np.isfinite(labels) & (labels == np.round(labels))
    if not integral.all():
      raise ValueError(f"{where}: 'labels' must be integer class ids 0..C-1, got "
                       f"{int((~integral).sum())} non-integer {labels.dtype} value(s) such as "
                       f"{labels[~integral][0]}; store each sample's class index as an int")
    labels = labels.astype(np.int64)
  if labels.dtype.kind not in "iu":
    raise ValueError(f"{where}: 'labels' must be integer class ids 0..C-1, got dtype "
                     f"{labels.dtype}; store each sample's class index as an int")
  if len(labels) and labels.min() < 0:
    raise ValueError(f"{where}: 'labels' has {int((labels < 0).sum())} negative value(s) "
                     f"(smallest {labels.min()}); class ids must be 0..C-1: fix the labels")
  if num_classes is not None and len(labels) and labels.max() >= num_classes:
    raise ValueError(f"{where}: 'labels' has {int((labels >= num_classes).sum())} value(s) >= "
                     f"{num_classes} (largest {labels.max()}), but {source} gives C = "
                     f"{num_classes} classes; fix the labels or the class count")
  return labels


def check_split(arrays: dict[str, np.ndarray], where: str, fix: str = REWRITE_CACHE
                ) -> dict[str, np.ndarray]:
  """Checks one split's arrays (see the module docstring); returns them, labels as class ids.

  `fix` ends the messages about the file's make-up (shapes, rows, an empty split); non-finite
  values ask for re-extraction. The label bound is the split's own `class_counts` if any.
  """
  features = np.asarray(arrays["features"])
  if features.ndim != 2:
    raise ValueError(f"{where}: 'features' must be (N, D), got shape {features.shape}; {fix}")
  counts = arrays.get("class_counts")
  labels = check_labels(arrays["labels"], where, None if counts is None else len(counts),
                        "its 'class_counts'")
  if not len(labels):
    raise ValueError(f"{where}: the split is empty (0 rows); {fix} (an empty val split can be "
                     "left out instead)")
  for key, value in arrays.items():
    if key not in ("labels", "class_counts") and np.ndim(value) and len(value) != len(labels):
      raise ValueError(f"{where}: {key!r} has {len(value)} rows but 'labels' has "
                       f"{len(labels)}; both must hold the same samples: {fix}")
  check_finite(arrays, where)
  return {**arrays, "labels": labels}


def _npy_shape(path: str, key: str) -> tuple[int, ...] | None:
  """The shape of array `key` of an npz file, read from its header (no data loaded)."""
  try:
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as f:
      version = np.lib.format.read_magic(f)
      read = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
              np.lib.format.read_array_header_2_0)
      return read(f)[0]
  except (KeyError, *_UNREADABLE):
    return None  # the split's own reader reports what is wrong with it


def load_split(workdir: str, split: str) -> dict[str, np.ndarray] | None:
  """One split of the cache of a finished run (None when that split was not cached)."""
  directory = os.path.join(workdir, "features")
  if not os.path.isdir(directory):
    raise FileNotFoundError(
        f"no feature cache in {workdir}: expected {directory}/ (train.npz, val.npz, test.npz, "
        "head.npz). Run stage 1 to completion with train.cache_features=True first.")
  path = os.path.join(directory, f"{split}.npz")
  if not os.path.exists(path):
    return None
  arrays = read_npz(path, REWRITE_CACHE)
  missing = [k for k in ("features", "labels") if k not in arrays]
  if missing:
    raise ValueError(f"{path} lacks {missing} (it has {sorted(arrays)}); {REWRITE_CACHE}")
  return check_split(arrays, path)


def load_head(workdir: str) -> dict[str, np.ndarray] | None:
  """The cached classifier weights, or None for models without a single head."""
  path = os.path.join(workdir, "features", "head.npz")
  if not os.path.exists(path):
    return None
  head = read_npz(path, REWRITE_CACHE)
  if np.ndim(head.get("kernel")) != 2:
    raise ValueError(f"{path} must hold the head's 'kernel' (D, C); it has {sorted(head)}; "
                     f"{REWRITE_CACHE}")
  check_finite(head, path)
  train_path = os.path.join(workdir, "features", "train.npz")
  shape = _npy_shape(train_path, "features") if os.path.exists(train_path) else None
  if shape is not None and len(shape) == 2 and head["kernel"].shape[0] != shape[1]:
    raise ValueError(f"{path}: the head's input dimension {head['kernel'].shape[0]} differs from "
                     f"the features' dimension {shape[1]} ({train_path}); the two come from "
                     f"different runs: {REWRITE_CACHE}")
  return head
