"""Image-level filtering of auxiliary images by feature similarity (granularity.md §3, §6.3).

An auxiliary image is kept when the cosine similarity of its feature to its parent target's
class prototype (the mean L2-normalised feature of that target's training images) lies in
[low, high]: below `low` it is not related enough, above `high` it is a near-duplicate. With
several parents the most similar one counts. The paper's thresholds (0.7 / 0.98 on DINOv2
features) are from secondary summaries (S); with other features, look at the similarity
histogram (`parent_similarity`) before choosing them.

Features come from a user's cache (`load_feature_file`) or from a finished ltjax run's model
(`features_from_run`), e.g. a targets-only stage-1 run.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ltjax.core import evaluate
from ltjax.core import sharding
from ltjax.runs import feature_cache
from ltjax.runs import finished
from ltjax.core.train_state import TrainState


def _normalize(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x, np.float64)
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def class_prototypes(features: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
  """(num_classes, D) mean of the L2-normalised features per class, re-normalised; a class
  without images gets a zero row (similarity 0 to everything)."""
  f = _normalize(features)
  labels = np.asarray(labels)
  out = np.zeros((num_classes, f.shape[1]))
  for c in range(num_classes):
    if np.any(labels == c):
      out[c] = f[labels == c].mean(0)
  return _normalize(out) * (np.linalg.norm(out, axis=1, keepdims=True) > 0)


def parent_similarity(aux_features: np.ndarray, aux_labels: np.ndarray,
                      prototypes: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
  """(N,) the best cosine similarity of each auxiliary image to a parent's prototype.

  Args:
    aux_features: (N, D) features of the auxiliary images.
    aux_labels: (N,) their class ids T .. C-1.
    prototypes: (T, D) target prototypes (`class_prototypes`).
    neighbors: (T, K) the neighbour table (auxiliary ids, -1 padded).

  Returns:
    (N,) float; NaN for an auxiliary class that no target lists (nothing to compare with).
  """
  t = prototypes.shape[0]
  sims = _normalize(aux_features) @ prototypes.T  # (N, T)
  aux_labels = np.asarray(aux_labels)
  is_parent = np.any(np.asarray(neighbors)[None, :, :] == aux_labels[:, None, None], -1)
  best = np.where(is_parent, sims, -np.inf).max(axis=1) if t else np.full(len(sims), -np.inf)
  return np.where(np.isfinite(best), best, np.nan)


def keep_mask(similarity: np.ndarray, low: float = 0.7, high: float = 0.98) -> np.ndarray:
  """True where low <= similarity <= high; images of parentless classes (NaN) are kept, as the
  filter has no prototype to judge them by."""
  if not low <= high:
    raise ValueError(f"aux.filter_low ({low}) must not exceed aux.filter_high ({high})")
  return np.isnan(similarity) | ((similarity >= low) & (similarity <= high))


def load_feature_file(path: str, num_target_images: int, num_aux_images: int
                      ) -> tuple[np.ndarray, np.ndarray]:
  """(target features, auxiliary features) from a user's `.npz` with `target_features`
  (rows aligned with the target training images) and `aux_features` (aligned with the
  auxiliary set, before any filtering)."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"aux.filter_features {path!r} does not exist; it is an .npz with "
                            "target_features and aux_features")
  with np.load(path) as f:
    missing = {"target_features", "aux_features"} - set(f.files)
    if missing:
      raise ValueError(f"{path} lacks {sorted(missing)}")
    target, aux = f["target_features"], f["aux_features"]
  if len(target) != num_target_images or len(aux) != num_aux_images:
    raise ValueError(f"{path} holds {len(target)} target and {len(aux)} auxiliary feature rows "
                     f"but the data has {num_target_images} and {num_aux_images} images; "
                     "compute the features for exactly these sets, in order")
  return target, aux


def features_from_run(workdir: str, splits_list: list[Any], mean, std,
                      batch_size: int = 500) -> list[np.ndarray]:
  """Pooled features (eval mode) of each split in `splits_list` from a finished ltjax run's
  selected weights (its model is rebuilt from its config.json)."""
  run = finished.load(workdir, "aux.filter_workdir")
  model = run.model()
  raw = run.restore()
  mesh = sharding.make_data_mesh()
  state = jax.device_put(
      TrainState(step=jnp.zeros((), jnp.int32), params=raw["params"],
                       batch_stats=raw.get("batch_stats", {}), opt_state=None),
      sharding.replicated(mesh))
  extract = jax.jit(feature_cache.make_extract_step(model, mean=mean, std=std),
                    out_shardings=sharding.batch_sharded(mesh))
  return [evaluate.collect_split(extract, state, split, mesh, batch_size)["features"]
          for split in splits_list]
