"""materialize: a bit-exact identity with an identity derivative, in every dtype."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltjax import models
from ltjax.models.materialize import materialize


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_value_is_bit_exact(dtype):
  x = jnp.asarray(np.random.RandomState(0).randn(4, 5, 6, 3) * 1e3, dtype)
  y = jax.jit(materialize)(x)
  assert y.dtype == x.dtype
  np.testing.assert_array_equal(np.asarray(y.astype(jnp.float32)),
                                np.asarray(x.astype(jnp.float32)))


def test_derivative_is_identity():
  x = jnp.asarray(np.random.RandomState(1).randn(7, 3), jnp.float32)
  w = jnp.asarray(np.random.RandomState(2).randn(7, 3), jnp.float32)
  g = jax.grad(lambda x: jnp.sum(materialize(x) * w))(x)
  np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
  # Even when the first element (the one the traced 1.0 is read from) is zero.
  g0 = jax.grad(lambda x: jnp.sum(materialize(x * 0.0) * w))(x)
  np.testing.assert_allclose(np.asarray(g0), np.zeros((7, 3)))


def test_resnet_train_step_unchanged_by_materialize(monkeypatch):
  """The ResNet-32 gradients with and without the stored block outputs agree."""
  from ltjax.models import resnet_cifar  # pylint: disable=g-import-not-at-top
  model = models.build_model("cifar_resnet_tiny", 10)
  x = jnp.asarray(np.random.RandomState(3).randn(8, 32, 32, 3), jnp.float32)
  variables = model.init(jax.random.key(0), x[:1], train=False)

  def grads():
    def loss(p):
      (logits, _), _ = model.apply({"params": p, "batch_stats": variables["batch_stats"]}, x,
                                   train=True, mutable=["batch_stats"])
      return jnp.sum(logits ** 2)
    return jax.jit(jax.grad(loss))(variables["params"])

  with_store = grads()
  monkeypatch.setattr(resnet_cifar, "materialize", lambda v: v)
  without = grads()
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5),
               with_store, without)
