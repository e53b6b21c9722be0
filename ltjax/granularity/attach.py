"""What category extrapolation gives the trainer: one `attach` call, no branches elsewhere.

Metrics, buckets and results cover the target classes; the loss's prior covers all C trained
classes with the auxiliary ones at their per-epoch cap (fixed, granularity.md §7.6); each epoch
draws its own capped pool of auxiliary images.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from ltjax.granularity import sampling


@dataclasses.dataclass(frozen=True)
class Attachment:
  """The trainer's view of the classes it trains.

  Attributes:
    prior_counts: (C,) counts of the loss's prior (auxiliary classes capped).
    epoch_pool: epoch -> indices of that epoch's training pool, or None (every image).
    neighbors: (T, K) auxiliary neighbours of each target class, or None.
    num_targets: T when auxiliary classes are trained (inference drops the others), else None.
  """

  prior_counts: np.ndarray
  epoch_pool: Callable[[int], np.ndarray] | None = None
  neighbors: np.ndarray | None = None
  num_targets: int | None = None


def attach(splits, aux_config, seed: int) -> Attachment:
  """The attachment of `splits` (a `DatasetSplits`) under `config.aux` and the run's seed;
  without auxiliary classes, the plain training counts and nothing else."""
  if not splits.auxiliary:
    return Attachment(prior_counts=splits.class_counts)
  labels, num_targets = splits.train.labels, splits.num_targets

  def epoch_pool(epoch):
    return sampling.capped_epoch_indices(labels, num_targets, cap=aux_config.cap, seed=seed,
                                         epoch=epoch, replace=aux_config.cap_replace)

  prior = sampling.capped_counts(labels, splits.num_classes, num_targets, aux_config.cap)
  return Attachment(prior_counts=prior, epoch_pool=epoch_pool,
                    neighbors=np.asarray(splits.neighbors, np.int32), num_targets=num_targets)
