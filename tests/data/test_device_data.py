"""On-device training data: the same batches as the host pipeline, and scanned steps equal
stepped ones."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ltjax import config as config_lib
from ltjax import losses
from ltjax import models
from ltjax.core import sharding
from ltjax.data import device_data
from ltjax.data import digits
from ltjax.data import samplers
from ltjax.train import steps

BATCH = 16


def _split():
  return digits.digits_lt_splits(seed=0)["train"]


def _multiset(images, labels):
  return collections.Counter((img.tobytes(), int(label)) for img, label in zip(images, labels))


@pytest.mark.parametrize("kind", ["instance", "class_balanced"])
def test_device_batches_equal_host_batches_and_their_epoch_multiset(kind):
  split = _split()
  mesh = sharding.make_data_mesh()
  data = device_data.put_replicated(split, sharding.replicated(mesh))
  gather = jax.jit(device_data.gather, out_shardings=sharding.batch_sharded(mesh))
  sampler = samplers.IndexSampler(split.labels, kind, 3, BATCH, 0, 1)
  for epoch in range(2):
    host_images, host_labels, dev_images, dev_labels = [], [], [], []
    for b in range(sampler.steps_per_epoch):
      idx = sampler.local_indices(epoch, b)
      host_images.append(split.gather(idx))
      host_labels.append(split.labels[idx])
      batch = gather(data, sharding.global_batch(mesh, {"i": idx.astype(np.int32)})["i"])
      dev_images.append(np.asarray(batch["image"]))
      dev_labels.append(np.asarray(batch["label"]))
      np.testing.assert_array_equal(dev_images[-1], host_images[-1])
      np.testing.assert_array_equal(dev_labels[-1], host_labels[-1])
    host = _multiset(np.concatenate(host_images), np.concatenate(host_labels))
    dev = _multiset(np.concatenate(dev_images), np.concatenate(dev_labels))
    assert host == dev and sum(dev.values()) == sampler.steps_per_epoch * BATCH
    if kind == "instance":  # an epoch visits each image at most once
      everything = _multiset(split.images, split.labels)
      assert all(everything[key] >= n for key, n in dev.items())


def test_scanned_steps_equal_one_step_at_a_time():
  split = _split()
  model = models.build_model("small_cnn", 10)
  tx = optax.sgd(0.05, momentum=0.9)
  objective = losses.objective(config_lib.default_config().loss, jnp.ones((10,)))
  step_fn = steps.make_train_step(model, tx, objective, optax.constant_schedule(0.05),
                                  mean=(0.5,) * split.image_shape[-1],
                                  std=(0.25,) * split.image_shape[-1])
  data = {"image": jnp.asarray(split.images), "label": jnp.asarray(split.labels)}
  rng = jax.random.key(4)
  init = jax.jit(lambda r: steps.init_state(model, tx, r, split.image_shape))
  indices = np.random.RandomState(0).randint(0, len(split), (3, BATCH)).astype(np.int32)

  single = jax.jit(device_data.indexed_step(step_fn))
  state = init(jax.random.key(0))
  losses_single = []
  for row in indices:
    state, m = single(state, data, row, rng)
    losses_single.append(float(m["loss"]))
  scanned_state, scanned = jax.jit(device_data.scan_steps(step_fn))(
      init(jax.random.key(0)), data, indices, rng)
  assert scanned["loss"].shape == (3,)
  np.testing.assert_allclose(np.asarray(scanned["loss"]), losses_single, rtol=1e-5)
  assert int(scanned_state.step) == int(state.step) == 3
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               scanned_state.params, state.params)


def test_modes():
  split = _split()
  assert device_data.use_device_data("auto", split, 100)
  assert not device_data.use_device_data("auto", split, 1e-3)  # does not fit the budget
  assert not device_data.use_device_data("off", split, 100)
  assert device_data.use_device_data("on", split, 1e-3)
  with pytest.raises(ValueError, match="data_on_device"):
    device_data.use_device_data("yes", split, 100)

  class FileSplit:  # pylint: disable=too-few-public-methods
    pass

  assert not device_data.use_device_data("auto", FileSplit(), 100)
  with pytest.raises(ValueError, match="in-memory"):
    device_data.use_device_data("on", FileSplit(), 100)
