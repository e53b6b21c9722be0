"""Tests for the digits SmallCNN, including a short real training run."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ltjax.models.small_cnn import SmallCNN


def _key(seed: int) -> jax.Array:
  # XLA:CPU compiles threefry slowly (seconds per init); "rbg" keeps the suite
  # fast and the init distributions are the same.
  return jax.random.key(seed, impl="rbg")


@pytest.fixture(scope="module")
def init():
  model = SmallCNN(num_classes=10)
  x = jnp.asarray(np.random.default_rng(1).normal(size=(5, 8, 8, 1)) + 2.0,
                  jnp.float32)
  return model, jax.jit(model.init)(_key(0), x), x


def test_contract_shapes_and_pooled_feeds_classifier(init):
  model, variables, x = init
  logits, features = jax.jit(model.apply)(variables, x)
  assert logits.shape == (5, 10) and logits.dtype == jnp.float32
  assert features["pooled"].shape == (5, 128)
  assert features["pooled"].dtype == jnp.float32
  assert features["feature_map"].shape == (5, 4, 4, 64)
  # "pooled" is exactly what the final Dense reads.
  head = variables["params"]["head"]
  np.testing.assert_allclose(
      logits, features["pooled"] @ head["kernel"] + head["bias"][None, :],
      rtol=1e-5, atol=1e-5)
  assert np.all(np.asarray(features["pooled"]) >= 0)  # post-ReLU


def test_width_field():
  model = SmallCNN(num_classes=3, width=8)
  x = jnp.zeros((2, 8, 8, 1))
  logits, features = jax.eval_shape(
      lambda: model.apply(model.init(jax.random.key(0), x), x))
  assert logits.shape == (2, 3) and features["pooled"].shape == (2, 32)


def test_batch_stats_train_vs_eval(init):
  model, variables, x = init
  apply = jax.jit(model.apply, static_argnames=("train", "mutable"))
  _, updates = apply(variables, x, train=True, mutable=("batch_stats",))
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b),
                         variables["batch_stats"], updates["batch_stats"])
  assert all(jax.tree.leaves(changed))
  _, same = apply(variables, x, train=False, mutable=("batch_stats",))
  jax.tree.map(np.testing.assert_array_equal, variables["batch_stats"],
               same["batch_stats"])


def test_bf16(init):
  _, variables, x = init
  # Params stay float32 whatever the compute dtype, so the float32 init fits.
  model = SmallCNN(num_classes=10, dtype=jnp.bfloat16)
  (logits, features), _ = jax.jit(lambda v, x: model.apply(
      v, x, train=True, mutable=["batch_stats"]))(variables, x)
  assert logits.dtype == jnp.float32
  assert features["feature_map"].dtype == jnp.bfloat16
  assert np.all(np.isfinite(logits))


def test_trains_on_balanced_digits(init):
  datasets = pytest.importorskip("sklearn.datasets")
  digits = datasets.load_digits()
  rng = np.random.default_rng(0)
  perm = rng.permutation(len(digits.target))
  images = (digits.images[perm].astype(np.float32) / 16.0)[..., None]
  labels = digits.target[perm].astype(np.int32)
  x_train, y_train = images[:1400], labels[:1400]
  x_test, y_test = images[1400:], labels[1400:]
  mean, std = x_train.mean(), x_train.std()
  x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

  model, variables, _ = init
  params, batch_stats = variables["params"], variables["batch_stats"]
  tx = optax.sgd(0.05, momentum=0.9)
  opt_state = tx.init(params)

  @jax.jit
  def train_step(params, batch_stats, opt_state, x, y):
    def loss_fn(p):
      (logits, _), updates = model.apply(
          {"params": p, "batch_stats": batch_stats}, x, train=True,
          mutable=["batch_stats"])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
      return loss, updates["batch_stats"]
    (_, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), batch_stats, opt_state

  for _ in range(300):
    idx = rng.integers(0, len(y_train), 64)
    params, batch_stats, opt_state = train_step(
        params, batch_stats, opt_state, x_train[idx], y_train[idx])

  logits, _ = jax.jit(model.apply)(
      {"params": params, "batch_stats": batch_stats}, x_test)
  accuracy = float(np.mean(np.argmax(logits, -1) == y_test))
  assert accuracy > 0.9, accuracy
