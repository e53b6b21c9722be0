"""Category extrapolation's data: the auxiliary classes added after the targets.

`add_auxiliary(splits, config)` loads the auxiliary images (`aux.source`: an .npz, an image
folder, or classes moved out of the dataset itself), builds the neighbour table (a parents
file, mined from the class names, or shuffled as a control), optionally filters the images by
a finished run's features, and returns splits that train over C = T + M classes.
"""

from __future__ import annotations

import dataclasses
import os

import ml_collections
import numpy as np

from ltjax import config as config_lib
from ltjax.data import datasets
from ltjax.data import image_folder
from ltjax.granularity import auxiliary
from ltjax.granularity import filtering


def add_auxiliary(splits: datasets.DatasetSplits,
                  config: ml_collections.ConfigDict) -> datasets.DatasetSplits:
  """`splits` with the auxiliary classes of `config.aux` after the targets (unchanged while
  `aux.source` is empty)."""
  if not config.aux.source:
    return splits
  moved, names = splits.held_out or (None, [])
  return _attach(dataclasses.replace(splits, held_out=None), config, moved, names)


def _load_auxiliary(config: ml_collections.ConfigDict, image_size: int):
  """The auxiliary images (labels 0 .. M-1) and names of aux.source 'arrays'/'image_folder'."""
  ac = config.aux
  root = config_lib.data_dir(config)
  resolve = lambda p: p if os.path.isabs(p) else os.path.join(root, p)
  if ac.source == "arrays":
    return auxiliary.load_arrays_source(resolve(ac.path))
  names = auxiliary.read_names_file(resolve(ac.names_file))
  split = image_folder.ImageFolderSplit(root, resolve(ac.path), image_size, len(names),
                                        resize_size=image_size)
  return split, names


def _filter_auxiliary(splits: datasets.DatasetSplits, config: ml_collections.ConfigDict, aux_split,
                      neighbors: np.ndarray):
  """Keeps the auxiliary images whose feature lies within [filter_low, filter_high] cosine of a
  parent's prototype (`ltjax.granularity.filtering`)."""
  ac, t = config.aux, splits.num_classes
  if ac.filter_features:
    target_f, aux_f = filtering.load_feature_file(ac.filter_features, len(splits.train),
                                                  len(aux_split))
  else:
    target_f, aux_f = filtering.features_from_run(ac.filter_workdir, [splits.train, aux_split],
                                                  splits.mean, splits.std,
                                                  config.train.eval_batch_size)
  prototypes = filtering.class_prototypes(target_f, splits.train.labels, t)
  similarity = filtering.parent_similarity(aux_f, np.asarray(aux_split.labels) + t, prototypes,
                                           neighbors)
  keep = filtering.keep_mask(similarity, ac.filter_low, ac.filter_high)
  finite = similarity[np.isfinite(similarity)]
  info = {"features": ac.filter_features or ac.filter_workdir, "low": ac.filter_low,
          "high": ac.filter_high, "kept": int(keep.sum()), "removed": int((~keep).sum()),
          # images of auxiliary classes with a parent: the ones the filter can judge
          "judged": int(np.isfinite(similarity).sum()),
          "similarity_quartiles": [round(float(q), 4) for q in np.percentile(
              finite, [25, 50, 75])] if finite.size else []}
  return aux_split.subset(np.nonzero(keep)[0]), info


def _attach(splits: datasets.DatasetSplits, config: ml_collections.ConfigDict, aux_split,
            aux_names: list[str]) -> datasets.DatasetSplits:
  """Adds the auxiliary classes after the targets: train over C = T + M classes, the neighbour
  table (from aux.parents_file, mined from the names, or shuffled as a control)."""
  ac = config.aux
  if aux_split is None:
    aux_split, aux_names = _load_auxiliary(config, splits.train.image_shape[0])
  if ac.limit_per_class:  # the same auxiliary images for every variant of a comparison
    aux_split = datasets.limit_per_class(aux_split, ac.limit_per_class)
  t = splits.num_classes
  if ac.parents_file:
    table = auxiliary.table_from_parents_file(
        os.path.join(config_lib.data_dir(config), ac.parents_file)
        if not os.path.isabs(ac.parents_file) else ac.parents_file, splits.class_names,
        aux_names)
  else:
    embed_fn = None
    if ac.mining_embedder == "pixel_prototypes":
      embed_fn = auxiliary.pixel_prototype_embedder(
          [(splits.class_names, splits.train), (aux_names, aux_split)])
    table = auxiliary.mined_table(splits.class_names, aux_names, ac.mining_k,
                                  ac.min_similarity, embed_fn)
  if ac.shuffle_parents:
    table = auxiliary.shuffled_table(table, ac.shuffle_seed)
  filter_info = None
  if ac.filter_workdir or ac.filter_features:
    aux_split, filter_info = _filter_auxiliary(splits, config, aux_split, table.neighbors)
  aux_labels = np.asarray(aux_split.labels, np.int32) + t
  info = auxiliary.describe(table, splits.class_names, aux_names, aux_split.labels, ac.cap,
                            ac.keep_all_up_to)
  info["silencing"] = ac.silencing
  if filter_info:
    info["filter"] = filter_info
  note = (f"auxiliary: {info['num_classes']} classes, {info['images_total']} images "
          f"({info['images_per_epoch']} per epoch at cap {info['cap']}), table "
          f"{info['table_source']} with {info['links']} links, silencing {info['silencing']}")
  return dataclasses.replace(
      splits, train=auxiliary.concat_train(splits.train, aux_split, aux_labels),
      num_classes=t + len(aux_names), class_names=list(splits.class_names) + list(aux_names),
      num_targets=t, extras={**splits.extras, "neighbors": table.neighbors}, auxiliary=info,
      notes=(*splits.notes, note))
