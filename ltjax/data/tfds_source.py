"""TFDS datasets read into host memory without TensorFlow.

`tfds.data_source` gives random access to prepared ArrayRecord files through
pure-python decoding, so small datasets (CIFAR, MNIST, ...) can be loaded as
numpy arrays without importing TensorFlow. Nothing is ever downloaded here: a
dataset must have been prepared (`tfds build`) beforehand.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import tensorflow_datasets as tfds

from ltjax.data.arrays import ArraySplit

# Records per batched read; large enough to amortise per-call overhead.
_READ_BATCH = 1024


def _not_prepared_error(name: str, data_dir: str | None,
                        cause: Exception) -> FileNotFoundError:
  where = data_dir if data_dir is not None else "the default TFDS data_dir"
  dir_flag = f" --data_dir {data_dir}" if data_dir is not None else ""
  return FileNotFoundError(
      f"TFDS dataset {name!r} is not prepared in {where} (as ArrayRecord,"
      " which random access needs). Prepare it first on a machine with"
      f" internet: `tfds build {name}{dir_flag} --file_format=array_record`"
      f" or `tfds.builder({name!r}, data_dir=...).download_and_prepare()`,"
      f" then copy the data_dir here. Underlying error: {cause}")


def _open(name: str, split: str, data_dir: str | None):
  """Opens a random-access source, mapping 'not prepared' to FileNotFound."""
  try:
    # download=False: this code must never reach for the network.
    return tfds.data_source(name, split=split, data_dir=data_dir,
                            download=False)
  except tfds.core.registered.DatasetNotFoundError:
    raise  # Unknown name: the tfds message lists what exists.
  except (NotImplementedError, FileNotFoundError, AssertionError, OSError,
          ValueError) as e:
    # tfds reports missing data in several ways (e.g. NotImplementedError
    # about the TFRECORD format when no files exist); ask the builder.
    try:
      prepared = tfds.builder(name, data_dir=data_dir).is_prepared()
    except Exception:  # pylint: disable=broad-except
      prepared = False
    if prepared:
      raise
    raise _not_prepared_error(name, data_dir, e) from e


def _read_records(ds: Sequence[Any]) -> list[Any]:
  """Reads all records in order, batched where the source supports it."""
  n = len(ds)
  getitems = getattr(ds, "__getitems__", None)
  records = []
  for start in range(0, n, _READ_BATCH):
    keys = list(range(start, min(start + _READ_BATCH, n)))
    if getitems is not None:
      try:
        records.extend(getitems(keys))
        continue
      except TypeError:
        # Some backends (e.g. tfds.testing.mock_data) lack a working
        # batched read; fall back to single reads from here on.
        getitems = None
    records.extend(ds[i] for i in keys)
  return records


def load_tfds_arrays(name: str, split: str, data_dir: str | None = None,
                     image_key: str = "image",
                     label_key: str = "label") -> ArraySplit:
  """Loads a prepared TFDS split into memory, in the source's order.

  Args:
    name: TFDS dataset name, e.g. "cifar10".
    split: split spec, e.g. "train" or "test".
    data_dir: TFDS data directory; None for the TFDS default.
    image_key: feature holding the (H, W[, C]) uint8 image.
    label_key: feature holding the integer label.

  Returns:
    ArraySplit with (N, H, W, C) uint8 images and (N,) int32 labels.

  Raises:
    FileNotFoundError: if the dataset has not been prepared in data_dir.
    ValueError: if features are missing or images differ in shape.
  """
  ds = _open(name, split, data_dir)
  records = _read_records(ds)
  if not records:
    raise ValueError(f"TFDS {name}/{split} has no records")
  first = records[0]
  for key in (image_key, label_key):
    if key not in first:
      raise ValueError(f"TFDS {name} records have no {key!r} feature (have"
                       f" {sorted(first)})")
  shape = np.asarray(first[image_key]).shape
  images = np.empty((len(records),) + shape, np.uint8)
  labels = np.empty((len(records),), np.int32)
  for i, record in enumerate(records):
    image = np.asarray(record[image_key])
    if image.shape != shape:
      raise ValueError(
          f"TFDS {name}/{split}: record {i} image shape {image.shape} !="
          f" {shape}; variable-size images need an on-the-fly reader")
    images[i] = image
    labels[i] = record[label_key]
  if images.ndim == 3:  # Grayscale stored as (H, W).
    images = images[..., None]
  return ArraySplit(images, labels)


def class_names(name: str, data_dir: str | None = None,
                label_key: str = "label") -> list[str] | None:
  """Returns the label names from the builder info, or None if unknown.

  Placeholder names "0".."K-1" (what tfds reports before the dataset's
  metadata has been prepared) count as unknown, so callers can fall back to
  their own name lists.

  Args:
    name: TFDS dataset name.
    data_dir: TFDS data directory; None for the TFDS default.
    label_key: the ClassLabel feature to read names from.

  Returns:
    The class names in label order, or None.
  """
  try:
    features = tfds.builder(name, data_dir=data_dir).info.features
    label = features[label_key]
    names = list(label.names)
  except Exception:  # pylint: disable=broad-except
    return None
  if not names or names == [str(i) for i in range(len(names))]:
    return None
  return names
