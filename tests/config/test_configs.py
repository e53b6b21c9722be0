"""Every config under configs/ runs end to end in smoke mode (stage 2 on a smoke stage 1)."""

import glob
import json
import os

import numpy as np
import pytest

from ltjax import config as config_lib
from ltjax import train
from ltjax.decoupled import stage as stage2
from ltjax.dlsa import stage as dlsa_stage
from ltjax.runs import feature_cache
from tests.conftest import load_config
from tests.conftest import REPO
from tests.conftest import write_fake_aux_folder
from tests.conftest import write_fake_cifar10
from tests.conftest import write_fake_cifar100
from tests.conftest import write_fake_image_folder

ALL = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "configs/*/*.py")))
TRAINING = [p for p in ALL if load_config(p).stage == "train"]
DECOUPLED = [p for p in ALL if load_config(p).stage == "decoupled"]


def _point_at_fake_data(c, root):
  if c.dataset.name == "cifar100_lt":
    c.dataset.data_dir = write_fake_cifar100(root)
    c.dataset.imbalance_factor, c.dataset.val_per_class = 5.0, 2
  elif c.dataset.name == "cifar10_lt":
    c.dataset.data_dir = write_fake_cifar10(root)
    c.dataset.imbalance_factor, c.dataset.val_per_class = 5.0, 2
  elif c.dataset.name == "image_folder":
    prefix = c.dataset.train_list.rsplit("_train", 1)[0] or "ImageNet_LT"
    c.dataset.data_dir = write_fake_image_folder(root, prefix=prefix)
    c.dataset.num_classes = 4
    c.train.batch_size = 8
    if c.aux.source == "image_folder":
      write_fake_aux_folder(c.dataset.data_dir, prefix, [str(i) for i in range(4)])
  return c


def test_every_config_has_a_docstring_with_its_command():
  for path in ALL:
    with open(os.path.join(REPO, path)) as f:
      head = f.read(2000)
    assert "python -m ltjax.main --config " + path in head, path


STAGE1 = {"digits_lt": "configs/digits_lt/ce.py",
          "cifar100_lt": "configs/cifar100_lt/ce.py",
          "cifar10_lt": "configs/cifar10_lt/ce.py",
          "image_folder": "configs/imagenet_lt/ce.py",
          "digits_lt/ride": "configs/digits_lt/ride_e3.py",
          "cifar100_lt/ride": "configs/cifar100_lt/ride_e3.py",
          "cifar10_lt/ride": "configs/cifar10_lt/ride_e3.py",
          "image_folder/ride": "configs/imagenet_lt/ride_resnext50_e3.py"}


class _LazyRuns(dict):
  """Smoke stage-1 runs with feature caches, trained on first use and kept for the module:
  per dataset a CE run and a RIDE-3 run, which is also the distillation teacher
  of the distill configs."""

  def __init__(self, factory):
    super().__init__()
    self.factory = factory

  def __missing__(self, key):
    root = self.factory.mktemp(key.replace("/", "_"))
    c = _point_at_fake_data(load_config(STAGE1[key]), str(root / "data"))
    train.train_and_evaluate(c, str(root / "run"))
    self[key] = str(root / "run")
    return self[key]


@pytest.fixture(scope="module")
def stage1_runs(tmp_path_factory):
  return _LazyRuns(tmp_path_factory)


SKIP_TRAINING = ("ce.py", "ride_e3.py", "imagenet_lt/ride_resnext50_e3.py")


@pytest.mark.parametrize("path", [p for p in TRAINING if not p.endswith(SKIP_TRAINING)])
def test_training_config_smoke(path, tmp_path, request):
  c = _point_at_fake_data(load_config(path), str(tmp_path / "data"))
  c.train.cache_features = False
  if c.distill.teacher_workdir:
    c.distill.teacher_workdir = request.getfixturevalue("stage1_runs")[c.dataset.name + "/ride"]
  r = train.train_and_evaluate(c, str(tmp_path / "run"))
  check_smoke_run(r, str(tmp_path / "run"))


def _train_losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  return [row["train/loss"] for row in rows if "train/loss" in row]


def check_smoke_run(r, workdir):
  """What every finished training smoke run must show: one finite loss per step in its log
  and results that cover its classes and splits exactly. (That each objective brings its
  loss down is `tests/train/test_objectives_learn.py`: 6 scheduled smoke steps are too few.)"""
  losses = _train_losses(workdir)
  assert len(losses) == r["total_steps"]  # smoke configs log every step
  assert np.all(np.isfinite(losses)), losses
  assert len(r["class_names"]) == len(r["class_counts"])
  if not r.get("auxiliary"):
    assert sum(r["class_counts"]) == r["split_sizes"]["train"]
  check_results_cover(r, workdir)


