"""Samplers as deterministic index streams, sharded across processes.

An epoch's order is a pure function of (seed, epoch), so a resumed run continues the exact
sample stream from its saved (epoch, batch) position, and every host computes the same global
order and keeps only its own slice of each global batch (disjoint across hosts).

Kinds (class c drawn with probability proportional to n_c ** q):
  - "instance": every image once per epoch in a random order (q = 1, without replacement);
  - "class_balanced": q = 0 (decoupling's cRT sampler), class uniform then image uniform;
  - "sqrt": q = 1/2 (square-root sampling, Mahajan et al.; used in the decoupling paper).
"""

from __future__ import annotations

import numpy as np

SAMPLER_POWERS = {"instance": 1.0, "class_balanced": 0.0, "sqrt": 0.5}


def epoch_order(labels: np.ndarray, kind: str, seed: int, epoch: int) -> np.ndarray:
  """The global index order of one epoch (length = number of images).

  Args:
    labels: (N,) int training labels.
    kind: one of SAMPLER_POWERS.
    seed: the training seed.
    epoch: 0-based epoch number.

  Returns:
    (N,) int64 indices into `labels`.
  """
  if kind not in SAMPLER_POWERS:
    raise ValueError(f"unknown sampler {kind!r}; choose one of {sorted(SAMPLER_POWERS)}")
  labels = np.asarray(labels)
  rng = np.random.default_rng([seed, epoch])
  n = len(labels)
  if kind == "instance":
    return rng.permutation(n).astype(np.int64)
  counts = np.bincount(labels)
  present = np.nonzero(counts)[0]
  probs = counts[present].astype(np.float64) ** SAMPLER_POWERS[kind]
  classes = rng.choice(present, size=n, p=probs / probs.sum())
  # Images grouped by class: class c's images are by_class[starts[c]:starts[c] + counts[c]].
  by_class = np.argsort(labels, kind="stable")
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
  offsets = np.floor(rng.random(n) * counts[classes]).astype(np.int64)
  return by_class[starts[classes] + offsets].astype(np.int64)


class IndexSampler:
  """Per-process batches of indices for a training split.

  Global batch `b` of epoch `e` is `epoch_order(e)[b * B:(b + 1) * B]` (the last partial batch
  is dropped); process p keeps the p-th contiguous slice of it.

  With `epoch_pool(epoch) -> indices` (auxiliary classes capped per epoch,
  `ltjax.granularity.capped_epoch_indices`), an epoch is instead a random permutation of that
  epoch's pool; the pool must have the same size every epoch (it does: the cap is fixed).
  """

  def __init__(self, labels: np.ndarray, kind: str, seed: int, global_batch_size: int,
               process_index: int = 0, process_count: int = 1, max_steps_per_epoch: int = 0,
               epoch_pool=None):
    if global_batch_size % process_count:
      raise ValueError(f"global batch {global_batch_size} is not divisible by the "
                       f"{process_count} processes")
    if epoch_pool is not None and kind != "instance":
      raise ValueError("a per-epoch pool is drawn uniformly: use the 'instance' sampler")
    self.labels = np.asarray(labels)
    self.kind, self.seed = kind, seed
    self.epoch_pool = epoch_pool
    self.global_batch_size = global_batch_size
    self.local_batch_size = global_batch_size // process_count
    self.process_index = process_index
    self.pool_size = len(self.labels) if epoch_pool is None else len(epoch_pool(0))
    self.steps_per_epoch = self.pool_size // global_batch_size
    if self.steps_per_epoch == 0:
      raise ValueError(f"the training split has {self.pool_size} images per epoch, fewer than "
                       f"one global batch of {global_batch_size}; lower train.batch_size")
    if max_steps_per_epoch:  # smoke runs: short epochs over the same deterministic stream
      self.steps_per_epoch = min(self.steps_per_epoch, max_steps_per_epoch)
    self._cache = None  # (epoch, its order)

  def _order(self, epoch: int) -> np.ndarray:
    # Prefetch threads call this concurrently: the cache is one (epoch, order) tuple, replaced
    # in one assignment once the order is complete, so no thread can see one epoch's number
    # beside another epoch's order (or an order still being drawn).
    cache = self._cache
    if cache is not None and cache[0] == epoch:
      return cache[1]
    if self.epoch_pool is None:
      order = epoch_order(self.labels, self.kind, self.seed, epoch)
    else:
      pool = np.asarray(self.epoch_pool(epoch))
      if len(pool) != self.pool_size:
        raise ValueError(f"epoch {epoch}'s pool has {len(pool)} images, epoch 0's "
                         f"{self.pool_size}; the per-epoch pool must keep its size")
      order = pool[np.random.default_rng([self.seed, epoch]).permutation(len(pool))].astype(
          np.int64)
    self._cache = (epoch, order)
    return order

  def local_indices(self, epoch: int, batch: int) -> np.ndarray:
    """This process's indices for global batch `batch` of `epoch`."""
    start = batch * self.global_batch_size + self.process_index * self.local_batch_size
    return self._order(epoch)[start:start + self.local_batch_size]

  def position(self, step: int) -> tuple[int, int]:
    """(epoch, batch within epoch) of a global step."""
    return divmod(int(step), self.steps_per_epoch)
