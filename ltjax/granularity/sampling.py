"""Per-epoch capping of auxiliary classes (granularity.md §3, "Images per auxiliary class").

Target classes are never subsampled; each auxiliary class contributes at most `cap` images per
epoch, a fresh random subset every epoch (deterministic from (seed, epoch)), as the official
code rebuilds its dataset each epoch. The logit prior uses the capped counts and stays fixed.
"""

from __future__ import annotations

import numpy as np


def capped_counts(labels, num_classes: int, num_targets: int, cap: int = 50) -> np.ndarray:
  """(C,) training counts with every auxiliary class capped at `cap` (the fixed prior's n_c)."""
  counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.int64)
  counts[num_targets:] = np.minimum(counts[num_targets:], cap)
  return counts


def capped_epoch_indices(labels, num_targets: int, *, cap: int = 50, seed: int = 0,
                         epoch: int = 0, replace: bool = False) -> np.ndarray:
  """Sorted indices of one epoch's training pool.

  Args:
    labels: (N,) int labels; targets 0 .. num_targets-1, auxiliary classes above.
    num_targets: T.
    cap: images per auxiliary class and epoch.
    seed, epoch: the draw is a function of these only.
    replace: draw `cap` images with replacement from classes with more than `cap` (the
      official iNaturalist code); otherwise a random subset without replacement.

  Returns:
    (M,) int64 indices into labels (with replace=True an index may repeat).
  """
  if cap < 1:
    raise ValueError(f"the auxiliary cap must be >= 1, got {cap}")
  labels = np.asarray(labels)
  rng = np.random.default_rng([seed, epoch, 1361])
  pool = [np.nonzero(labels < num_targets)[0]]
  for c in np.unique(labels[labels >= num_targets]):
    members = np.nonzero(labels == c)[0]
    if len(members) > cap:
      members = rng.choice(members, cap, replace=replace)
    pool.append(members)
  return np.sort(np.concatenate(pool)).astype(np.int64)
