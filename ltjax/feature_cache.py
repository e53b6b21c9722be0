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
from jax.experimental import multihost_utils
import numpy as np

from ltjax import evaluate
from ltjax import sharding
from ltjax.data import augment

SPLITS = ("train", "val", "test")


def make_extract_step(model, *, mean, std):
  """extract_step(state, batch) -> dict of batch-major arrays, eval mode."""

  def extract_step(state, batch):
    images = augment.normalize(batch["image"], mean, std)
    logits, features = model.apply({"params": state.params, "batch_stats": state.batch_stats},
                                   images, train=False)
    out = {"features": features["pooled"], "logits": logits, "mask": batch["mask"]}
    for key in ("expert_logits", "expert_pooled"):  # (E, B, .) -> (B, E, .)
      if key in features:
        out[key] = jnp.swapaxes(features[key], 0, 1)
    return out

  return extract_step


def extract_split(extract_step, state, split, mesh, batch_size: int) -> dict[str, np.ndarray]:
  """Features and logits of a whole split, in its order (padding dropped)."""
  global_batch = evaluate.eval_batch_size(batch_size)
  parts = []
  for local in evaluate.local_eval_batches(split, global_batch, jax.process_index(),
                                           jax.process_count()):
    # Gather every host's rows (a no-op copy on one host).
    parts.append(multihost_utils.process_allgather(
        extract_step(state, sharding.global_batch(mesh, local)), tiled=True))
  mask = np.concatenate([np.asarray(p.pop("mask")) for p in parts]) > 0
  # Batches are laid out host-major; re-order rows to the split's order below.
  out = {k: np.concatenate([np.asarray(p[k], np.float32) for p in parts])[mask]
         for k in parts[0]}
  if jax.process_count() > 1:
    out = _host_major_to_split_order(out, len(split), global_batch)
  out["labels"] = np.asarray(split.labels, np.int32)
  return out


def _host_major_to_split_order(out, n, global_batch):
  """Undo the interleaving of per-host contiguous shards across global batches."""
  pc = jax.process_count()
  per_process = -(-n // pc)
  local_batch = global_batch // pc
  order = []
  num_batches = max(1, -(-per_process // local_batch))
  for b in range(num_batches):
    for p in range(pc):
      start = p * per_process + b * local_batch
      stop = min(start + local_batch, (p + 1) * per_process, n)
      order.extend(range(start, max(start, stop)))
  result = {}
  for k, v in out.items():
    arranged = np.empty_like(v)
    arranged[np.asarray(order)] = v
    result[k] = arranged
  return result


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
