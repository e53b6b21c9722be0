"""Moving some of a dataset's classes out of its label space (before the long-tail profile is
drawn): `dataset.exclude_classes` drops them, category extrapolation's
`aux.source='dataset_classes'` keeps them as auxiliary classes."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ltjax.data import arrays


def move_classes_to_auxiliary(split: arrays.ArraySplit, class_names: Sequence[str],
                              aux_names: Sequence[str]
                              ) -> tuple[arrays.ArraySplit, arrays.ArraySplit, list[str]]:
  """Splits a dataset's classes into targets and auxiliary classes (the §8 demonstration).

  Args:
    split: images with labels 0 .. K-1 indexing `class_names`.
    class_names: the K names.
    aux_names: the names that become auxiliary classes, in that order.

  Returns:
    (targets, auxiliary, target_names): targets relabelled 0 .. T-1 in the dataset's class
    order; auxiliary images with labels 0 .. M-1 in `aux_names` order (not yet offset).
  """
  names = list(class_names)
  missing = [n for n in aux_names if n not in names]
  if missing:
    raise ValueError(f"aux.classes names {missing} are not classes of the dataset; its "
                     f"classes are {names}")
  if len(set(aux_names)) != len(aux_names) or len(aux_names) >= len(names):
    raise ValueError("aux.classes must be distinct and leave at least one target class")
  target_ids = [i for i, n in enumerate(names) if n not in aux_names]
  aux_ids = [names.index(n) for n in aux_names]
  target_map = np.full(len(names), -1, np.int64)
  target_map[target_ids] = np.arange(len(target_ids))
  aux_map = np.full(len(names), -1, np.int64)
  aux_map[aux_ids] = np.arange(len(aux_ids))
  labels = np.asarray(split.labels)
  is_target = target_map[labels] >= 0
  targets = arrays.ArraySplit(split.images[is_target],
                              target_map[labels[is_target]].astype(np.int32))
  aux = arrays.ArraySplit(split.images[~is_target],
                          aux_map[labels[~is_target]].astype(np.int32))
  return targets, aux, [names[i] for i in target_ids]
