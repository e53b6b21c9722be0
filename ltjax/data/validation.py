"""Held-out, class-balanced validation splits: we select checkpoints and tune on these, never
on test.

Peers evaluate CIFAR-LT on the test set and select on it too. ltjax carves a balanced validation
set from the train images that the long-tailed subset did NOT keep, so the LT train subset stays
exactly the reference one. The catch, stated plainly: under the exponential profile class 0
keeps all of its images at every imbalance factor, so it has no unused images and gets no
validation images (its per-class val accuracy is reported as null and bucket means skip it).
The "reserve" variant instead puts k images of every class aside first and draws the LT subset
from the rest; every class then has k validation images, but the train subset differs from
the reference one.
"""

from __future__ import annotations

import numpy as np

from ltjax.data import profiles

VAL_MODES = ("unused", "reserve", "none")


def _take_per_class(labels: np.ndarray, pool: np.ndarray, per_class: int,
                    rng: np.random.RandomState) -> np.ndarray:
  """Up to `per_class` random indices of each class from `pool`, class by class."""
  out = []
  for c in range(int(labels.max()) + 1):
    idx = pool[labels[pool] == c]
    idx = idx[rng.permutation(len(idx))]
    out.append(np.sort(idx[:per_class]))
  return np.concatenate(out).astype(np.int64)


def lt_train_and_val_indices(labels: np.ndarray, imbalance_factor: float, *,
                             profile: str = "exp", subset_seed: int = 0,
                             val_per_class: int = 0, val_mode: str = "unused",
                             val_seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """The long-tailed train subset and a balanced validation subset of a balanced train split.

  Args:
    labels: (N,) original balanced train labels, original order.
    imbalance_factor: n_max / n_min of the LT subset.
    profile: "exp" or "step".
    subset_seed: seed of the Cao et al. subset protocol (0 in every paper).
    val_per_class: validation images per class (fewer where a class has fewer to spare).
    val_mode: "unused" (take val from images the LT subset left out: reference subset kept,
      class 0 gets none), "reserve" (set val aside first, then build the LT subset from the
      rest), or "none".
    val_seed: seed for choosing validation images, independent of the subset seed.

  Returns:
    (train_indices, val_indices), both into `labels`; train in reference order.
  """
  labels = np.asarray(labels)
  rng = np.random.RandomState(val_seed)
  all_idx = np.arange(len(labels))
  if val_mode == "none" or val_per_class == 0:
    return profiles.cifar_lt_indices(labels, imbalance_factor, profile, subset_seed), \
        np.zeros((0,), np.int64)
  if val_mode == "unused":
    train = profiles.cifar_lt_indices(labels, imbalance_factor, profile, subset_seed)
    unused = np.setdiff1d(all_idx, train)
    return train, _take_per_class(labels, unused, val_per_class, rng)
  if val_mode == "reserve":
    val = _take_per_class(labels, all_idx, val_per_class, rng)
    rest = np.setdiff1d(all_idx, val)
    # Re-run the protocol on the remaining (still balanced) images.
    sub = profiles.cifar_lt_indices(labels[rest], imbalance_factor, profile, subset_seed)
    return rest[sub], val
  raise ValueError(f"unknown val_mode {val_mode!r}; choose one of {VAL_MODES}")
