"""Tests for the torchvision-layout ResNet-50 / ResNeXt-50."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltjax.models import resnet


def _key(seed: int) -> jax.Array:
  # XLA:CPU compiles threefry slowly (seconds per init); "rbg" keeps the suite
  # fast and the init distributions are the same.
  return jax.random.key(seed, impl="rbg")


def _param_count(variables) -> int:
  leaves = jax.tree.leaves(variables["params"])
  return sum(int(np.prod(x.shape)) for x in leaves)


def _signature(tree):
  return jax.tree.map(lambda a: (a.shape, a.dtype), tree)


def _init_shapes(model, x_shape):
  return jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros(x_shape)))


@pytest.mark.parametrize("factory,expected", [
    (resnet.resnet50, 25_557_032),
    (resnet.resnext50_32x4d, 25_028_904),
])
def test_param_count_matches_torchvision(factory, expected):
  # Parameter shapes do not depend on the spatial size, so 32x32 is enough.
  variables = _init_shapes(factory(1000), (1, 32, 32, 3))
  assert _param_count(variables) == expected


def test_bottleneck_widths():
  r50 = _init_shapes(resnet.resnet50(10), (1, 32, 32, 3))["params"]
  rx50 = _init_shapes(resnet.resnext50_32x4d(10), (1, 32, 32, 3))["params"]
  assert r50["layer1_0"]["conv2"]["kernel"].shape == (3, 3, 64, 64)
  # 32 groups x 4 channels: per-group input depth 4, 128 outputs.
  assert rx50["layer1_0"]["conv2"]["kernel"].shape == (3, 3, 4, 128)
  assert rx50["layer4_0"]["conv3"]["kernel"].shape == (1, 1, 1024, 2048)
  assert r50["head"]["kernel"].shape == (2048, 10)


def test_resnet50_shapes_at_224_without_running():
  model = resnet.resnet50(1000)

  def forward():
    x = jnp.zeros((2, 224, 224, 3))
    variables = model.init(jax.random.key(0), x)
    return model.apply(variables, x)

  logits, features = jax.eval_shape(forward)
  assert logits.shape == (2, 1000) and logits.dtype == jnp.float32
  assert features["pooled"].shape == (2, 2048)
  assert features["feature_map"].shape == (2, 7, 7, 2048)


def test_init_helpers():
  key = _key(0)
  kernel = resnet.conv_kernel_init_fan_out(key, (3, 3, 64, 256))
  np.testing.assert_allclose(np.std(kernel), np.sqrt(2 / (9 * 256)), rtol=0.05)
  dense = resnet.torch_linear_kernel_init(key, (400, 300))
  bound = 1 / np.sqrt(400)
  assert np.all(np.abs(dense) <= bound) and np.max(np.abs(dense)) > 0.9 * bound
  bias = resnet.torch_linear_bias_init(400)(key, (300,))
  assert np.all(np.abs(bias) <= bound) and np.max(np.abs(bias)) > 0.9 * bound


@pytest.fixture(scope="module")
def tiny():
  model = resnet.resnet_tiny(7)
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 32, 32, 3)),
                  jnp.float32)
  variables = jax.jit(model.init)(_key(0), x)
  return model, variables, x


def test_tiny_forward_and_batch_stats(tiny):
  model, variables, x = tiny
  (logits, features), updates = jax.jit(lambda v, x: model.apply(
      v, x, train=True, mutable=["batch_stats"]))(variables, x)
  assert logits.shape == (2, 7) and logits.dtype == jnp.float32
  assert features["pooled"].shape == (2, 256)
  assert features["feature_map"].shape == (2, 1, 1, 256)
  assert np.all(np.isfinite(logits))
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b),
                         variables["batch_stats"], updates["batch_stats"])
  assert all(jax.tree.leaves(changed))

  (eval_logits, _), eval_updates = jax.jit(lambda v, x: model.apply(
      v, x, mutable=["batch_stats"]))(variables, x)
  jax.tree.map(np.testing.assert_array_equal, variables["batch_stats"],
               eval_updates["batch_stats"])
  assert eval_logits.shape == (2, 7)


def test_tiny_bf16(tiny):
  _, variables, x = tiny
  model = resnet.resnet_tiny(7, dtype=jnp.bfloat16)
  # Params stay float32 whatever the compute dtype, so the float32 init fits.
  bf16_shapes = jax.eval_shape(model.init, _key(0), x)
  assert _signature(bf16_shapes) == _signature(variables)
  (logits, features), _ = jax.jit(lambda v, x: model.apply(
      v, x, train=True, mutable=["batch_stats"]))(variables, x)
  assert logits.dtype == jnp.float32
  assert features["feature_map"].dtype == jnp.bfloat16
  assert np.all(np.isfinite(logits))
