"""Auxiliary neighbour classes beside the long-tailed targets (granularity.md §3, §6).

An auxiliary set is images of extra classes (ids T .. C-1 after the T target classes) and a
parents table: which targets each auxiliary class was mined from (many-to-many, as the official
release). The table comes from a JSON file of names, from `mine_neighbors` on the class names,
or, as a control, from a shuffled table. Sources:

- "arrays": an `.npz` with `images` (N, H, W, C) uint8, `labels` (N,) in 0 .. M-1 and
  `class_names` (M,);
- "image_folder": a `path label` list file (labels 0 .. M-1) read like the main image folders,
  with the class names one per line in `aux.names_file`;
- "dataset_classes": the demonstration protocol (§8): the named classes of the main dataset
  leave its label space and become the auxiliary set; the long-tail profile is then built over
  the remaining target classes only.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Sequence

import numpy as np

from ltjax.data import arrays
from ltjax.granularity import mining
from ltjax.granularity import sampling

SOURCES = ("", "arrays", "image_folder", "dataset_classes")


@dataclasses.dataclass
class AuxiliaryTable:
  """The neighbour relation between T targets and M auxiliary classes.

  Attributes:
    neighbors: (T, K) int32 auxiliary ids (T .. T+M-1) per target, padded with -1: the table
      `silencing_mask` reads.
    source: "file", "mined" or "shuffled" (+ what it was shuffled from).
  """

  neighbors: np.ndarray
  source: str

  def named(self, target_names: Sequence[str], aux_names: Sequence[str]) -> dict[str, list]:
    """{target name: [auxiliary names]}: the table as results.json records it."""
    t = len(target_names)
    return {target_names[i]: [aux_names[a - t] for a in row if a >= 0]
            for i, row in enumerate(self.neighbors)}


class ConcatSplit:
  """Two splits as one: indices 0 .. len(a)-1 address `a`, the rest `b`.

  Used when the target and auxiliary images come from different kinds of source (arrays and an
  image folder); `labels` is the concatenation, with b's labels already offset.
  """

  def __init__(self, a, b, b_labels: np.ndarray):
    if tuple(a.image_shape) != tuple(b.image_shape):
      raise ValueError(f"auxiliary images are {tuple(b.image_shape)} but the training images "
                       f"are {tuple(a.image_shape)}; resize the auxiliary set (or set "
                       "dataset.train_image_size) so they match")
    self.a, self.b = a, b
    self.labels = np.concatenate([np.asarray(a.labels), np.asarray(b_labels)]).astype(np.int32)

  def __len__(self) -> int:
    return len(self.labels)

  @property
  def image_shape(self):
    return self.a.image_shape

  def gather(self, indices: np.ndarray) -> np.ndarray:
    indices = np.asarray(indices)
    in_a = indices < len(self.a)
    out = np.empty((len(indices), *self.image_shape), np.uint8)
    if in_a.any():
      out[in_a] = self.a.gather(indices[in_a])
    if (~in_a).any():
      out[~in_a] = self.b.gather(indices[~in_a] - len(self.a))
    return out


def concat_train(target_train, aux_split, aux_labels: np.ndarray):
  """The training split over all C classes; `aux_labels` are already offset by T."""
  if isinstance(target_train, arrays.ArraySplit) and isinstance(aux_split, arrays.ArraySplit):
    if target_train.image_shape != aux_split.image_shape:
      return ConcatSplit(target_train, aux_split, aux_labels)  # raises the shape error
    return arrays.ArraySplit(np.concatenate([target_train.images, aux_split.images]),
                             np.concatenate([target_train.labels,
                                             aux_labels]).astype(np.int32))
  return ConcatSplit(target_train, aux_split, aux_labels)


def load_arrays_source(path: str) -> tuple[arrays.ArraySplit, list[str]]:
  """An auxiliary `.npz` with images, labels (0 .. M-1) and class_names."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"aux.path {path!r} does not exist; point it at an .npz with "
                            "images (N,H,W,C) uint8, labels (N,) and class_names (M,)")
  with np.load(path, allow_pickle=False) as f:
    missing = {"images", "labels", "class_names"} - set(f.files)
    if missing:
      raise ValueError(f"{path} lacks {sorted(missing)}; an auxiliary .npz needs images, "
                       "labels and class_names")
    split = arrays.ArraySplit(f["images"], f["labels"].astype(np.int32))
    names = [str(n) for n in f["class_names"]]
  _check_aux_labels(split.labels, len(names), path)
  return split, names


