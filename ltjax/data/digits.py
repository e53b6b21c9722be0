"""The embedded default dataset: a long-tailed version of scikit-learn's handwritten digits.

scikit-learn ships the 1,797 8x8 digit images (about 180 per class) inside its wheel, so this
dataset needs no download and runs anywhere in seconds. The split, fixed by `seed`:

1. for each class, shuffle its images and carve `test_per_class` of them as a balanced test
   set, then `val_per_class` more as a balanced validation set;
2. from the remaining images, build the long-tailed train split with the same exponential
   profile as CIFAR-LT (head = digit 0, n_max = `n_max`, imbalance factor IF).

With the defaults (40 test, 10 val, n_max 120, IF 20) the train counts are
120, 86, 61, 44, 31, 22, 16, 11, 8, 6 (405 images): one many-shot class (>100), five medium
and four few-shot classes (<20) under the standard thresholds.
"""

from __future__ import annotations

import numpy as np

from ltjax.data import arrays
from ltjax.data import profiles


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
  """All 1,797 digits as (N, 8, 8, 1) uint8 (0..255) and (N,) int32 labels."""
  from sklearn import datasets as sk_datasets  # pylint: disable=g-import-not-at-top
  bunch = sk_datasets.load_digits()
  # Pixel values are 0..16; stretch them to the uint8 range every other source uses.
  images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  return images, bunch.target.astype(np.int32)


def digits_lt_splits(imbalance_factor: float = 20.0, n_max: int = 120,
                     test_per_class: int = 40, val_per_class: int = 10, profile: str = "exp",
                     seed: int = 0, images: np.ndarray | None = None,
                     labels: np.ndarray | None = None) -> dict[str, arrays.ArraySplit]:
  """The digits-LT train / val / test splits (see the module docstring).

  `images`/`labels` replace the ten digit classes by a subset relabelled 0 .. K-1 (the
  auxiliary-class demonstration keeps some digits as targets); by default all ten.
  """
  if images is None:
    images, labels = load_digits_arrays()
  num_classes = int(labels.max()) + 1
  rng = np.random.RandomState(seed)
  test, val, rest = [], [], []
  for c in range(num_classes):
    idx = np.where(labels == c)[0]
    rng.shuffle(idx)
    test.append(idx[:test_per_class])
    val.append(idx[test_per_class:test_per_class + val_per_class])
    rest.append(idx[test_per_class + val_per_class:])
  available = min(len(r) for r in rest)
  if n_max > available:
    raise ValueError(f"n_max={n_max} exceeds the {available} images every class has left "
                     "after carving test and val; lower dataset.n_max")
  counts = profiles.class_counts_for_profile(n_max, num_classes, imbalance_factor, profile)
  train = np.concatenate([r[:n] for r, n in zip(rest, counts)])
  return {
      "train": arrays.ArraySplit(images[train], labels[train]),
      "val": arrays.ArraySplit(images[np.concatenate(val)], labels[np.concatenate(val)]),
      "test": arrays.ArraySplit(images[np.concatenate(test)], labels[np.concatenate(test)]),
  }
