"""Long-tail evaluation metrics from masked sums and counts.

Evaluation is split in two so that it is exact under padding and across devices and hosts:
`eval_sums` (jit-able, per batch) returns sums and counts in which padded examples carry
mask 0, and `summarize` turns the accumulated sums into the reported figures:
top-1, per-class accuracy, many/medium/few (classes bucketed by TRAINING counts: many > 100,
medium 20..100, few < 20; a bucket's accuracy is the mean of its classes' accuracies), ECE with
15 equal-width confidence bins and the mean NLL. An empty bucket is reported as None (null in
JSON), never as NaN or 0.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

NUM_ECE_BINS = 15
MANY_THRESHOLD = 100  # many-shot: more than 100 training images
FEW_THRESHOLD = 20  # few-shot: fewer than 20 training images


def eval_sums(logits: jax.Array, labels: jax.Array, mask: jax.Array | None = None, *,
              num_bins: int = NUM_ECE_BINS) -> dict[str, jax.Array]:
  """Masked per-batch sums from which every metric is computed.

  Args:
    logits: (B, C) logits.
    labels: (B,) int labels.
    mask: (B,) 1 for real examples, 0 for padding; None means all real.
    num_bins: ECE bins.

  Returns:
    dict of float32 arrays: `correct` (C,) and `count` (C,) per class, `nll` (), and per
    confidence bin `bin_count`, `bin_confidence`, `bin_correct` (num_bins,).
  """
  num_classes = logits.shape[-1]
  logits = logits.astype(jnp.float32)
  mask = jnp.ones(labels.shape, jnp.float32) if mask is None else mask.astype(jnp.float32)
  log_probs = jax.nn.log_softmax(logits)
  confidence = jnp.exp(jnp.max(log_probs, axis=-1))
  correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32) * mask
  one_hot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32) * mask[:, None]
  nll = -jnp.sum(log_probs * one_hot)
  # Bins are (lo, hi]; confidence is always > 0 so the first bin includes everything <= 1/15.
  bin_index = jnp.clip(jnp.ceil(confidence * num_bins).astype(jnp.int32) - 1, 0, num_bins - 1)
  bin_one_hot = jax.nn.one_hot(bin_index, num_bins, dtype=jnp.float32) * mask[:, None]
  return {
      "correct": one_hot.T @ correct,
      "count": jnp.sum(one_hot, axis=0),
      "nll": nll,
      "bin_count": jnp.sum(bin_one_hot, axis=0),
      "bin_confidence": bin_one_hot.T @ confidence,
      "bin_correct": bin_one_hot.T @ correct,
  }


def add_sums(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, np.ndarray]:
  """Accumulates eval sums on the host in float64 (a may be None)."""
  b = {k: np.asarray(v, np.float64) for k, v in b.items()}
  return b if a is None else {k: a[k] + b[k] for k in a}


def bucket_of_classes(class_counts: np.ndarray, many_threshold: int = MANY_THRESHOLD,
                      few_threshold: int = FEW_THRESHOLD) -> dict[str, np.ndarray]:
  """Boolean (C,) masks of the many / medium / few classes by training counts."""
  counts = np.asarray(class_counts)
  return {
      "many": counts > many_threshold,
      "medium": (counts >= few_threshold) & (counts <= many_threshold),
      "few": counts < few_threshold,
  }


# Spread over seeds: the sample standard deviation (ddof=1), everywhere ltjax reports one.
SEED_STD_DDOF = 1


def mean_and_std(values) -> tuple[float, float | None]:
  """(mean, sample std with ddof=1) of per-seed values; std is None for a single value."""
  values = np.asarray(values, np.float64)
  if values.size == 0:
    raise ValueError("mean_and_std of no values")
  std = float(np.std(values, ddof=SEED_STD_DDOF)) if values.size > 1 else None
  return float(np.mean(values)), std


def _mean_or_none(values: np.ndarray) -> float | None:
  return float(np.mean(values)) if values.size else None


def check_labels(labels, num_classes: int, what: str = "evaluation") -> None:
  """Raises ValueError unless every label is an integer in [0, num_classes).

  `eval_sums` one-hots the labels, so a label outside the range would silently leave both the
  numerator and the denominator of every metric: it must be caught on the host first.
  """
  labels = np.asarray(labels)
  if labels.size == 0:
    return
  if not np.issubdtype(labels.dtype, np.integer):
    if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
      raise ValueError(f"{what} labels must be integer class ids, got dtype {labels.dtype}; "
                       "pass the class index of each example")
  low, high = labels.min(), labels.max()
  if low < 0 or high >= num_classes:
    bad = int(np.sum((labels < 0) | (labels >= num_classes)))
    raise ValueError(f"{what} labels lie in [{low}, {high}] but there are {num_classes} "
                     f"classes ({bad} of {labels.size} labels outside [0, {num_classes})); "
                     "fix the labels or the number of classes (logits' last dimension)")


def summarize(sums: dict[str, Any], class_counts: np.ndarray,
              num_examples: int | None = None) -> dict[str, Any]:
  """The reported metrics from accumulated sums.

  Args:
    sums: accumulated `eval_sums` output.
    class_counts: (C,) training images per class (defines the buckets).
    num_examples: when given, the number of examples that went in; a mismatch with the
      counted examples means labels outside [0, C) were dropped, and raises.

  Returns:
    dict with `top1`, `many`, `medium`, `few` (None when the bucket has no evaluated class),
    `bucket_sizes` (classes per bucket), `ece`, `nll`, `per_class` (None for classes without
    evaluation images), `num_examples`. Accuracies are fractions in [0, 1].
  """
  count = np.asarray(sums["count"], np.float64)
  correct = np.asarray(sums["correct"], np.float64)
  total = count.sum()
  if total == 0:
    raise ValueError("no evaluation examples: the split is empty")
  if num_examples is not None and int(round(total)) != int(num_examples):
    raise ValueError(f"{int(num_examples) - int(round(total))} of {num_examples} evaluation "
                     f"examples have a label outside [0, {len(count)}) and were not counted; "
                     "fix the labels or the number of classes")
  evaluated = count > 0
  per_class = np.where(evaluated, correct / np.maximum(count, 1), np.nan)
  out = {"top1": float(correct.sum() / total), "num_examples": int(total)}
  buckets = bucket_of_classes(class_counts)
  out["bucket_sizes"] = {name: int(m.sum()) for name, m in buckets.items()}
  for name, m in buckets.items():
    out[name] = _mean_or_none(per_class[m & evaluated])
  bin_count = np.asarray(sums["bin_count"], np.float64)
  gap = np.abs(np.asarray(sums["bin_correct"]) - np.asarray(sums["bin_confidence"]))
  out["ece"] = float(gap.sum() / total)  # = sum_b n_b/N * |acc_b - conf_b|
  out["nll"] = float(sums["nll"] / total)
  out["per_class"] = [None if np.isnan(a) else float(a) for a in per_class]
  out["reliability"] = {
      "count": bin_count.tolist(),
      "accuracy": [float(c / n) if n else None
                   for c, n in zip(np.asarray(sums["bin_correct"]), bin_count)],
      "confidence": [float(c / n) if n else None
                     for c, n in zip(np.asarray(sums["bin_confidence"]), bin_count)],
  }
  return out


def evaluate_logits(logits, labels, class_counts, chunk: int = 8192) -> dict[str, Any]:
  """One-call evaluation of a full set of logits (notebooks, stage 2): `summarize` of the
  `eval_sums`, accumulated over chunks of `chunk` rows to bound memory."""
  logits, labels = np.asarray(logits), np.asarray(labels)
  if logits.ndim != 2 or logits.shape[0] != labels.shape[0]:
    raise ValueError(f"logits must be (N, C) with N = len(labels); got logits {logits.shape} "
                     f"and labels {labels.shape}")
  check_labels(labels, logits.shape[-1])
  if len(class_counts) != logits.shape[-1]:
    raise ValueError(f"class_counts has {len(class_counts)} classes but the logits have "
                     f"{logits.shape[-1]}; pass the training counts of the same classes")
  sums = None
  for start in range(0, len(labels), chunk):
    sums = add_sums(sums, eval_sums(jnp.asarray(logits[start:start + chunk]),
                                    jnp.asarray(labels[start:start + chunk])))
  return summarize(sums, class_counts, num_examples=len(labels))


def class_bins(class_counts: np.ndarray, num_bins: int) -> np.ndarray:
  """(C,) bin of each class: classes sorted by training count (head first, ties by id) and cut
  into `num_bins` groups of (nearly) equal size."""
  counts = np.asarray(class_counts)
  num_bins = min(num_bins, len(counts))
  rank = np.empty(len(counts), np.int64)
  rank[np.argsort(-counts, kind="stable")] = np.arange(len(counts))
  return rank * num_bins // len(counts)


def binned_confusion(labels: np.ndarray, predictions: np.ndarray, class_counts: np.ndarray,
                     num_bins: int = 10) -> dict[str, np.ndarray]:
  """The head-to-tail confusion of the DLSA paper's Fig. 1, correct predictions left out.

  Returns:
    `errors` (bins, bins): wrong predictions of true-bin i that landed in bin j;
    `rate`: errors divided by the number of samples of true-bin i (0 for an empty bin);
    `bin_sizes`: classes per bin.
  """
  bins = class_bins(class_counts, num_bins)
  n = int(bins.max()) + 1
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  wrong = labels != predictions
  errors = np.zeros((n, n), np.int64)
  np.add.at(errors, (bins[labels[wrong]], bins[predictions[wrong]]), 1)
  per_bin = np.bincount(bins[labels], minlength=n)
  rate = errors / np.maximum(per_bin, 1)[:, None]
  return {"errors": errors, "rate": rate, "bin_sizes": np.bincount(bins, minlength=n)}
