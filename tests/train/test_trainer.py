"""The trainer end to end: every config in smoke mode, sharding invariance, the step contract."""

import json
import os

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np
import pytest

from ltjax import config as config_lib
from ltjax import models
from ltjax import train
from ltjax.core import evaluate
from ltjax.core import optim
from ltjax.data import arrays
from ltjax.data import datasets
from ltjax.runs import results as results_lib
from ltjax.train import setup as setup_lib
from ltjax.train import steps
from tests.conftest import load_config


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


def _synthetic_splits(num_classes=10, n=64, seed=0):
  """A random uint8 CIFAR-shaped DatasetSplits (train = test)."""
  rng = np.random.RandomState(seed)
  split = arrays.ArraySplit(rng.randint(0, 256, (n, 32, 32, 3)).astype(np.uint8),
                            rng.randint(0, num_classes, (n,)).astype(np.int32))
  return datasets.DatasetSplits("synthetic", split, None, split, num_classes,
                                [str(i) for i in range(num_classes)], (0.5,) * 3, (0.25,) * 3)


def _run_steps(mesh, num_steps=3):
  """Three steps of the trainer's own wiring (`train.setup`) on host batches."""
  c = load_config("configs/cifar10_lt/ce.py")
  c.train.data_on_device = "off"
  setup = train.setup.build(c, _synthetic_splits(), mesh)
  state = train.setup.initial_state(setup)
  jitted = train.setup.jit_steps(setup, train.setup.step_fn(setup, train.setup.objective(setup)))
  assert not jitted.on_device
  rng = np.random.RandomState(0)
  batch_sharding = NamedSharding(mesh, P("data"))
  for _ in range(num_steps):
    batch = {"image": rng.randint(0, 256, (16, 32, 32, 3)).astype(np.uint8),
             "label": rng.randint(0, 10, (16,)).astype(np.int32)}
    batch = jax.device_put(batch, batch_sharding)
    state, metrics = jitted.one(state, batch, jax.random.key(1), None)
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


def test_image_folder_training_does_not_depend_on_decode_workers(tmp_path):
  from tests.conftest import write_fake_image_folder
  data_dir = write_fake_image_folder(str(tmp_path / "data"))
  results = []
  for workers in (0, 2):
    c = load_config("configs/imagenet_lt/ce.py")
    c.dataset.data_dir = data_dir
    c.dataset.num_classes = 4
    c.train.batch_size = 8
    c.train.cache_features = False
    c.train.loader_workers = workers
    results.append(train.train_and_evaluate(c, str(tmp_path / f"run{workers}")))
  np.testing.assert_allclose(results[0]["test"]["nll"], results[1]["test"]["nll"], rtol=1e-5)
  assert results[0]["test"]["per_class"] == results[1]["test"]["per_class"]


def test_labels_out_of_range_are_rejected(tmp_path):
  from tests.conftest import write_fake_image_folder
  c = load_config("configs/imagenet_lt/ce.py")
  c.dataset.data_dir = write_fake_image_folder(str(tmp_path / "data"))
  c.dataset.num_classes = 3  # the lists use labels 0..3
  with pytest.raises(ValueError, match="num_classes|out of range|label"):
    train.train_and_evaluate(c, str(tmp_path / "run"))


@pytest.mark.parametrize("per_dispatch", [1, 3])
def test_the_train_step_compiles_once(tmp_path, caplog, per_dispatch):
  """After the first step nothing recompiles the step: 3 epochs x 3 steps, one compilation
  (of the single step, or of the 3-step scan)."""
  c = load_config("configs/digits_lt/ce.py")
  c.train.num_epochs = 3
  c.train.cache_features = False
  c.train.steps_per_dispatch = per_dispatch
  jax.config.update("jax_log_compiles", True)
  try:
    with caplog.at_level("WARNING"):
      train.train_and_evaluate(c, str(tmp_path))
  finally:
    jax.config.update("jax_log_compiles", False)
  compiles = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith(("Compiling jit(train_step)",
                                            "Compiling jit(train_steps)"))]
  assert len(compiles) == 1, compiles
  assert ("train_steps" in compiles[0]) == (per_dispatch > 1)


