"""Imbalance profiles and the Cao et al. (LDAM-DRW) long-tailed subset protocol.

The CIFAR-LT subsets every paper since LDAM-DRW reports on are defined by the reference
code's exact procedure, so it is reproduced here step by step (see
`../shared/docs/protocol.md`):

1. class i (0-based, head = class 0) keeps `int(n_max * (1 / IF) ** (i / (C - 1)))` images
   (exponential profile), or n_max / n_max // IF for the first / second half of the classes
   (step profile);
2. `np.random.seed(seed)` once, then for each class in order: take that class's indices in the
   original train order, shuffle them in place, keep the first n_i.
"""

from __future__ import annotations

import numpy as np

PROFILES = ("exp", "step")


def class_counts_for_profile(n_max: int, num_classes: int, imbalance_factor: float,
                             profile: str = "exp") -> np.ndarray:
  """Images kept per class under an imbalance profile.

  Args:
    n_max: images of the head class (class 0).
    num_classes: number of classes C.
    imbalance_factor: n_max / n_min (e.g. 100, 50, 10); 1 keeps the data balanced.
    profile: "exp" (exponential decay, Cao et al.) or "step" (half head, half tail).

  Returns:
    (C,) int64 counts, head first.
  """
  if imbalance_factor < 1:
    raise ValueError(f"imbalance_factor must be >= 1, got {imbalance_factor}")
  # The reference passes the ratio 1/IF as a float and truncates with int(); keep both.
  ratio = 1.0 / imbalance_factor
  if profile == "exp":
    counts = [int(n_max * ratio ** (i / (num_classes - 1.0))) for i in range(num_classes)]
  elif profile == "step":
    half = num_classes // 2
    counts = [n_max] * half + [int(n_max * ratio)] * (num_classes - half)
  else:
    raise ValueError(f"unknown imbalance profile {profile!r}; choose one of {PROFILES}")
  return np.asarray(counts, dtype=np.int64)


def cifar_lt_indices(labels: np.ndarray, imbalance_factor: float, profile: str = "exp",
                     seed: int = 0) -> np.ndarray:
  """Indices of the long-tailed subset, in the order the reference protocol produces them.

  Args:
    labels: (N,) int labels of the ORIGINAL (balanced) train split, in its original order.
    imbalance_factor: n_max / n_min.
    profile: "exp" or "step".
    seed: the subset seed (0 in every paper); keep it separate from the training seed.

  Returns:
    (sum n_i,) int64 indices into `labels`: class 0's chosen indices first, then class 1's, ...
  """
  labels = np.asarray(labels)
  num_classes = int(labels.max()) + 1
  per_class = np.bincount(labels, minlength=num_classes)
  if per_class.min() != per_class.max():
    raise ValueError(
        "cifar_lt_indices expects the balanced original train labels; got class sizes "
        f"{per_class.min()}..{per_class.max()}")
  counts = class_counts_for_profile(int(per_class[0]), num_classes, imbalance_factor,
                                    profile)
  # A private RandomState seeded once reproduces `np.random.seed(seed)` followed by
  # successive `np.random.shuffle` calls, without touching numpy's global state.
  rng = np.random.RandomState(seed)
  chosen = []
  for c in range(num_classes):
    idx = np.where(labels == c)[0]
    rng.shuffle(idx)
    chosen.append(idx[:counts[c]])
  return np.concatenate(chosen)
