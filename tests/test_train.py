"""The trainer end to end: every config in smoke mode, sharding invariance, the step contract."""

import functools
import importlib.util
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import pytest

from ltjax import config as config_lib
from ltjax import losses
from ltjax import models
from ltjax import optim
from ltjax import steps
from ltjax import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(relpath, arg="smoke"):
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(REPO, relpath))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def _check_results(workdir, num_classes, expect_val=True):
  with open(os.path.join(workdir, "results.json")) as f:
    r = json.load(f)
  assert len(r["class_counts"]) == num_classes and r["config"]["dataset"]["name"]
  splits = ("val", "test") if expect_val else ("test",)
  for split in splits:
    s = r[split]
    for key in ("top1", "many", "medium", "few", "bucket_sizes", "ece", "nll", "per_class"):
      assert key in s
    assert 0.0 <= s["top1"] <= 1.0 and np.isfinite(s["nll"])
    assert len(s["per_class"]) == num_classes
  assert os.path.exists(os.path.join(workdir, "per_class_accuracy.png"))
  assert os.path.exists(os.path.join(workdir, "metrics.jsonl"))
  return r


def test_digits_smoke_end_to_end(tmp_path):
  out = train.train_and_evaluate(load_config("configs/digits_lt/ce.py"), str(tmp_path))
  r = _check_results(str(tmp_path), 10)
  assert r["class_counts"] == [120, 86, 61, 44, 31, 22, 16, 11, 8, 6]
  assert r["test"]["bucket_sizes"] == {"many": 1, "medium": 5, "few": 4}
  assert out["num_devices"] == 4 and out["total_steps"] == 6


def test_cifar100_smoke_end_to_end_on_local_pickles(tmp_path, fake_cifar100_dir):
  c = load_config("configs/cifar100_lt/ce.py")
  c.dataset.data_dir = fake_cifar100_dir
  c.dataset.imbalance_factor = 5.0  # the fake folder has 20 images per class
  c.dataset.val_per_class = 2
  r = train.train_and_evaluate(c, str(tmp_path / "run"))
  _check_results(str(tmp_path / "run"), 100)
  assert r["class_counts"][0] == 20 and r["class_counts"][-1] == 4
  assert r["val"]["per_class"][0] is None  # class 0 keeps all its images: no val images


def test_cifar10_smoke_end_to_end_on_shared_data(tmp_path, shared_cifar10_dir):
  c = load_config("configs/cifar10_lt/ce.py")
  c.dataset.data_dir = shared_cifar10_dir
  r = train.train_and_evaluate(c, str(tmp_path))
  _check_results(str(tmp_path), 10)
  assert sum(r["class_counts"]) == 12406
  assert r["test"]["few"] is None and r["test"]["bucket_sizes"]["few"] == 0


def _run_steps(mesh, num_steps=3):
  model = models.build_model("cifar_resnet_tiny", 10)
  oc = config_lib.default_config().optimizer
  schedule = optim.learning_rate_schedule(oc, 10, 2)
  tx = optim.build_optimizer(oc, schedule)
  repl = NamedSharding(mesh, P())
  init = functools.partial(steps.init_state, model, tx, image_shape=(32, 32, 3))
  abstract = jax.eval_shape(init, jax.random.key(0))
  state_sharding = jax.tree.map(lambda _: repl, abstract)
  state = jax.jit(init, out_shardings=state_sharding)(jax.random.key(0))
  objective = losses.objective(config_lib.default_config().loss, jnp.ones((10,)))
  step_fn = jax.jit(steps.make_train_step(
      model, tx, objective, schedule, mean=(0.5,) * 3, std=(0.25,) * 3, crop_padding=4,
      flip=True), donate_argnums=(0,), out_shardings=(state_sharding, repl))
  rng = np.random.RandomState(0)
  batch_sharding = NamedSharding(mesh, P("data"))
  for _ in range(num_steps):
    batch = {"image": rng.randint(0, 256, (16, 32, 32, 3)).astype(np.uint8),
             "label": rng.randint(0, 10, (16,)).astype(np.int32)}
    batch = jax.device_put(batch, batch_sharding)
    state, metrics = step_fn(state, batch, jax.random.key(1))
  return jax.device_get(state), jax.device_get(metrics)


def test_one_device_and_four_devices_give_the_same_training():
  assert jax.device_count() == 4
  one = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
  four = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
  s1, m1 = _run_steps(one)
  s4, m4 = _run_steps(four)
  np.testing.assert_allclose(m1["loss"], m4["loss"], rtol=1e-5)
  # Same parameters and (global, synchronised) BatchNorm statistics.
  for a, b in zip(jax.tree.leaves((s1.params, s1.batch_stats)),
                  jax.tree.leaves((s4.params, s4.batch_stats))):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
  assert int(s1.step) == 3


def test_bad_values_give_errors_naming_the_key(tmp_path):
  c = load_config("configs/digits_lt/ce.py")
  c.sampler = "balanced"
  with pytest.raises(ValueError, match="config.sampler"):
    train.train_and_evaluate(c, str(tmp_path))
  c = load_config("configs/digits_lt/ce.py")
  c.train.batch_size = 6  # not divisible by the 4 devices
  with pytest.raises(ValueError, match="divisible"):
    train.train_and_evaluate(c, str(tmp_path))


def test_missing_cifar_directory_explains_how_to_get_it(tmp_path):
  c = load_config("configs/cifar100_lt/ce.py")
  c.dataset.data_dir = str(tmp_path / "nowhere")
  with pytest.raises(FileNotFoundError, match="cifar-100-python"):
    train.train_and_evaluate(c, str(tmp_path / "run"))


def test_imagenet_lt_smoke_end_to_end_on_an_image_folder(tmp_path):
  from tests.conftest import write_fake_image_folder
  c = load_config("configs/imagenet_lt/ce.py")
  c.dataset.data_dir = write_fake_image_folder(str(tmp_path / "data"))
  c.dataset.num_classes = 4
  c.train.batch_size = 8
  r = train.train_and_evaluate(c, str(tmp_path / "run"))
  _check_results(str(tmp_path / "run"), 4)
  assert r["class_counts"] == [8, 6, 4, 2]


def test_labels_out_of_range_are_rejected(tmp_path):
  from tests.conftest import write_fake_image_folder
  c = load_config("configs/imagenet_lt/ce.py")
  c.dataset.data_dir = write_fake_image_folder(str(tmp_path / "data"))
  c.dataset.num_classes = 3  # the lists use labels 0..3
  with pytest.raises(ValueError, match="num_classes|out of range|label"):
    train.train_and_evaluate(c, str(tmp_path / "run"))


def test_the_train_step_compiles_once(tmp_path, caplog):
  """After the first step nothing recompiles the step: 3 epochs x 3 steps, one compilation."""
  c = load_config("configs/digits_lt/ce.py")
  c.train.num_epochs = 3
  c.train.cache_features = False
  jax.config.update("jax_log_compiles", True)
  try:
    with caplog.at_level("WARNING"):
      train.train_and_evaluate(c, str(tmp_path))
  finally:
    jax.config.update("jax_log_compiles", False)
  compiles = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith("Compiling jit(train_step)")]
  assert len(compiles) == 1, compiles
