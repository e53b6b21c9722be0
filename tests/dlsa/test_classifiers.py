"""DLSA heads: the two-branch logits by hand, cosine squashing, BSM training, masking, selection,
one epoch of SGD by hand with the partial last batch kept or dropped."""

import jax
import numpy as np
import pytest

from ltjax.data import samplers
from ltjax.dlsa import classifiers


def test_linear_head_is_A_x_plus_B_z_p():
  rng = np.random.RandomState(0)
  x, p = rng.randn(4, 3).astype(np.float32), rng.rand(4, 2).astype(np.float32)
  inputs = classifiers.HeadInputs(x, None, np.array([0, 1, 1, 0]), np.eye(2, dtype=np.float32))
  params = jax.device_get(classifiers.init_head(jax.random.key(0), inputs, 5))
  assert params["x"]["kernel"].shape == (3, 5)
  assert params["second"]["kernel"].shape == (3 + 2, 5)  # [z; p] with z := x
  got = np.asarray(classifiers.head_logits(params, x, x, p))
  want = (x @ params["x"]["kernel"] + params["x"]["bias"]
          + np.concatenate([x, p], 1) @ params["second"]["kernel"] + params["second"]["bias"])
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  # predict_logits gathers p = prior[cluster] itself.
  pred = classifiers.predict_logits(params, inputs)
  np.testing.assert_allclose(pred, classifiers.head_logits(params, x, x, np.eye(2)[[0, 1, 1, 0]]),
                             rtol=1e-5, atol=1e-6)


def test_cosine_head_squashes_its_input():
  v = np.array([[3.0, 4.0]], np.float32)  # norm 5: squashed norm 5/6
  kernel = np.array([[2.0], [0.0]], np.float32)  # unit column (1, 0)
  params = {"x": {"kernel": kernel}, "second": {"kernel": kernel}}
  got = float(classifiers.head_logits(params, v, v, None, kind="cosine", scale=16.0)[0, 0])
  np.testing.assert_allclose(got, 2 * 16 * (5 / 6) * (3 / 5), rtol=1e-5)


def _blobs(counts=(200, 40, 8), seed=0):
  rng = np.random.RandomState(seed)
  labels = np.repeat(np.arange(len(counts)), counts)
  centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
  return (centers[labels] + 0.5 * rng.randn(len(labels), 2)).astype(np.float32), labels


def test_bsm_head_learns_and_masked_classes_are_never_predicted():
  x, labels = _blobs()
  inputs = classifiers.HeadInputs(x)
  counts = np.bincount(labels)
  params, history = classifiers.train_head(inputs, labels, 4, log_prior=np.log(
      np.maximum(np.append(counts, 0), 1)), mask=np.array([True, True, True, False]),
      num_epochs=20, batch_size=32, learning_rate=0.1, eval_every=10)
  assert len(history) == 2 and history[-1]["loss"] < history[0]["loss"] + 1e-9
  logits = classifiers.predict_logits(params, inputs, mask=np.array([True, True, True, False]))
  assert np.all(logits[:, 3] == classifiers.ABSENT_LOGIT)
  preds = logits.argmax(-1)
  assert min(np.mean(preds[labels == c] == c) for c in range(3)) > 0.8


def test_selection_keeps_the_best_scored_params():
  x, labels = _blobs()
  scores = iter([0.5, 0.9, 0.1])
  seen = []

  def select_fn(params):
    seen.append(jax.device_get(params))
    return next(scores)

  best, history = classifiers.train_head(classifiers.HeadInputs(x), labels, 3,
                                         log_prior=np.zeros(3), num_epochs=6, eval_every=2,
                                         learning_rate=0.1, select_fn=select_fn)
  assert [h["select"] for h in history] == [0.5, 0.9, 0.1]
  jax.tree.map(np.testing.assert_array_equal, best, seen[1])


def _numpy_epoch(params, x, labels, order_batches, log_prior, lr):
  """One epoch of plain SGD on the linear head (z := x, no cluster branch) by hand: each batch's
  loss is the mean cross-entropy of softmax(x Wx + bx + x Wz + bz + log_prior)."""
  p = {k: {n: np.asarray(v, np.float64) for n, v in d.items()} for k, d in params.items()}
  for idx in order_batches:
    xb, yb = x[idx].astype(np.float64), labels[idx]
    logits = xb @ p["x"]["kernel"] + p["x"]["bias"] + xb @ p["second"]["kernel"] + p[
        "second"]["bias"] + log_prior
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    g = (probs - np.eye(probs.shape[1])[yb]) / len(idx)  # d loss / d logits
    for branch in ("x", "second"):
      p[branch]["kernel"] -= lr * xb.T @ g
      p[branch]["bias"] -= lr * g.sum(0)
  return p


@pytest.mark.parametrize("last_batch", ["keep", "drop"])
def test_last_batch_keep_and_drop_are_sgd_by_hand(last_batch):
  x, labels = _blobs(counts=(6, 4, 3))  # 13 samples, batch 5: 5 + 5 + 3 (keep) or 5 + 5
  log_prior = np.log(np.bincount(labels)).astype(np.float32)
  init = classifiers.init_head(jax.random.key(7), classifiers.HeadInputs(x), 3)
  got, _ = classifiers.train_head(classifiers.HeadInputs(x), labels, 3, log_prior=log_prior,
                                  num_epochs=1, batch_size=5, learning_rate=0.5,
                                  eval_every=1, seed=7, last_batch=last_batch)
  order = samplers.epoch_order(labels, "instance", 7, 0)
  batches = [order[0:5], order[5:10]] + ([order[10:13]] if last_batch == "keep" else [])
  want = _numpy_epoch(jax.device_get(init), x, labels, batches, log_prior, 0.5)
  for branch in ("x", "second"):
    for name in ("kernel", "bias"):
      np.testing.assert_allclose(got[branch][name], want[branch][name], rtol=1e-5, atol=1e-6)
  # The other mode gives other weights: the partial batch really is (or is not) a step.
  other, _ = classifiers.train_head(classifiers.HeadInputs(x), labels, 3, log_prior=log_prior,
                                    num_epochs=1, batch_size=5, learning_rate=0.5, eval_every=1,
                                    seed=7, last_batch="drop" if last_batch == "keep" else "keep")
  assert np.abs(np.asarray(other["x"]["kernel"]) - want["x"]["kernel"]).max() > 1e-3