def test_auxiliary_classes_train_over_all_classes_and_evaluate_on_targets(tmp_path):
  c = load_config("configs/granularity/digits_lt_5plus5.py", "aux_silenced,smoke")
  r = train.train_and_evaluate(c, str(tmp_path))
  _check_results(str(tmp_path), 5)
  assert r["class_names"] == ["0", "1", "2", "3", "4"]
  assert r["class_counts"] == [120, 56, 26, 12, 6]  # target counts only
  aux = r["auxiliary"]
  assert aux["num_classes"] == 5 and aux["images_per_epoch"] == 5 * 60
  assert aux["silencing"] == "neighbors_and_aux" and aux["links"] == 5
  with open(os.path.join(tmp_path, "auxiliary.json")) as f:
    assert json.load(f)["neighbors"] == aux["neighbors"]
  with np.load(os.path.join(tmp_path, "test_predictions.npz")) as f:
    assert f["predictions"].max() < 5  # never an auxiliary class
  # The feature cache and its head hold the target classes only.
  with np.load(os.path.join(tmp_path, "features", "test.npz")) as f:
    assert f["logits"].shape[1] == 5
  ckpt_dir = os.path.join(tmp_path, "checkpoints")
  last = max(int(d) for d in os.listdir(ckpt_dir) if d.isdigit())
  with open(os.path.join(ckpt_dir, str(last), "data", "metadata")) as f:
    position = json.load(f)
  assert position["aux_classes"] == 5 and position["aux_images_per_epoch"] == 300


def test_target_only_inference_never_predicts_an_auxiliary_class():
  model = models.build_model("small_cnn", 6)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
  params = jax.tree.map(lambda x: x, variables["params"])
  # Auxiliary classes 3..5 get an overwhelming bias: a full argmax would always pick them.
  params["head"]["bias"] = jnp.array([0.0, 0.1, 0.2, 1e4, 1e4, 1e4])
  state = steps.TrainState(jnp.zeros((), jnp.int32), params, variables["batch_stats"], None)
  rng = np.random.RandomState(0)
  batch = {"image": rng.randint(0, 256, (8, 8, 8, 1)).astype(np.uint8),
           "label": rng.randint(0, 3, (8,)).astype(np.int32), "mask": np.ones((8,), bool)}
  predict = evaluate.make_predict_step(model, mean=(0.3,), std=(0.4,), num_targets=3)
  assert np.asarray(predict(state, batch)["prediction"]).max() < 3
  full = evaluate.make_predict_step(model, mean=(0.3,), std=(0.4,))
  assert np.asarray(full(state, batch)["prediction"]).min() >= 3
  sums = steps.make_eval_step(model, mean=(0.3,), std=(0.4,), num_targets=3)(state, batch)
  assert np.asarray(sums["count"]).shape == (3,)  # per-class metrics over the targets


def test_auxiliary_images_filtered_by_a_finished_runs_features(tmp_path):
  base = load_config("configs/granularity/digits_lt_5plus5.py", "targets,smoke")
  train.train_and_evaluate(base, str(tmp_path / "targets"))
  c = load_config("configs/granularity/digits_lt_5plus5.py", "aux_silenced,smoke")
  c.aux.filter_workdir = str(tmp_path / "targets")
  c.aux.filter_low, c.aux.filter_high = -1.0, 1.0
  r = train.train_and_evaluate(c, str(tmp_path / "all"))
  f = r["auxiliary"]["filter"]
  assert f["removed"] == 0 and f["kept"] == r["auxiliary"]["images_total"]
  median = f["similarity_quartiles"][1]
  c.aux.filter_low = median
  r = train.train_and_evaluate(c, str(tmp_path / "half"))
  f = r["auxiliary"]["filter"]
  # The median removes about half of the images it can judge (those with a parent).
  assert 0 < f["judged"] and abs(f["removed"] - f["judged"] / 2) <= 0.05 * f["judged"]
  assert r["auxiliary"]["images_total"] == f["kept"]


def test_a_pretrained_backbone_replaces_the_init_and_keeps_a_fresh_head(tmp_path):
  from ltjax.models import vit_checkpoint  # pylint: disable=g-import-not-at-top
  model = models.build_model("vit_tiny", 4)
  oc = config_lib.default_config().optimizer
  oc.name = "adamw"
  abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3))))[
      "params"]
  tx = optim.build_optimizer(oc, lambda s: 0.1, abstract)
  init = lambda seed: steps.init_state(model, tx, jax.random.key(seed), image_shape=(16, 16, 3))
  source = init(7).params
  path = str(tmp_path / "backbone.npz")
  vit_checkpoint.save_big_vision_npz(path, source)
  fresh = init(0)
  repl = jax.sharding.NamedSharding(jax.sharding.Mesh(np.array(jax.devices()), ("data",)), P())
  loaded = train.setup.load_pretrained(path, fresh, tx, jax.tree.map(lambda _: repl, fresh))
  np.testing.assert_array_equal(loaded.params["block1"]["mlp_fc1"]["kernel"],
                                source["block1"]["mlp_fc1"]["kernel"])
  np.testing.assert_array_equal(loaded.params["head"]["kernel"], fresh.params["head"]["kernel"])
  with pytest.raises(FileNotFoundError, match="model.pretrained"):
    train.setup.load_pretrained(str(tmp_path / "none.npz"), fresh, tx, None)