def read_names_file(path: str) -> list[str]:
  """Class names, one per line (blank lines ignored)."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"aux.names_file {path!r} does not exist; it lists the auxiliary "
                            "class names, one per line, in label order")
  with open(path) as f:
    return [line.strip() for line in f if line.strip()]


def _check_aux_labels(labels: np.ndarray, num_aux: int, what: str) -> None:
  labels = np.asarray(labels)
  if labels.size and (labels.min() < 0 or labels.max() >= num_aux):
    raise ValueError(f"auxiliary labels in {what} lie in [{labels.min()}, {labels.max()}] but "
                     f"there are {num_aux} auxiliary class names; labels must be 0 .. "
                     f"{num_aux - 1}")


def table_from_parents_file(path: str, target_names: Sequence[str],
                            aux_names: Sequence[str]) -> AuxiliaryTable:
  """Reads `{auxiliary name: [target names]}` (JSON) into the neighbour table.

  Names, not indices, so a table survives any reordering of classes (granularity.md §7.5).
  """
  if not os.path.exists(path):
    raise FileNotFoundError(f"aux.parents_file {path!r} does not exist; it maps each auxiliary "
                            "class name to a list of target class names (JSON), or leave it "
                            "empty to mine the table from the class names")
  with open(path) as f:
    raw = json.load(f)
  t = len(target_names)
  target_index = {n: i for i, n in enumerate(target_names)}
  aux_index = {n: t + j for j, n in enumerate(aux_names)}
  parents: dict[int, list[int]] = {}
  for aux_name, targets in raw.items():
    if aux_name not in aux_index:
      raise ValueError(f"{path}: auxiliary class {aux_name!r} is not in the auxiliary set")
    unknown = [n for n in targets if n not in target_index]
    if unknown:
      raise ValueError(f"{path}: parents {unknown} of {aux_name!r} are not target classes")
    parents[aux_index[aux_name]] = [target_index[n] for n in targets]
  return AuxiliaryTable(mining.neighbors_from_parents(parents, t), "file")


def mined_table(target_names: Sequence[str], aux_names: Sequence[str], k: int,
                min_similarity: float, embed_fn: Callable | None = None) -> AuxiliaryTable:
  """The table `mine_neighbors` builds from the class names."""
  neighbors = mining.mine_neighbors(list(target_names), list(aux_names), k=k,
                                    min_similarity=min_similarity, embed_fn=embed_fn)
  return AuxiliaryTable(np.asarray(neighbors, np.int32), "mined")


def pixel_prototype_embedder(named_splits: Sequence[tuple[Sequence[str], Any]]) -> Callable:
  """An `embed_fn` for `mine_neighbors` from images instead of words: a class's embedding is
  its mean training image minus the mean over classes, flattened. For datasets whose class
  names carry no meaning (digits "0" .. "9"); in-memory splits only.

  Args:
    named_splits: (names, ArraySplit) pairs; label i of a split is class names[i].
  """
  prototypes = {}
  for names, split in named_splits:
    if not isinstance(split, arrays.ArraySplit):
      raise ValueError("aux.mining_embedder='pixel_prototypes' needs in-memory images; use "
                       "'minilm' (class names) or give aux.parents_file")
    for i, name in enumerate(names):
      members = split.images[np.asarray(split.labels) == i]
      if len(members):
        prototypes[name] = members.reshape(len(members), -1).astype(np.float64).mean(0)
  centre = np.mean(list(prototypes.values()), axis=0)

  def embed(names: Sequence[str]) -> np.ndarray:
    missing = [n for n in names if n not in prototypes]
    if missing:
      raise ValueError(f"no images for classes {missing}: cannot build their prototypes")
    v = np.stack([prototypes[n] - centre for n in names])
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)

  return embed


def shuffled_table(table: AuxiliaryTable, seed: int) -> AuxiliaryTable:
  """The control of the demonstration: the same links with the targets' rows permuted by a
  random derangement, so every target gets another target's (unrelated) neighbours while the
  auxiliary images and the number of links stay the same."""
  t = table.neighbors.shape[0]
  if t < 2:
    raise ValueError("shuffling the parents needs at least two target classes")
  rng = np.random.default_rng([seed, 7919])
  while True:
    perm = rng.permutation(t)
    if not np.any(perm == np.arange(t)):
      break
  return AuxiliaryTable(table.neighbors[perm].copy(), f"shuffled ({table.source})")


def describe(table: AuxiliaryTable, target_names, aux_names, aux_labels, cap: int,
             keep_all_up_to: int = 0) -> dict[str, Any]:
  """What results.json and the checkpoint's data position say about the auxiliary set."""
  t, m = len(target_names), len(aux_names)
  counts = np.bincount(np.asarray(aux_labels), minlength=m)
  per_epoch = sampling.capped_counts(np.asarray(aux_labels) + t, t + m, t, cap,
                                     keep_all_up_to=keep_all_up_to)[t:]
  return {
      "num_classes": m,
      "images_total": int(counts.sum()),
      "images_per_epoch": int(per_epoch.sum()),
      "cap": int(cap),
      "keep_all_up_to": int(keep_all_up_to),
      # listed by no target (a mined table can leave some): capped and silencing as the rest
      "unlisted_classes": int(m - len(np.unique(table.neighbors[table.neighbors >= 0]))),
      "table_source": table.source,
      "links": int((table.neighbors >= 0).sum()),
      "neighbors": table.named(target_names, aux_names),
  }
