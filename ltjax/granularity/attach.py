"""What category extrapolation gives the trainer, as the hooks of its method record.

Metrics, buckets and results cover the target classes; the loss's prior covers all C trained
classes with the auxiliary ones at their per-epoch cap (fixed, granularity.md §7.6); each epoch
draws its own capped pool of auxiliary images; the neighbour-silencing objective reads the
neighbour table and the silencing variant.
"""

from __future__ import annotations

import numpy as np

from ltjax.core import plugins
from ltjax.granularity import sampling


def attach(splits, config) -> plugins.Attachment | None:
  """The attachment of `splits` (a `DatasetSplits` with auxiliary classes) under
  `config.aux` and the run's seed; None when the run trains no auxiliary classes."""
  if not splits.auxiliary:
    return None
  aux_config, seed = config.aux, config.seed
  labels, num_targets = splits.train.labels, splits.num_targets

  neighbors = np.asarray(splits.extras["neighbors"], np.int32)
  caps = {"cap": aux_config.cap, "keep_all_up_to": aux_config.keep_all_up_to}

  def epoch_pool(epoch):
    return sampling.capped_epoch_indices(labels, num_targets, seed=seed, epoch=epoch,
                                         replace=aux_config.cap_replace, **caps)

  prior = sampling.capped_counts(labels, splits.num_classes, num_targets, **caps)
  return plugins.Attachment(
      prior_counts=prior, epoch_pool=epoch_pool,
      objective_inputs={"neighbors": neighbors,
                        "silencing": aux_config.silencing})


def held_out_classes(config) -> tuple[str, ...]:
  """The dataset's classes that `aux.source = "dataset_classes"` turns into auxiliary ones."""
  return tuple(config.aux.classes) if config.aux.source == "dataset_classes" else ()
