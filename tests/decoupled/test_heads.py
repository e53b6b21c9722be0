"""Decoupled stage-2 methods on hand-made features."""

import jax.numpy as jnp
import numpy as np
import pytest

from ltjax import decoupled


def test_tau_norm_by_hand():
  kernel = np.array([[3.0, 0.0], [4.0, 2.0]])  # column norms 5 and 2
  np.testing.assert_allclose(decoupled.tau_normalized_kernel(kernel, 1.0),
                             [[0.6, 0.0], [0.8, 1.0]], rtol=1e-6)
  np.testing.assert_allclose(decoupled.tau_normalized_kernel(kernel, 0.0), kernel)
  half = decoupled.tau_normalized_kernel(kernel, 0.5)
  np.testing.assert_allclose(half[:, 0], kernel[:, 0] / np.sqrt(5), rtol=1e-6)
  f = np.array([[1.0, 1.0]])
  np.testing.assert_allclose(decoupled.tau_norm_logits(f, kernel, 1.0), [[1.4, 1.0]],
                             rtol=1e-6)


def test_ncm_by_hand():
  feats = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]], np.float32)
  labels = np.array([0, 0, 1])
  means = decoupled.class_means(feats, labels, 3)
  np.testing.assert_allclose(means, [[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
  logits = np.asarray(decoupled.ncm_logits(jnp.array([[1.0, 1.0]]), means))
  np.testing.assert_allclose(logits[0, :2], [np.sqrt(0.5)] * 2, rtol=1e-6)
  assert logits[0, 2] == -np.inf  # no training images: never predicted


def _long_tailed_blobs(seed=0):
  rng = np.random.RandomState(seed)
  counts = [200, 40, 8]
  centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
  labels = np.repeat(np.arange(3), counts)
  feats = centers[labels] + 0.6 * rng.randn(len(labels), 2)
  return feats.astype(np.float32), labels


def test_crt_learns_a_classifier_on_frozen_features():
  feats, labels = _long_tailed_blobs()
  params, curve = decoupled.crt(feats, labels, 3, num_epochs=30, batch_size=32,
                                learning_rate=0.2)
  assert params["kernel"].shape == (2, 3) and params["bias"].shape == (3,)
  assert float(curve[-1]) < float(curve[0])
  preds = np.argmax(feats @ np.asarray(params["kernel"]) + np.asarray(params["bias"]), -1)
  per_class = [np.mean(preds[labels == c] == c) for c in range(3)]
  assert min(per_class) > 0.8


def test_lws_raises_tail_scales_under_class_balanced_sampling():
  feats, labels = _long_tailed_blobs()
  # A head-biased classifier: the bias favours class 0.
  logits = feats @ np.array([[2.0, -1.0, -1.0], [0.0, 1.7, -1.7]], np.float32)
  logits += np.array([3.0, 0.0, 0.0], np.float32)
  scales, _ = decoupled.lws(logits, labels, num_epochs=10, batch_size=32, learning_rate=0.1)
  assert scales.shape == (3,)
  assert float(scales[0]) < float(scales[2])


def test_unknown_sampler_propagates():
  feats, labels = _long_tailed_blobs()
  with pytest.raises(ValueError, match="sampler"):
    decoupled.crt(feats, labels, 3, sampler="uniform")
