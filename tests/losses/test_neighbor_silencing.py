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


def test_trainer_objective_silences_from_the_table_and_takes_soft_targets():
  from ltjax import config as config_lib  # pylint: disable=g-import-not-at-top
  lc = config_lib.default_config().loss
  lc.name = "neighbor_silencing"
  rng = np.random.RandomState(1)
  logits = rng.randn(4, 5).astype(np.float32)
  counts = np.array([50.0, 10.0, 5.0, 20.0, 20.0])
  # 3 targets, 2 auxiliary classes: target 0 -> aux 3, target 2 -> aux 3 and 4.
  neighbors = np.array([[3, -1], [-1, -1], [3, 4]], np.int32)
  labels = np.array([0, 1, 3, 4])
  silenced = np.array([[0, 0, 0, 1, 0], [0, 0, 0, 0, 0],
                       [1, 0, 1, 0, 1],  # aux 3: parents 0 and 2, and the other aux class
                       [0, 0, 1, 1, 0]], bool)  # aux 4: parent 2, and aux 3
  # The inputs category extrapolation attaches (ltjax.granularity.attach).
  objective = losses.objective(lc, jnp.asarray(counts),
                               inputs={"neighbors": neighbors, "silencing": "neighbors_and_aux"})
  q = np.eye(5)[labels]
  expect = _numpy_loss(logits, q, counts, silenced, 1.0).mean()
  np.testing.assert_allclose(objective(logits, {}, labels, 0), expect, rtol=1e-5)
  soft = 0.8 * q + 0.2 / 5
  np.testing.assert_allclose(objective(logits, {}, labels, 0, targets=soft),
                             _numpy_loss(logits, soft, counts, silenced, 1.0).mean(), rtol=1e-5)
  # Soft targets with plain cross-entropy: tau 0, nothing silenced.
  lc.name = "ce"
  ce = losses.objective(lc, jnp.asarray(counts))
  np.testing.assert_allclose(ce(logits, {}, labels, 0, targets=soft),
                             _numpy_loss(logits, soft, counts, np.zeros((4, 5), bool),
                                         0.0).mean(), rtol=1e-5)
