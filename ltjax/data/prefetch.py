"""Host batches for file-backed splits, decoded ahead of the step by grain worker processes.

In-memory datasets go on the device (`device_data`); image folders (ImageNet-LT, Places-LT,
iNaturalist) are decoded on the host. `host_batches` yields the training batches of steps
`start .. total` in the sampler's exact order. With `num_workers > 0` each batch is decoded in
one of `num_workers` grain worker processes (`IterDataset.mp_prefetch`), several batches
ahead, so JPEG decoding runs beside the jitted step instead of before it; with 0 it decodes in
the training process (the split's own thread pool), as tests and notebooks prefer.

grain keeps the element order, so a resumed run sees the same stream, and the trainer's
output does not depend on the number of workers.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ltjax.data import samplers


class _DecodeBatch:
  """Picklable map function: a batch of indices -> (images, labels)."""

  def __init__(self, split):
    self.split = split
    self.labels = np.asarray(split.labels, np.int32)

  def __call__(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return self.split.gather(indices), self.labels[indices]


class _StepIndices:
  """Lazy, picklable sequence: item i = the local batch indices of step `start + i`.

  One sequence spans the whole run, so one pool of grain workers serves every epoch: workers
  start before the first checkpoint write and stop after the last one. (Starting and stopping
  worker processes while orbax writes a checkpoint in its background threads once broke a write
  with "Bad file descriptor"; the trainer now never overlaps the two.)
  """

  def __init__(self, sampler: samplers.IndexSampler, start_step: int, total_steps: int):
    self.sampler, self.start, self.total = sampler, start_step, total_steps

  def __len__(self) -> int:
    return max(0, self.total - self.start)

  def __getitem__(self, i: int) -> np.ndarray:
    if not 0 <= i < len(self):
      raise IndexError(f"step offset {i} outside 0..{len(self) - 1}")
    return self.sampler.local_indices(*self.sampler.position(self.start + i))


def host_batches(split, sampler: samplers.IndexSampler, start_step: int, total_steps: int,
                 num_workers: int = 0, batches_ahead: int = 2
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """(images uint8 (B_local,H,W,C), labels int32 (B_local,)) for each step in order.

  Close the generator (`.close()`) when done: that stops the worker processes.
  """
  decode = _DecodeBatch(split)
  steps = _StepIndices(sampler, start_step, total_steps)
  if num_workers <= 0:
    for i in range(len(steps)):
      yield decode(steps[i])
    return
  import grain  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  if not flags.FLAGS.is_parsed():  # grain reads absl flags; notebooks / tests never parse
    flags.FLAGS.mark_as_parsed()
  dataset = grain.MapDataset.source(steps).map(decode).to_iter_dataset()
  dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(
      num_workers=num_workers, per_worker_buffer_size=max(1, batches_ahead)))
  iterator = iter(dataset)
  try:
    for _ in range(len(steps)):
      yield next(iterator)
  finally:
    close = getattr(iterator, "close", None)
    if close is not None:
      close()
