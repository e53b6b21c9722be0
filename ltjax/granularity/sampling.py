"""Per-epoch capping of auxiliary classes (granularity.md §3, "Images per auxiliary class").

Target classes are never subsampled. An auxiliary class with more than `keep_all_up_to` images
contributes `cap` of them per epoch, a fresh random subset every epoch (deterministic from
(seed, epoch)), as the official code rebuilds its dataset each epoch; one with at most
`keep_all_up_to` images keeps them all. The logit prior uses the capped counts and stays fixed.

The official rule (Gran_LT `util/datasets.py`, `DatasetLT.re_arrange` and
`DatasetLT_aug.get_aug_info`) reads a per-class number n from its metadata: n > 100 -> 50
images, 20 < n <= 100 -> n, n <= 20 -> 50. ltjax reads n as the class's image count, where the
last branch keeps every image too (a class of at most 20 images has fewer than 50): so
`cap=50, keep_all_up_to=100` is the official rule, and `keep_all_up_to=0` caps every class at
`cap`.

An auxiliary class that no target lists (possible with a mined table, never in the official
data, whose metadata lists every class) is capped like any other here. The official code would
leave it uncapped, by omission; ltjax keeps the cap because it bounds what the auxiliary data
weighs against the targets whatever the table says.
"""

from __future__ import annotations

import numpy as np


def _capped(counts: np.ndarray, num_targets: int, cap: int, keep_all_up_to: int) -> np.ndarray:
  """Which classes are cut to `cap` images per epoch (bool (C,))."""
  cut = np.zeros(len(counts), bool)
  cut[num_targets:] = counts[num_targets:] > max(cap, keep_all_up_to)
  return cut


def capped_counts(labels, num_classes: int, num_targets: int, cap: int = 50, *,
                  keep_all_up_to: int = 0) -> np.ndarray:
  """(C,) training counts per epoch (the fixed prior's n_c).

  Args:
    labels: (N,) int labels; targets 0 .. num_targets-1, auxiliary classes above.
    num_classes, num_targets: C and T.
    cap: images per epoch of a capped auxiliary class.
    keep_all_up_to: an auxiliary class with at most this many images is never capped (the
      official 100; 0 caps every class above `cap`).
  """
  counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.int64)
  return np.where(_capped(counts, num_targets, cap, keep_all_up_to), cap, counts)


def capped_epoch_indices(labels, num_targets: int, *, cap: int = 50, seed: int = 0,
                         epoch: int = 0, replace: bool = False,
                         keep_all_up_to: int = 0) -> np.ndarray:
  """Sorted indices of one epoch's training pool.

  Args:
    labels: (N,) int labels; targets 0 .. num_targets-1, auxiliary classes above.
    num_targets: T.
    cap: images per auxiliary class and epoch.
    seed, epoch: the draw is a function of these only.
    replace: draw `cap` images with replacement from the capped classes (the official
      iNaturalist code); otherwise a random subset without replacement.
    keep_all_up_to: which auxiliary classes are capped, as `capped_counts`.

  Returns:
    (M,) int64 indices into labels (with replace=True an index may repeat).
  """
  if cap < 1:
    raise ValueError(f"the auxiliary cap must be >= 1, got {cap}")
  labels = np.asarray(labels)
  cut = _capped(np.bincount(labels), num_targets, cap, keep_all_up_to)
  rng = np.random.default_rng([seed, epoch, 1361])
  pool = [np.nonzero(labels < num_targets)[0]]
  for c in np.unique(labels[labels >= num_targets]):
    members = np.nonzero(labels == c)[0]
    if cut[c]:
      members = rng.choice(members, cap, replace=replace)
    pool.append(members)
  return np.sort(np.concatenate(pool)).astype(np.int64)
