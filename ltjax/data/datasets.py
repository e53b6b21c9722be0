"""Builds the train / val / test splits a config names, with the long-tail protocol applied."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Any, Sequence

import ml_collections
import numpy as np

from ltjax.data import arrays
from ltjax.data import augment
from ltjax.data import cifar_files
from ltjax.data import class_split
from ltjax.data import digits
from ltjax.data import image_folder
from ltjax.data import paths
from ltjax.data import validation

# TFDS builder name and class count of each CIFAR-LT dataset.
_CIFAR = {"cifar10_lt": ("cifar10", 10), "cifar100_lt": ("cifar100", 100)}


@dataclasses.dataclass
class DatasetSplits:
  """Everything the trainer needs to know about the data.

  `train`, `val` and `test` are ArraySplit or ImageFolderSplit (anything with `labels`,
  `gather(indices)`, `image_shape`, `len()`); `val` is None when no validation split exists.
  """

  name: str
  train: Any
  val: Any
  test: Any
  num_classes: int
  class_names: list[str]
  mean: Sequence[float]
  std: Sequence[float]
  # When a method trains classes beyond the evaluated ones (a `TrainingHooks.add_data`, e.g.
  # auxiliary classes): classes 0 .. num_targets-1 are the targets that val/test hold and
  # metrics cover, and `auxiliary` describes the others (auxiliary.json, results.json).
  num_targets: int = 0
  auxiliary: dict[str, Any] | None = None
  # Arrays a method attached to the data for its own use (e.g. a neighbour table).
  extras: dict[str, Any] = dataclasses.field(default_factory=dict)
  # Lines a method adds to `describe` (the run log's data summary).
  notes: tuple[str, ...] = ()
  # The images of the classes a method held out of the label space before the long-tail
  # profile was drawn (`TrainingHooks.held_out_classes`; labels 0 .. M-1 in that order) and
  # their names, for that method's `add_data`; else None.
  held_out: tuple[Any, list[str]] | None = None

  def __post_init__(self):
    if not self.num_targets:
      self.num_targets = self.num_classes
    self._content_hash = None

  def content_hash(self) -> str:
    """A hash of what the splits hold, computed once: every label and, for in-memory splits,
    every pixel; for image folders each image's path (the files themselves are not read).
    A checkpoint stores it, so a resume against other data (a same-sized copy) is refused."""
    if self._content_hash is None:
      digest = hashlib.sha256()
      for name in ("train", "val", "test"):
        digest.update(name.encode())
        _hash_split(digest, getattr(self, name))
      self._content_hash = digest.hexdigest()[:20]
    return self._content_hash

  @property
  def class_counts(self) -> np.ndarray:
    """(C,) training images per class (auxiliary classes uncapped)."""
    return np.bincount(self.train.labels, minlength=self.num_classes)

  @property
  def target_counts(self) -> np.ndarray:
    """(T,) training images of the target classes: the many/medium/few reference."""
    return self.class_counts[:self.num_targets]


def _hash_split(digest, split) -> None:
  if split is None:
    digest.update(b"none")
    return
  digest.update(np.ascontiguousarray(np.asarray(split.labels, np.int64)).tobytes())
  if hasattr(split, "images"):
    digest.update(np.ascontiguousarray(split.images).tobytes())
  elif hasattr(split, "paths"):
    digest.update("\n".join(map(str, split.paths)).encode())
  elif hasattr(split, "a") and hasattr(split, "b"):  # a concatenation of two splits
    _hash_split(digest, split.a)
    _hash_split(digest, split.b)


def limit_per_class(split, limit: int):
  """The first `limit` images of each class (smoke runs), order otherwise kept."""
  if not limit or split is None:
    return split
  labels = np.asarray(split.labels)
  keep = np.concatenate([np.where(labels == c)[0][:limit] for c in np.unique(labels)])
  return split.subset(np.sort(keep))


def _check_labels(split, num_classes: int, what: str) -> None:
  labels = np.asarray(split.labels)
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise ValueError(f"{what} labels lie in [{labels.min()}, {labels.max()}] but the dataset "
                     f"has {num_classes} classes; check dataset.num_classes and the label file")


def _cifar_lt(dc: ml_collections.ConfigDict, data_dir: str,
              aux_names: Sequence[str] = ()) -> tuple[DatasetSplits, Any]:
  tfds_name, num_classes = _CIFAR[dc.name]
  if dc.source == "files":
    train_full, test, names = cifar_files.load_cifar(tfds_name, data_dir)
  elif dc.source == "tfds":
    from ltjax.data import tfds_source  # pylint: disable=g-import-not-at-top
    tfds_dir = dc.data_dir or None
    train_full = tfds_source.load_tfds_arrays(tfds_name, "train", tfds_dir)
    test = tfds_source.load_tfds_arrays(tfds_name, "test", tfds_dir)
    names = tfds_source.class_names(tfds_name, tfds_dir) or [str(i) for i in range(num_classes)]
  else:
    raise ValueError(f"dataset {dc.name} reads from source 'files' or 'tfds', not {dc.source!r}")
  aux = None
  if aux_names:  # the named classes leave the label space before the LT profile is drawn
    train_full, aux, kept = class_split.move_classes_to_auxiliary(train_full, names, aux_names)
    test, _, _ = class_split.move_classes_to_auxiliary(test, names, aux_names)
    names, num_classes = kept, len(kept)
  train_idx, val_idx = validation.lt_train_and_val_indices(
      train_full.labels, dc.imbalance_factor, profile=dc.profile, subset_seed=dc.subset_seed,
      val_per_class=dc.val_per_class, val_mode=dc.val_mode, val_seed=dc.val_seed)
  val = train_full.subset(val_idx) if len(val_idx) else None
  return DatasetSplits(dc.name, train_full.subset(train_idx), val, test, num_classes,
                       list(names), augment.CIFAR_MEAN, augment.CIFAR_STD), aux


def _digits_lt(dc: ml_collections.ConfigDict,
               aux_names: Sequence[str] = ()) -> tuple[DatasetSplits, Any]:
  images, labels = digits.load_digits_arrays()
  names, aux = [str(i) for i in range(10)], None
  if aux_names:
    targets, aux, names = class_split.move_classes_to_auxiliary(
        arrays.ArraySplit(images, labels), names, aux_names)
    images, labels = targets.images, targets.labels
  splits = digits.digits_lt_splits(dc.imbalance_factor, dc.n_max, dc.test_per_class,
                                   dc.val_per_class, dc.profile, dc.subset_seed,
                                   images=images, labels=labels)
  # Digits' own statistics (uint8-scaled) over the whole set; one grey channel.
  return DatasetSplits("digits_lt", splits["train"], splits["val"] if dc.val_per_class else None,
                       splits["test"], len(names), names, (0.3053,), (0.3759,)), aux


def _image_folder(dc: ml_collections.ConfigDict, data_dir: str) -> DatasetSplits:
  if dc.num_classes <= 0:
    raise ValueError("dataset.source='image_folder' needs config.dataset.num_classes "
                     "(1000 for ImageNet-LT, 365 for Places-LT, 8142 for iNaturalist 2018)")

  def load(list_file, size, resize=None):
    if not list_file:
      return None
    path = list_file if os.path.isabs(list_file) else os.path.join(data_dir, list_file)
    return image_folder.ImageFolderSplit(data_dir, path, size, dc.num_classes,
                                         resize_size=resize)

  train_size = dc.train_image_size or dc.image_size
  # Train: the whole centre square at train_size (random crops come later, on device).
  train = load(dc.train_list, train_size, train_size)
  val, test = load(dc.val_list, dc.image_size), load(dc.test_list, dc.image_size)
  if test is None:
    raise ValueError("dataset.test_list is empty: image-folder datasets need a test list")
  return DatasetSplits(dc.name, train, val, test, dc.num_classes,
                       [str(i) for i in range(dc.num_classes)], augment.IMAGENET_MEAN,
                       augment.IMAGENET_STD)


def build_splits(config: ml_collections.ConfigDict,
                 held_out_classes: Sequence[str] = ()) -> DatasetSplits:
  """Loads the dataset `config.dataset` names and applies the long-tail protocol.

  Args:
    config: the full experiment config (reads `config.dataset`).
    held_out_classes: class names taken out of the label space before the profile is drawn
      and kept in `splits.held_out` (a method's `TrainingHooks.held_out_classes`, e.g.
      category extrapolation's auxiliary classes); `dataset.exclude_classes` drops them.

  Returns:
    DatasetSplits with the LT train split, held-out val (or None) and the balanced test split.
  """
  dc = config.dataset
  if held_out_classes and dc.exclude_classes:
    raise ValueError("dataset.exclude_classes cannot be combined with a method that holds "
                     f"classes out of the label space ({list(held_out_classes)}): set one")
  moved = tuple(held_out_classes) or tuple(dc.exclude_classes)
  if moved and dc.name not in ("digits_lt", *_CIFAR):
    raise ValueError("aux.source='dataset_classes' and dataset.exclude_classes work on "
                     "digits_lt and CIFAR-LT; for other datasets give the auxiliary images as "
                     "aux.source='arrays' or 'image_folder'")
  aux_split = None
  if dc.name == "digits_lt":
    splits, aux_split = _digits_lt(dc, moved)
  elif dc.name in _CIFAR:
    splits, aux_split = _cifar_lt(dc, paths.data_dir(config), moved)
  else:
    splits = _image_folder(dc, paths.data_dir(config))
  if held_out_classes:  # exclude_classes: the moved classes are simply dropped
    splits.held_out = (aux_split, list(moved))
  for what in ("train", "val", "test"):
    if getattr(splits, what) is not None:
      _check_labels(getattr(splits, what), splits.num_classes, what)
  splits.val = limit_per_class(splits.val, dc.eval_per_class_limit)
  splits.test = limit_per_class(splits.test, dc.eval_per_class_limit)
  return splits


def describe(splits: DatasetSplits) -> str:
  """One line per split: sizes and the head/tail counts, for logs."""
  counts = splits.target_counts
  imbalance = counts.max() / max(counts.min(), 1)
  lines = [f"{splits.name}: {splits.num_targets} classes; train {int(counts.sum())} images "
           f"({counts.max()}..{counts.min()} per class, imbalance {imbalance:.1f})"]
  for what in ("val", "test"):
    split = getattr(splits, what)
    lines.append(f"  {what}: {0 if split is None else len(split)} images")
  lines.extend(f"  {note}" for note in splits.notes)
  return "\n".join(lines)


__all__ = ["DatasetSplits", "build_splits", "describe"]
