"""Tests for the CIFAR ResNet of LDAM-DRW / RIDE."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltjax.models import resnet_cifar


def _key(seed: int) -> jax.Array:
  # XLA:CPU compiles threefry slowly (seconds per init); "rbg" keeps the suite
  # fast and the init distributions are the same.
  return jax.random.key(seed, impl="rbg")


def _images(shape) -> jax.Array:
  return jnp.asarray(np.random.default_rng(1).normal(size=shape), jnp.float32)


def _param_count(variables) -> int:
  leaves = jax.tree.leaves(variables["params"])
  return sum(int(np.prod(x.shape)) for x in leaves)


def _signature(tree):
  return jax.tree.map(lambda a: (a.shape, a.dtype), tree)


def _expected_params(num_blocks, widths, num_classes, in_channels=3) -> int:
  """Parameter count of the PyTorch reference, from the architecture alone."""

  def conv(cin, cout):
    return 3 * 3 * cin * cout

  def bn(c):
    return 2 * c  # weight and bias; running stats are buffers, not params.

  total = conv(in_channels, widths[0]) + bn(widths[0])
  cin = widths[0]
  for n, w in zip(num_blocks, widths):
    for _ in range(n):
      # Option A shortcuts have no parameters.
      total += conv(cin, w) + bn(w) + conv(w, w) + bn(w)
      cin = w
  return total + cin * num_classes + num_classes


def _shapes(model, x_shape, train=False):
  def init_and_apply():
    variables = model.init(jax.random.key(0), jnp.zeros(x_shape))
    return variables, model.apply(variables, jnp.zeros(x_shape), train=train,
                                  mutable=["batch_stats"])
  return jax.eval_shape(init_and_apply)


@pytest.fixture(scope="module")
def tiny():
  model = resnet_cifar.cifar_resnet_tiny(10)
  x = _images((4, 32, 32, 3))
  variables = jax.jit(model.init)(_key(0), x)
  return model, variables, x


def test_resnet32_param_count_matches_pytorch():
  # 470,004 at 100 classes and 464,154 at 10 (the "0.46M" of the reference).
  assert _expected_params((5, 5, 5), (16, 32, 64), 100) == 470_004
  for num_classes in (10, 100):
    variables, _ = _shapes(resnet_cifar.cifar_resnet32(num_classes),
                           (1, 32, 32, 3))
    assert _param_count(variables) == _expected_params(
        (5, 5, 5), (16, 32, 64), num_classes)


@pytest.mark.parametrize("num_blocks", [(3, 3, 3), (7, 7, 7), (9, 9, 9)])
def test_other_depths_param_count(num_blocks):
  model = resnet_cifar.CifarResNet(num_classes=10, num_blocks=num_blocks)
  variables, _ = _shapes(model, (1, 32, 32, 3))
  assert _param_count(variables) == _expected_params(
      num_blocks, (16, 32, 64), 10)


def test_resnet32_output_shapes():
  _, ((logits, features), _) = _shapes(resnet_cifar.cifar_resnet32(100),
                                       (2, 32, 32, 3), train=True)
  assert logits.shape == (2, 100) and logits.dtype == jnp.float32
  assert features["pooled"].shape == (2, 64)
  assert features["feature_map"].shape == (2, 8, 8, 64)


def test_option_a_shortcut_on_hand_made_array():
  x = jnp.arange(1 * 4 * 4 * 2, dtype=jnp.float32).reshape(1, 4, 4, 2) + 1
  y = resnet_cifar.shortcut_option_a(x, out_channels=4, strides=2)
  assert y.shape == (1, 2, 2, 4)
  expected = np.zeros((1, 2, 2, 4), np.float32)
  # Even rows/columns of x, channels placed in the middle (one zero each side).
  expected[0, :, :, 1:3] = np.asarray(x)[0, ::2, ::2, :]
  np.testing.assert_array_equal(y, expected)
  # The reference pads planes // 4 on each side: 16 -> 32 gives 8 + 16 + 8.
  z = resnet_cifar.shortcut_option_a(jnp.ones((1, 8, 8, 16)), 32)
  assert z.shape == (1, 4, 4, 32)
  np.testing.assert_array_equal(z[0, 0, 0], [0] * 8 + [1] * 16 + [0] * 8)


def test_option_a_rejects_fewer_channels():
  with pytest.raises(ValueError):
    resnet_cifar.shortcut_option_a(jnp.ones((1, 4, 4, 8)), 4)


def test_tiny_contract_and_batch_stats(tiny):
  model, variables, x = tiny
  apply_train = jax.jit(lambda v, x: model.apply(
      v, x, train=True, mutable=["batch_stats"]))
  (logits, features), updates = apply_train(variables, x)
  assert logits.shape == (4, 10) and logits.dtype == jnp.float32
  assert features["pooled"].shape == (4, 16)
  assert features["pooled"].dtype == jnp.float32
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b),
                         variables["batch_stats"], updates["batch_stats"])
  assert all(jax.tree.leaves(changed))

  apply_eval = jax.jit(lambda v, x: model.apply(
      v, x, train=False, mutable=["batch_stats"]))
  (eval_logits, _), eval_updates = apply_eval(variables, x)
  jax.tree.map(np.testing.assert_array_equal, variables["batch_stats"],
               eval_updates["batch_stats"])
  # Eval mode needs no mutable collection and is deterministic.
  plain = model.apply(variables, x)[0]
  np.testing.assert_allclose(plain, eval_logits, rtol=1e-5, atol=1e-5)


def test_tiny_init_scales(tiny):
  _, variables, _ = tiny
  params = variables["params"]
  # kaiming_normal_ fan_in: std sqrt(2 / (3 * 3 * cin)); a rough check.
  kernel = params["layer3_0"]["conv2"]["kernel"]
  assert kernel.shape == (3, 3, 16, 16)
  np.testing.assert_allclose(np.std(kernel), np.sqrt(2 / 144), rtol=0.2)
  bias = params["head"]["bias"]
  assert np.all(np.abs(bias) <= 1 / np.sqrt(16))


def test_bf16_compute_float32_logits(tiny):
  _, variables, x = tiny
  model = resnet_cifar.cifar_resnet_tiny(10, dtype=jnp.bfloat16)
  # Params stay float32 whatever the compute dtype, so the float32 init fits.
  bf16_shapes = jax.eval_shape(model.init, _key(0), x)
  assert _signature(bf16_shapes) == _signature(variables)
  (logits, features), _ = jax.jit(lambda v, x: model.apply(
      v, x, train=True, mutable=["batch_stats"]))(variables, x)
  assert logits.dtype == jnp.float32
  assert features["feature_map"].dtype == jnp.bfloat16
  assert np.all(np.isfinite(logits))


def test_normed_classifier():
  model = resnet_cifar.cifar_resnet_tiny(10, normed_classifier=True)
  x = _images((4, 32, 32, 3))
  variables = jax.jit(model.init)(_key(0), x)
  kernel = variables["params"]["head"]["kernel"]
  assert kernel.shape == (16, 10)
  assert "bias" not in variables["params"]["head"]
  np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), 1.0, rtol=1e-5)
  logits, features = jax.jit(model.apply)(variables, x)
  # Cosine similarities between the pooled features and the class columns.
  pooled = np.asarray(features["pooled"])
  cos = (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)) @ kernel
  np.testing.assert_allclose(logits, cos, rtol=1e-4, atol=1e-5)
  assert np.all(np.abs(logits) <= 1 + 1e-5)
