"""Long-tailed datasets: the benchmark protocols, sources, samplers and on-device augmentation.

Public entry points:
  - `cifar_lt_indices`, `class_counts_for_profile`: the Cao et al. long-tail protocol;
  - `lt_train_and_val_indices`: LT subset plus a held-out balanced validation split;
  - `digits_lt_splits`: the embedded default dataset;
  - `build_splits(config)`: the splits a config names (CIFAR files / TFDS / image folders);
  - `IndexSampler`, `epoch_order`: instance / class-balanced / square-root index streams;
  - `random_crop_flip`, `normalize`: on-device augmentation.
"""

from ltjax.data.arrays import ArraySplit
from ltjax.data.augment import normalize
from ltjax.data.augment import random_crop_flip
from ltjax.data.datasets import build_splits
from ltjax.data.datasets import DatasetSplits
from ltjax.data.digits import digits_lt_splits
from ltjax.data.profiles import cifar_lt_indices
from ltjax.data.profiles import class_counts_for_profile
from ltjax.data.samplers import epoch_order
from ltjax.data.samplers import IndexSampler
from ltjax.data.validation import lt_train_and_val_indices
