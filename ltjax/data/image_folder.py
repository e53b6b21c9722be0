"""Image folder + split list reader (ImageNet-LT, Places-LT, iNaturalist 2018).

The long-tailed benchmarks ship their splits as text files with one
`relative/path label` entry per line (e.g. `ImageNet_LT_train.txt`); the
images live under a dataset root. `ImageFolderSplit` keeps only the paths in
memory and decodes on demand with PIL, applying the deterministic evaluation
transform (resize shorter side, centre crop). Random augmentation is applied
later, on device.

Places-LT was published with two list layouts that name the same images:
v1 paths like `/a/abbey/00000001.jpg` or `train/a/abbey/...` and v2 paths
like `data_256/a/abbey/00000001.jpg`. `resolve_path` maps between them so a
root prepared for either layout works with both lists.
"""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np
from PIL import Image

# How many missing paths an error message shows.
_SHOW_MISSING = 5


def read_split_list(list_file: str) -> tuple[list[str], np.ndarray]:
  """Parses a `relative/path label` split list.

  Args:
    list_file: text file, one entry per line; blank lines are skipped.

  Returns:
    (paths, labels): the relative paths and an (N,) int32 label array.

  Raises:
    FileNotFoundError: if list_file does not exist.
    ValueError: on a malformed line, a non-integer label or no entries.
  """
  if not os.path.isfile(list_file):
    raise FileNotFoundError(f"split list {list_file} does not exist")
  paths, labels = [], []
  with open(list_file, "r", encoding="utf-8") as f:
    for line_no, line in enumerate(f, start=1):
      line = line.strip()
      if not line:
        continue
      # Split off the last field only, so paths may contain spaces.
      fields = line.rsplit(None, 1)
      if len(fields) != 2:
        raise ValueError(f"{list_file}:{line_no}: expected 'path label',"
                         f" got {line!r}")
      try:
        label = int(fields[1])
      except ValueError:
        raise ValueError(f"{list_file}:{line_no}: label {fields[1]!r} is not"
                         " an integer") from None
      paths.append(fields[0])
      labels.append(label)
  if not paths:
    raise ValueError(f"{list_file}: no entries")
  return paths, np.asarray(labels, np.int32)


def _candidates(rel: str) -> list[str]:
  """Relative paths that may name the same image (Places-LT v1 <-> v2)."""
  rel = rel.lstrip("/")
  out = [rel]
  if rel.startswith("data_256/"):
    bare = rel[len("data_256/"):]
    out += [bare, "train/" + bare]
  elif rel.startswith("train/"):
    bare = rel[len("train/"):]
    out += ["data_256/" + rel, bare, "data_256/" + bare]
  else:
    out += ["data_256/" + rel, "train/" + rel]
  return out


def resolve_path(root: str, rel: str) -> str:
  """Returns the full path of `rel` under `root`, trying layout variants.

  Tried in order, after stripping a leading "/": `rel` as given; then, for
  `data_256/<p>`: `<p>`, `train/<p>`; for `train/<p>`: `data_256/train/<p>`,
  `<p>`, `data_256/<p>`; otherwise `data_256/<rel>`, `train/<rel>`. The
  first that exists wins, so Places-LT v1 and v2 lists work with either
  image layout (and other datasets pay one stat when paths are right).

  Args:
    root: dataset root directory.
    rel: path from the split list.

  Returns:
    The first existing candidate, or `root/rel` if none exists.
  """
  candidates = [os.path.join(root, c) for c in _candidates(rel)]
  for path in candidates:
    if os.path.exists(path):
      return path
  return candidates[0]


