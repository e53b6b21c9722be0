"""Cross-entropy against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltjax import losses


def test_cross_entropy_by_hand():
  logits = jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
  labels = jnp.array([2, 1])
  expected = [np.log(np.exp(1) + np.exp(2) + np.exp(3)) - 3.0, np.log(3.0)]
  np.testing.assert_allclose(losses.cross_entropy(logits, labels), expected, rtol=1e-6)


def test_weights_and_weighted_mean():
  logits = jnp.array([[0.0, 0.0], [2.0, 0.0]])
  labels = jnp.array([0, 1])
  per = losses.cross_entropy(logits, labels)
  w = jnp.array([1.0, 3.0])
  np.testing.assert_allclose(losses.cross_entropy(logits, labels, w), per * w, rtol=1e-6)
  assert float(losses.weighted_mean(per, w)) == pytest.approx(float((per[0] + 3 * per[1]) / 4))
  assert float(losses.weighted_mean(per)) == pytest.approx(float(per.mean()))


def test_bf16_logits_give_finite_float32_loss_and_gradient():
  logits = jnp.array([[80.0, -80.0, 0.0]], jnp.bfloat16)
  loss = losses.cross_entropy(logits, jnp.array([1]))
  assert loss.dtype == jnp.float32 and np.isfinite(loss).all()
  grad = jax.grad(lambda z: losses.cross_entropy(z, jnp.array([1])).sum())(logits)
  assert np.isfinite(np.asarray(grad, np.float32)).all()


def test_registry():
  from ltjax import config as config_lib
  lc = config_lib.default_config().loss
  z, y = jnp.array([[2.0, 0.0, -1.0]]), jnp.array([0])
  expected = -2.0 + np.log(np.exp(2.0) + 1.0 + np.exp(-1.0))  # -log softmax(z)[0]
  assert float(losses.from_config(lc)(z, y, None)[0]) == pytest.approx(expected, rel=1e-6)
  lc.name = "cross_entropy_typo"
  with pytest.raises(ValueError, match="known losses"):
    losses.from_config(lc)