def _params_after(tmp_path, name, **train_overrides):
  c = load_config("configs/digits_lt/ce.py")
  c.train.num_epochs = 2
  c.train.steps_per_epoch_limit = 4
  c.train.cache_features = False
  c.train.select = "last"
  c.train.log_every_steps = 1
  for key, value in train_overrides.items():
    c.train[key] = value
  return train.train_and_evaluate(c, str(tmp_path / name))


def test_device_data_and_scanned_steps_train_exactly_like_the_host_pipeline(tmp_path):
  """Same sampler, same batches: host gather, on-device gather and 2 steps per dispatch give
  the same model (same test predictions and metrics)."""
  host = _params_after(tmp_path, "host", data_on_device="off")
  device = _params_after(tmp_path, "device", data_on_device="on")
  scanned = _params_after(tmp_path, "scan", data_on_device="on", steps_per_dispatch=2)
  for other in (device, scanned):
    assert other["total_steps"] == host["total_steps"] == 8
    np.testing.assert_allclose(other["test"]["nll"], host["test"]["nll"], rtol=1e-4)
    np.testing.assert_allclose(other["test"]["per_class"], host["test"]["per_class"])
  for name in ("host", "device", "scan"):
    with open(tmp_path / name / "metrics.jsonl") as f:
      rows = [json.loads(line) for line in f]
    assert [r["step"] for r in rows if "train/loss" in r] == list(range(1, 9))


def test_scanned_dispatch_needs_device_data(tmp_path):
  with pytest.raises(ValueError, match="steps_per_dispatch"):
    _params_after(tmp_path, "bad", data_on_device="off", steps_per_dispatch=2)


def test_rerunning_a_finished_run_says_so_and_prints_its_results(tmp_path, capsys):
  c = load_config("configs/digits_lt/ce.py")
  first = train.train_and_evaluate(c, str(tmp_path))
  capsys.readouterr()
  mtime = os.path.getmtime(tmp_path / "results.json")
  again = train.train_and_evaluate(c, str(tmp_path))
  out = capsys.readouterr().out
  assert "holds this run, finished" in out and "nothing to train" in out and "test " in out
  # A :smoke run says what its numbers are worth; a full config is not marked smoke.
  assert results_lib.SMOKE_CAVEAT in out
  assert not results_lib.is_smoke(load_config("configs/digits_lt/ce.py", None))
  # results.json records the hash of the data it trained on (ltjax.reproduce compares it).
  assert first["data_hash"] == setup_lib.build_splits(c).content_hash()
  assert again["test"]["top1"] == first["test"]["top1"]
  assert os.path.getmtime(tmp_path / "results.json") == mtime  # nothing re-evaluated
  # A missing feature cache is completed by the resume path (the advice of stage 2's errors).
  for f in os.listdir(tmp_path / "features"):
    os.remove(tmp_path / "features" / f)
  train.train_and_evaluate(c, str(tmp_path))
  assert (tmp_path / "features" / "meta.json").exists()
  # Another experiment in the same workdir is still refused, naming the key.
  c.optimizer.learning_rate = 0.5
  with pytest.raises(ValueError, match=r"optimizer\.learning_rate"):
    train.train_and_evaluate(c, str(tmp_path))


def test_progress_steps_per_second_start_after_compilation(monkeypatch):
  clock = iter([0.0, 30.0, 31.0])  # construction; the first dispatch returns (compiled); a log
  monkeypatch.setattr(train.monitor.time, "time", lambda: next(clock))
  progress = train.monitor.Progress(0, 100)
  progress.compiled(1)
  assert np.isnan(progress.rate(1))  # the step that compiled has no rate
  assert progress.rate(11) == pytest.approx(10.0)  # 10 steps in 1 s, not 11 in 31 s
  line = progress.line(1, float("nan"), {"loss": 1.0, "accuracy": 0.5, "learning_rate": 0.1})
  assert "compiled" in line and "ETA" not in line
