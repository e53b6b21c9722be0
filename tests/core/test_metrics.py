"""Metric arithmetic on hand-made logits: buckets, empty buckets, padding, ECE, NLL."""

import jax.numpy as jnp
import numpy as np
import pytest

from ltjax.core import metrics


def _logits_for(predictions, num_classes, confidence_logit=2.0):
  out = np.zeros((len(predictions), num_classes), np.float32)
  out[np.arange(len(predictions)), predictions] = confidence_logit
  return out


def test_per_class_and_buckets_by_hand():
  # 4 classes: training counts put class 0 in many, 1-2 in medium, 3 in few.
  class_counts = np.array([500, 100, 20, 19])
  labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
  preds = np.array([0, 0, 1, 0, 0, 0, 3, 1])  # per class: 1, 1/2, 0, 1/2
  r = metrics.evaluate_logits(_logits_for(preds, 4), labels, class_counts)
  assert r["per_class"] == [1.0, 0.5, 0.0, 0.5]
  assert r["top1"] == pytest.approx(4 / 8)
  assert r["many"] == 1.0 and r["medium"] == pytest.approx(0.25) and r["few"] == 0.5
  assert r["bucket_sizes"] == {"many": 1, "medium": 2, "few": 1}


def test_empty_bucket_is_none_not_nan():
  class_counts = np.array([500, 50])  # no few-shot class
  r = metrics.evaluate_logits(_logits_for([0, 1], 2), np.array([0, 1]), class_counts)
  assert r["few"] is None and r["bucket_sizes"]["few"] == 0
  # A class without evaluation images (e.g. class 0 in the CIFAR-LT val split) is skipped.
  r = metrics.evaluate_logits(_logits_for([1, 1], 2), np.array([1, 1]), class_counts)
  assert r["per_class"][0] is None and r["many"] is None and r["medium"] == 1.0


def test_padding_with_mask_is_exact():
  logits = np.random.RandomState(0).randn(6, 3).astype(np.float32)
  labels = np.array([0, 1, 2, 0, 1, 2])
  full = metrics.eval_sums(jnp.asarray(logits), jnp.asarray(labels))
  padded = metrics.eval_sums(jnp.asarray(np.concatenate([logits, logits[:2] * 5])),
                             jnp.asarray(np.concatenate([labels, [1, 1]])),
                             jnp.asarray(np.array([1.] * 6 + [0.] * 2)))
  for k in full:
    np.testing.assert_allclose(full[k], padded[k], rtol=1e-6, atol=1e-6)


def test_ece_and_nll_by_hand():
  # Two examples, confidences 0.9 (correct) and 0.65 (wrong): bins (13/15, 14/15] and
  # (9/15, 10/15], i.e. indices 13 and 9.
  p1 = np.log(np.array([0.9, 0.1]))
  p2 = np.log(np.array([0.65, 0.35]))
  logits = np.stack([p1, p2]).astype(np.float32)
  labels = np.array([0, 1])
  r = metrics.evaluate_logits(logits, labels, np.array([200, 200]))
  # ECE = 1/2 * |1 - 0.9| + 1/2 * |0 - 0.65| = 0.375
  assert r["ece"] == pytest.approx(0.375, abs=1e-6)
  assert r["nll"] == pytest.approx(-(np.log(0.9) + np.log(0.35)) / 2, rel=1e-5)
  assert r["reliability"]["count"][13] == 1 and r["reliability"]["count"][9] == 1


def test_sums_accumulate_across_batches():
  rng = np.random.RandomState(1)
  logits, labels = rng.randn(10, 4).astype(np.float32), rng.randint(0, 4, 10)
  whole = metrics.add_sums(None, metrics.eval_sums(jnp.asarray(logits), jnp.asarray(labels)))
  parts = None
  for s in (slice(0, 3), slice(3, 10)):
    parts = metrics.add_sums(parts, metrics.eval_sums(jnp.asarray(logits[s]),
                                                      jnp.asarray(labels[s])))
  for k in whole:
    np.testing.assert_allclose(whole[k], parts[k], rtol=1e-6)


def test_empty_split_raises():
  sums = {"count": np.zeros(2), "correct": np.zeros(2)}
  with pytest.raises(ValueError, match="empty"):
    metrics.summarize(sums, np.array([1, 1]))


def test_class_bins_sort_by_training_count():
  counts = np.array([5, 500, 50, 20])  # ranks: 1 -> 0, 2 -> 1, 3 -> 2, 0 -> 3
  np.testing.assert_array_equal(metrics.class_bins(counts, 2), [1, 0, 0, 1])
  np.testing.assert_array_equal(metrics.class_bins(counts, 4), [3, 0, 1, 2])


def test_binned_confusion_counts_errors_only():
  counts = np.array([500, 400, 10, 5])  # bins of 2: {0, 1} head, {2, 3} tail
  labels = np.array([0, 0, 1, 2, 2, 3, 3, 3])
  preds = np.array([0, 2, 0, 0, 2, 1, 0, 2])
  c = metrics.binned_confusion(labels, preds, counts, num_bins=2)
  # head errors: 0->2 (head->tail), 1->0 (head->head); tail errors: 2->0, 3->1, 3->0 (tail->
  # head), 3->2 (tail->tail). Correct predictions (0->0, 2->2) are left out.
  np.testing.assert_array_equal(c["errors"], [[1, 1], [3, 1]])
  np.testing.assert_allclose(c["rate"], [[1 / 3, 1 / 3], [3 / 5, 1 / 5]])
  np.testing.assert_array_equal(c["bin_sizes"], [2, 2])
