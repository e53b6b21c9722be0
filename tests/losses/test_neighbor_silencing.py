"""The neighbour-silencing loss against a plain numpy formula, its gradients and special cases."""

import jax
import jax.numpy as jnp
import numpy as np

from ltjax import losses


def _numpy_loss(logits, q, counts, silenced, tau):
  z = logits + tau * np.log(counts / counts.sum() + 1e-9)[None, :]
  out = []
  for zb, qb, sb in zip(z, q, silenced):
    kept = ~sb
    log_p = zb[kept] - np.log(np.sum(np.exp(zb[kept])))
    out.append(-np.sum(qb[kept] * log_p))  # mass on silenced classes is dropped
  return np.array(out)


def _case():
  rng = np.random.RandomState(0)
  logits = rng.randn(3, 5).astype(np.float32)
  counts = np.array([50.0, 10.0, 5.0, 20.0, 20.0])
  silenced = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0], [1, 1, 0, 0, 0]], bool)
  return logits, counts, silenced


def test_hard_targets_match_numpy():
  logits, counts, silenced = _case()
  labels = np.array([0, 2, 3])
  got = losses.neighbor_silencing_loss(logits, labels, counts, silenced, tau=1.0)
  want = _numpy_loss(logits, np.eye(5)[labels], counts, silenced, 1.0)
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_soft_targets_drop_silenced_mass_without_renormalising():
  logits, counts, silenced = _case()
  q = np.full((3, 5), 0.02, np.float32)
  q[np.arange(3), [0, 2, 3]] = 0.92
  got = losses.neighbor_silencing_loss(logits, q, counts, silenced, tau=0.5)
  np.testing.assert_allclose(got, _numpy_loss(logits, q, counts, silenced, 0.5), rtol=1e-5)


def test_nothing_silenced_is_the_logit_adjusted_loss():
  logits, counts, _ = _case()
  labels = np.array([1, 4, 0])
  got = losses.neighbor_silencing_loss(logits, labels, counts, np.zeros((3, 5), bool))
  want = losses.logit_adjusted_loss(logits, labels, counts, tau=1.0)
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_silenced_logits_get_no_gradient_and_bf16_stays_finite():
  logits, counts, silenced = _case()
  labels = np.array([0, 2, 3])
  grad = jax.grad(lambda z: losses.neighbor_silencing_loss(z, labels, counts,
                                                           silenced).sum())(jnp.asarray(logits))
  grad = np.asarray(grad)
  assert np.all(grad[silenced] == 0) and np.all(np.isfinite(grad))
  assert np.all(grad[~silenced] != 0)
  big = jnp.asarray(logits * 1e3, jnp.bfloat16)
  out = losses.neighbor_silencing_loss(big, labels, counts, silenced)
  assert out.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(out)))