def check_results_cover(r, workdir):
  """Any finished stage: every split it has is reported over every class, and the reported
  test top-1 is the share of right predictions in its stored test predictions."""
  num_classes, sizes = len(r["class_counts"]), r["split_sizes"]
  splits = ("val", "test") if sizes["val"] else ("test",)
  assert set(k for k in ("val", "test") if k in r) == set(splits)
  for split in splits:
    s = r[split]
    assert s["num_examples"] == sizes[split]
    assert len(s["per_class"]) == num_classes
    assert sum(s["bucket_sizes"].values()) == num_classes
    assert 0.0 <= s["top1"] <= 1.0 and np.isfinite(s["nll"]) and 0.0 <= s["ece"] <= 1.0
    assert any(a is not None for a in s["per_class"])
  with np.load(os.path.join(workdir, "test_predictions.npz")) as p:
    assert len(p["labels"]) == sizes["test"]
    assert r["test"]["top1"] == pytest.approx(float(np.mean(p["predictions"] == p["labels"])))
    assert np.all((p["predictions"] >= 0) & (p["predictions"] < num_classes))


def test_feature_cache_matches_the_splits(stage1_runs):
  run = stage1_runs["cifar100_lt"]
  with open(os.path.join(run, "results.json")) as f:
    r = json.load(f)
  tr = feature_cache.load_split(run, "train")
  te = feature_cache.load_split(run, "test")
  assert tr["features"].shape == (sum(r["class_counts"]), 16)  # tiny ResNet: 16 channels
  assert tr["logits"].shape == (sum(r["class_counts"]), 100)
  np.testing.assert_array_equal(np.bincount(tr["labels"], minlength=100), r["class_counts"])
  np.testing.assert_array_equal(tr["class_counts"], r["class_counts"])
  assert len(te["labels"]) == r["split_sizes"]["test"]
  head = feature_cache.load_head(run)
  # Cached logits are the head applied to the cached features.
  np.testing.assert_allclose(te["features"] @ head["kernel"] + head["bias"][None, :],
                             te["logits"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("path", DECOUPLED)
def test_decoupled_config_smoke(path, stage1_runs, tmp_path):
  c = load_config(path)
  ride = c.decoupled.method == "ride_router"
  c.decoupled.stage1_workdir = stage1_runs[c.dataset.name + ("/ride" if ride else "")]
  r = stage2.run(c, str(tmp_path))
  if ride:
    routing = r["routing"]
    assert 1.0 <= routing["mean_experts"] <= 3.0
    assert sum(routing["share_by_num_experts"]) == pytest.approx(1.0)
    flops = routing["flops_per_image_by_num_experts"]
    assert len(flops) == 3 and flops[0] < flops[1] < flops[2]
  assert r["method"] == c.decoupled.method
  check_results_cover(r, str(tmp_path))
  if c.decoupled.method in stage2.tuned_methods():
    assert r["tuned"]["selected_on"] == "val"
    assert r["tuned"]["tau"] in [float(t) for t in c.decoupled.tau_grid]


def test_decoupled_without_a_cache_explains(tmp_path):
  c = load_config("configs/cifar100_lt/crt.py")
  c.decoupled.stage1_workdir = str(tmp_path)
  with pytest.raises(FileNotFoundError, match="cache_features"):
    stage2.run(c, str(tmp_path / "out"))


def test_decoupled_stage_needs_a_stage1_workdir():
  c = load_config("configs/cifar100_lt/crt.py")
  c.decoupled.stage1_workdir = ""
  with pytest.raises(ValueError, match="stage1_workdir"):
    config_lib.validate(c)


DLSA = [p for p in ALL if load_config(p).stage == "dlsa"]


@pytest.mark.parametrize("path", DLSA)
def test_dlsa_config_smoke(path, stage1_runs, tmp_path):
  c = load_config(path)
  c.dlsa.features = stage1_runs["digits_lt"]
  r = dlsa_stage.run(c, str(tmp_path))
  assert r["method"] == "dlsa" and r["selected_on"] == "val"
  assert len(r["stages"]) >= 1
  check_results_cover(r, str(tmp_path))
  assert set(r["baselines"]) == {"stage1", "control_bsm_linear"}
  assert sum(r["route_fractions"]["test"]) == pytest.approx(1.0)
  assert os.path.exists(tmp_path / "results.json") and os.path.exists(tmp_path / "test_routes.npz")


def test_dlsa_select_on_test_is_flagged(stage1_runs, tmp_path):
  c = load_config("configs/dlsa/digits_lt_ce.py")
  c.dlsa.features = stage1_runs["digits_lt"]
  c.dlsa.select_on = "test"
  r = dlsa_stage.run(c, str(tmp_path))
  assert r["selected_on"] == "test" and "optimistic" in r["warning"]
