"""CIFAR-10 / CIFAR-100 read from local files, without TensorFlow.

Two on-disk formats are accepted, tried in this order:

1. The official python pickle folders, as extracted from
   `cifar-10-python.tar.gz` / `cifar-100-python.tar.gz`:
   `cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}` and
   `cifar-100-python/{train,test,meta}`.
2. A `<name>.npz` with `x_train` (N, 32, 32, 3) uint8, `y_train`, `x_test`,
   `y_test` and optionally `class_names` (the layout of
   `shared/data/cifar10.npz`).

The training split is returned in the original file order: long-tailed
subsets (Cao et al.) are defined by indices into that order, so reordering
here would silently select different images.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

from ltjax.data.arrays import ArraySplit

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
    "ship", "truck")

CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee",
    "beetle", "bicycle", "bottle", "bowl", "boy", "bridge", "bus",
    "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair",
    "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile",
    "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower",
    "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle",
    "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter",
    "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate",
    "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper",
    "snail", "snake", "spider", "squirrel", "streetcar", "sunflower",
    "sweet_pepper", "table", "tank", "telephone", "television", "tiger",
    "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm")

# Per-dataset layout of the official pickle release.
_PICKLE_LAYOUT = {
    "cifar10": dict(
        folder="cifar-10-batches-py",
        train=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test=("test_batch",),
        meta="batches.meta",
        label_key=b"labels",
        names_key=b"label_names",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": dict(
        folder="cifar-100-python",
        train=("train",),
        test=("test",),
        meta="meta",
        label_key=b"fine_labels",
        names_key=b"fine_label_names",
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
}
_NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
_DEFAULT_NAMES = {"cifar10": CIFAR10_CLASSES, "cifar100": CIFAR100_CLASSES}


def _unpickle(path: str) -> dict[bytes, Any]:
  with open(path, "rb") as f:
    try:
      # The originals were written by Python 2; bytes keys need "bytes".
      obj = pickle.load(f, encoding="bytes")
    except Exception as e:  # pickle raises many unrelated types.
      raise ValueError(f"{path}: not a readable CIFAR pickle ({e!r})") from e
  if not isinstance(obj, dict):
    raise ValueError(f"{path}: expected a dict, got {type(obj).__name__}")
  return obj


def _check_labels(labels: np.ndarray, num_images: int, num_classes: int,
                  where: str) -> np.ndarray:
  """Validates labels and returns them as int32."""
  labels = np.asarray(labels)
  if labels.ndim != 1 or labels.shape[0] != num_images:
    raise ValueError(
        f"{where}: {labels.shape} labels for {num_images} images")
  if labels.size and not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"{where}: labels have non-integer dtype {labels.dtype}")
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise ValueError(
        f"{where}: labels out of range [0, {num_classes}): min"
        f" {labels.min()}, max {labels.max()}")
  return labels.astype(np.int32)


def _read_pickle_batch(path: str, label_key: bytes,
                       num_classes: int) -> tuple[np.ndarray, np.ndarray]:
  """Reads one pickle batch; returns NHWC uint8 images and int32 labels."""
  batch = _unpickle(path)
  for key in (b"data", label_key):
    if key not in batch:
      raise ValueError(
          f"{path}: missing key {key!r} (has {sorted(batch.keys())})")
  data = np.asarray(batch[b"data"])
  if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
    raise ValueError(f"{path}: data has shape {data.shape}, want (N, 3072)")
  if data.dtype != np.uint8:
    raise ValueError(f"{path}: data has dtype {data.dtype}, want uint8")
  labels = _check_labels(batch[label_key], data.shape[0], num_classes, path)
  # Rows are channel-major (1024 R, then G, then B), each plane row-major.
  images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  return np.ascontiguousarray(images), labels


def _load_pickle_folder(name: str, folder: str
                        ) -> tuple[ArraySplit, ArraySplit, list[str]]:
  layout = _PICKLE_LAYOUT[name]
  num_classes = _NUM_CLASSES[name]

  def read_split(files):
    parts = [
        _read_pickle_batch(os.path.join(folder, f), layout["label_key"],
                           num_classes) for f in files]
    return ArraySplit(np.concatenate([p[0] for p in parts]),
                      np.concatenate([p[1] for p in parts]))

  missing = [f for f in layout["train"] + layout["test"]
             if not os.path.isfile(os.path.join(folder, f))]
  if missing:
    raise FileNotFoundError(
        f"{folder} is incomplete: missing {missing}; re-extract"
        f" {layout['url']} into its parent directory")
  train, test = read_split(layout["train"]), read_split(layout["test"])
  names = list(_DEFAULT_NAMES[name])
  meta_path = os.path.join(folder, layout["meta"])
  if os.path.isfile(meta_path):
    meta = _unpickle(meta_path)
    if layout["names_key"] in meta:
      names = [n.decode() if isinstance(n, bytes) else str(n)
               for n in meta[layout["names_key"]]]
  if len(names) != num_classes:
    raise ValueError(f"{meta_path}: {len(names)} class names, want"
                     f" {num_classes}")
  return train, test, names


def _load_npz(name: str, path: str) -> tuple[ArraySplit, ArraySplit,
                                             list[str]]:
  num_classes = _NUM_CLASSES[name]
  try:
    data = np.load(path, allow_pickle=False)
  except Exception as e:  # zipfile / format errors come in many types.
    raise ValueError(f"{path}: not a readable .npz ({e!r})") from e
  with data:
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test")
               if k not in data.files]
    if missing:
      raise ValueError(f"{path}: missing arrays {missing} (has {data.files})")
    splits = []
    for split in ("train", "test"):
      x = data[f"x_{split}"]
      if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8:
        raise ValueError(f"{path}: x_{split} is {x.dtype} {x.shape}, want"
                         " uint8 (N, 32, 32, 3)")
      y = _check_labels(data[f"y_{split}"], x.shape[0], num_classes,
                        f"{path} y_{split}")
      splits.append(ArraySplit(x, y))
    names = list(_DEFAULT_NAMES[name])
    if "class_names" in data.files:
      names = [str(n) for n in data["class_names"]]
      if len(names) != num_classes:
        raise ValueError(f"{path}: {len(names)} class_names, want"
                         f" {num_classes}")
  return splits[0], splits[1], names


def load_cifar(name: str, data_dir: str
               ) -> tuple[ArraySplit, ArraySplit, list[str]]:
  """Loads CIFAR-10 or CIFAR-100 (fine labels) from local files.

  Args:
    name: "cifar10" or "cifar100".
    data_dir: directory holding `cifar-10-batches-py/`, `cifar-100-python/`
      or `<name>.npz`; may also be that folder or .npz file itself.

  Returns:
    (train, test, class_names); images NHWC uint8 RGB, labels int32, train in
    the original file order.

  Raises:
    FileNotFoundError: if no known file layout is found.
    ValueError: if a file is malformed.
  """
  if name not in _PICKLE_LAYOUT:
    raise ValueError(f"unknown CIFAR name {name!r}; want one of"
                     f" {sorted(_PICKLE_LAYOUT)}")
  layout = _PICKLE_LAYOUT[name]
  data_dir = os.path.expanduser(os.fspath(data_dir))
  folder = layout["folder"]
  folders = [os.path.join(data_dir, folder)]
  if os.path.basename(os.path.normpath(data_dir)) == folder:
    folders.insert(0, data_dir)
  npzs = [os.path.join(data_dir, f"{name}.npz")]
  if data_dir.endswith(".npz"):
    npzs.insert(0, data_dir)

  for candidate in folders:
    if os.path.isdir(candidate):
      return _load_pickle_folder(name, candidate)
  for candidate in npzs:
    if os.path.isfile(candidate):
      return _load_npz(name, candidate)

  looked = "\n".join(f"  {p}" for p in folders + npzs)
  raise FileNotFoundError(
      f"No {name} data found. Looked for:\n{looked}\n"
      f"To get it, download {layout['url']} and extract it into {data_dir}"
      f" (giving {folders[-1]}), or put a {name}.npz with"
      " x_train/y_train/x_test/y_test there, or use the TFDS source"
      " (dataset.source=\"tfds\").")
