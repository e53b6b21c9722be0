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
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ltjax import evaluate
from ltjax.data import augment

SPLITS = ("train", "val", "test")


def make_extract_step(model, *, mean, std, num_targets: int | None = None):
  """extract_step(state, batch) -> dict of batch-major arrays, eval mode (logits of the first
  `num_targets` classes when given: auxiliary classes are dropped at inference)."""

  def extract_step(state, batch):
    images = augment.normalize(batch["image"], mean, std)
    logits, features = model.apply({"params": state.params, "batch_stats": state.batch_stats},
                                   images, train=False)
    if num_targets is not None:
      logits = logits[..., :num_targets]
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
  with open(os.path.join(directory, "meta.json"), "w", encoding="utf-8") as f:
    json.dump(meta, f, indent=2)
  return directory


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
  with np.load(path) as data:
    return {k: data[k] for k in data.files}


def load_head(workdir: str) -> dict[str, np.ndarray] | None:
  """The cached classifier weights, or None for models without a single head."""
  path = os.path.join(workdir, "features", "head.npz")
  if not os.path.exists(path):
    return None
  with np.load(path) as data:
    return {k: data[k] for k in data.files}