class ImageFolderSplit:
  """A labelled split of image files, decoded on demand.

  Attributes:
    root: dataset root directory.
    list_file: the split list the entries came from.
    paths: full paths of the images (resolved when files were checked).
    labels: (N,) int32 labels.
    image_shape: (image_size, image_size, 3) of gathered images.
  """

  def __init__(self, root: str, list_file: str, image_size: int,
               num_classes: int | None = None,
               resize_size: int | None = None, check_files: bool = True,
               num_threads: int = 8):
    """Reads the split list and, optionally, checks the files exist.

    Args:
      root: dataset root; list paths are relative to it.
      list_file: `relative/path label` split list.
      image_size: side of the centre crop returned by `gather`.
      num_classes: if given, labels must lie in [0, num_classes).
      resize_size: shorter side after resizing; default
        round(image_size * 256 / 224), the usual ImageNet eval ratio.
      check_files: resolve and check every path now (fails early rather
        than in the middle of training).
      num_threads: decoding (and checking) threads.
    """
    if resize_size is None:
      resize_size = int(round(image_size * 256 / 224))
    if resize_size < image_size:
      raise ValueError(f"resize_size {resize_size} < image_size {image_size}")
    self.root = os.fspath(root)
    self.list_file = os.fspath(list_file)
    self.image_size = int(image_size)
    self.resize_size = int(resize_size)
    self.num_classes = num_classes
    self.num_threads = max(1, int(num_threads))
    self._executor = None

    rel_paths, labels = read_split_list(self.list_file)
    if labels.min() < 0 or (num_classes is not None
                            and labels.max() >= num_classes):
      bound = f"[0, {num_classes})" if num_classes is not None else ">= 0"
      raise ValueError(f"{self.list_file}: labels must be {bound}, got"
                       f" min {labels.min()} max {labels.max()}")
    self.labels = labels
    if check_files:
      self.paths = self._check_files(rel_paths)
    else:
      # Resolution is deferred to decode time (see _load) to keep start-up
      # free of hundreds of thousands of stat calls.
      self.paths = [os.path.join(self.root, p.lstrip("/")) for p in rel_paths]

  def _check_files(self, rel_paths: list[str]) -> list[str]:
    layout = (f"expected layout: <root>/<path from the list>, e.g."
              f" {os.path.join(self.root, rel_paths[0].lstrip('/'))}"
              " (ImageNet-LT: root holds train/ and val/; Places-LT: root"
              " holds data_256/ or train/ (both list versions work);"
              " iNaturalist 2018: root holds train_val2018/)")
    if not os.path.isdir(self.root):
      raise FileNotFoundError(
          f"image root {self.root} (for split list {self.list_file}) does"
          f" not exist; {layout}")
    resolved = list(self._pool().map(
        lambda rel: resolve_path(self.root, rel), rel_paths, chunksize=256))
    missing = [r for r, p in zip(rel_paths, resolved)
               if not os.path.exists(p)]
    if missing:
      shown = ", ".join(missing[:_SHOW_MISSING])
      raise FileNotFoundError(
          f"{len(missing)} of {len(rel_paths)} images listed in"
          f" {self.list_file} are missing under root {self.root}, e.g.:"
          f" {shown}; {layout}")
    return resolved

  def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
    if self._executor is None:
      self._executor = concurrent.futures.ThreadPoolExecutor(
          self.num_threads, thread_name_prefix="ltjax-decode")
    return self._executor

  def __getstate__(self):
    # Executors cannot be pickled (e.g. into worker processes).
    state = self.__dict__.copy()
    state["_executor"] = None
    return state

  def __len__(self) -> int:
    return int(self.labels.shape[0])

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return (self.image_size, self.image_size, 3)

  def _load(self, path: str) -> np.ndarray:
    """Decodes one image: RGB, shorter side resized, centre-cropped."""
    if not os.path.exists(path):
      rel = os.path.relpath(path, self.root)
      path = resolve_path(self.root, rel)
    try:
      return self._decode(path)
    except FileNotFoundError:
      raise
    except (OSError, SyntaxError, ValueError) as e:  # PIL's errors for damaged files
      raise ValueError(f"{path} (listed in {self.list_file}) cannot be decoded as an image "
                       f"({type(e).__name__}: {e}); replace the file or remove its line from "
                       "the list") from e

  def _decode(self, path: str) -> np.ndarray:
    with Image.open(path) as img:
      img = img.convert("RGB")
      w, h = img.size
      # Same arithmetic as torchvision Resize(int) + CenterCrop, so eval
      # numbers are comparable with the PyTorch reference implementations.
      s = self.resize_size
      if w <= h:
        new_w, new_h = s, int(s * h / w)
      else:
        new_w, new_h = int(s * w / h), s
      if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
      c = self.image_size
      top = int(round((new_h - c) / 2.0))
      left = int(round((new_w - c) / 2.0))
      img = img.crop((left, top, left + c, top + c))
      return np.asarray(img, np.uint8)

  def gather(self, indices: np.ndarray) -> np.ndarray:
    """Decodes the images at `indices`.

    Args:
      indices: integer indices into this split.

    Returns:
      (len(indices), image_size, image_size, 3) uint8 array.
    """
    indices = np.asarray(indices, np.int64).reshape(-1)
    out = np.empty((indices.shape[0],) + self.image_shape, np.uint8)

    def fill(j):
      out[j] = self._load(self.paths[indices[j]])

    # list() forces completion and re-raises the first decode error.
    list(self._pool().map(fill, range(indices.shape[0])))
    return out

  def subset(self, indices: np.ndarray) -> "ImageFolderSplit":
    """Returns the split restricted to `indices`, in that order."""
    indices = np.asarray(indices, np.int64).reshape(-1)
    new = object.__new__(ImageFolderSplit)
    new.__dict__.update(self.__getstate__())
    new.paths = [self.paths[i] for i in indices]
    new.labels = self.labels[indices]
    return new
