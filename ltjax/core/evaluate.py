"""Exact evaluation of a split on the `data` mesh: padded batches, masked sums, host totals."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator

import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np

from ltjax.core import inference
from ltjax.core import metrics as metrics_lib
from ltjax.core import sharding


def eval_batch_size(requested: int) -> int:
  """The eval batch rounded up to a multiple of the device count (padding keeps it exact)."""
  d = jax.device_count()
  return int(math.ceil(requested / d) * d)


def local_eval_batches(split, global_batch: int, process_index: int = 0,
                       process_count: int = 1) -> Iterator[dict[str, np.ndarray]]:
  """This process's padded eval batches; every process yields the same number of batches.

  Each process takes a contiguous 1/process_count of the split; the last batches are padded
  with copies of example 0 carrying mask 0, so sums over masked examples stay exact.
  """
  n = len(split)
  local_batch = global_batch // process_count
  per_process = int(math.ceil(n / process_count))
  num_batches = max(1, int(math.ceil(per_process / local_batch)))
  mine = np.arange(process_index * per_process, min(n, (process_index + 1) * per_process))
  labels = np.asarray(split.labels)
  for b in range(num_batches):
    idx = mine[b * local_batch:(b + 1) * local_batch]
    mask = np.zeros((local_batch,), np.float32)
    mask[:len(idx)] = 1.0
    padded = np.concatenate([idx, np.zeros((local_batch - len(idx),), idx.dtype)])
    yield {"image": split.gather(padded), "label": labels[padded].astype(np.int32),
           "mask": mask}


def evaluate_split(eval_step: Callable, state: Any, split, class_counts: np.ndarray,
                   mesh: jax.sharding.Mesh, batch_size: int) -> dict[str, Any]:
  """Runs the jitted `eval_step` over a whole split and returns `metrics.summarize` output."""
  metrics_lib.check_labels(split.labels, len(class_counts), "evaluation split")
  global_batch = eval_batch_size(batch_size)
  sums = None
  for local in local_eval_batches(split, global_batch, jax.process_index(),
                                  jax.process_count()):
    batch_sums = eval_step(state, sharding.global_batch(mesh, local))
    sums = metrics_lib.add_sums(sums, jax.device_get(batch_sums))
  return metrics_lib.summarize(sums, class_counts, num_examples=len(split))


def collect_split(step_fn: Callable, state: Any, split, mesh: jax.sharding.Mesh,
                  batch_size: int) -> dict[str, np.ndarray]:
  """Runs `step_fn(state, batch) -> dict of batch-major arrays` (including the batch's "mask")
  over a split and returns the arrays of every host, padding dropped, in the split's order."""
  global_batch = eval_batch_size(batch_size)
  parts = []
  for local in local_eval_batches(split, global_batch, jax.process_index(),
                                  jax.process_count()):
    # Gather every host's rows (a no-op copy on one host).
    parts.append(multihost_utils.process_allgather(
        step_fn(state, sharding.global_batch(mesh, local)), tiled=True))
  mask = np.concatenate([np.asarray(p.pop("mask")) for p in parts]) > 0
  out = {k: np.concatenate([np.asarray(p[k]) for p in parts])[mask] for k in parts[0]}
  if jax.process_count() > 1:
    out = _host_major_to_split_order(out, len(split), global_batch)
  return out


def _host_major_to_split_order(out, n, global_batch):
  """Rows arrive batch by batch, each batch host by host (each host a contiguous shard of the
  split); returns them in the split's order."""
  pc = jax.process_count()
  per_process = -(-n // pc)
  local_batch = global_batch // pc
  order = []
  for b in range(max(1, -(-per_process // local_batch))):
    for p in range(pc):
      start = p * per_process + b * local_batch
      stop = min(start + local_batch, (p + 1) * per_process, n)
      order.extend(range(start, max(start, stop)))
  result = {}
  for k, v in out.items():
    arranged = np.empty_like(v)
    arranged[np.asarray(order)] = v
    result[k] = arranged
  return result


def make_predict_step(model, *, mean, std, num_targets: int | None = None) -> Callable:
  """predict_step(state, batch) -> {"prediction", "confidence", "mask"} (eval mode), over the
  first `num_targets` outputs when given (auxiliary classes dropped)."""

  def predict_step(state, batch):
    logits, _ = inference.apply_eval(model, state, batch["image"], mean=mean, std=std,
                                     num_targets=num_targets)
    probs = jax.nn.softmax(logits.astype(jnp.float32))
    return {"prediction": jnp.argmax(logits, -1).astype(jnp.int32),
            "confidence": jnp.max(probs, -1), "mask": batch["mask"]}

  return predict_step
