"""experiments/dlsa_vs_reference.py without the reference: its patches, config, log parsing and
scoring (the end-to-end run itself needs a silicx/DLSA checkout and torch)."""

import importlib.util
import os
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(name="script", scope="module")
def _script():
  return importlib.import_module("experiments.dlsa_vs_reference")


def _fake_checkout(root, io_text):
  (root / "utils").mkdir(parents=True)
  (root / "config").mkdir()
  (root / "utils" / "io.py").write_text(io_text)
  (root / "config" / "ImgNet_CE_R50_bsm.yaml").write_text(
      "dataset: ImageNet_LT\nfeat_dir: features/imagenet/ce/\nmax_depth: 1\n"
      "gmflow:\n  model:\n    num_cluster: 500\n  data:\n    batchsize: 1024\n"
      "    num_workers: 8\n  optim:\n    lr: 0.2\n    epoch: 50\n  loss:\n    lambda_lh: 2.\n")


def test_prepare_reference_patches_once_and_writes_the_setting(script, tmp_path):
  pytest.importorskip("yaml")
  import yaml  # pylint: disable=g-import-not-at-top
  io_text = ('cfg = ConfigManager.init_with_yaml("config/cls/BaseConfig.yaml")\n'
             'm = {\n        "iNaturalist":  8142,\n    }\n')
  _fake_checkout(tmp_path / "ref", io_text)
  src, cfg = script.prepare_reference(str(tmp_path / "ref"), str(tmp_path / "w"),
                                      str(tmp_path / "h5"), "small")
  patched = (tmp_path / "w" / "reference_src" / "utils" / "io.py").read_text()
  assert '"config/BaseConfig.yaml"' in patched and '"CIFAR10_LT": 10' in patched
  assert (tmp_path / "ref" / "utils" / "io.py").read_text() == io_text  # the checkout untouched
  with open(cfg) as f:
    c = yaml.safe_load(f)
  assert c["dataset"] == "CIFAR10_LT" and c["device"] == "cpu" and c["max_depth"] == 1
  assert c["feat_dir"] == str(tmp_path / "h5")
  assert c["gmflow"]["model"]["num_cluster"] == 100 and c["gmflow"]["data"]["num_workers"] == 0
  assert c["gmflow"]["loss"]["lambda_lh"] == pytest.approx(2.0 * 10 / 1000)
  assert src == str(tmp_path / "w" / "reference_src")
  # A checkout the patches do not fit is refused, not silently run unpatched.
  _fake_checkout(tmp_path / "other", "nothing to patch\n")
  with pytest.raises(RuntimeError, match="expected .* once"):
    script.prepare_reference(str(tmp_path / "other"), str(tmp_path / "w2"), "h5", "reference")


def test_ltjax_config_has_the_reference_choices_and_cap(script):
  c = script.ltjax_config("/feats", "reference", {"select_on": "val"}, seed=3, num_train=12406)
  assert c.seed == 3 and c.dlsa.features == "/feats"
  assert c.dlsa.select_on == "val" and c.dlsa.absent_classes == "reference"
  assert c.dlsa.flow.last_batch == "keep" and c.dlsa.head_last_batch == "keep"
  assert c.dlsa.flow.num_clusters == 500 and not c.dlsa.flow.nll_class_scaling
  # largest cluster < fraction * N  <=>  largest < 5000 for integer sizes
  assert 4999 < c.dlsa.flow.max_cluster_fraction * 12406 < 5000
  small = script.ltjax_config("/f", "small", {}, seed=0, num_train=100)
  assert small.dlsa.flow.nll_class_scaling and small.dlsa.flow.learning_rate == 0.05


def test_parse_reference_log(script):
  logs = ("[cacls] Best epoch: 45, Test [45] 70.100 / 80.000, 10.000, 0.000\n"
          "[regcls] Best epoch: 150, Test [150] 60.000 / 61.000, 2.000, 0.000\n"
          "Best clusters remaining: 37\n"
          "[D1] CA Classifier: test: 71.250 / 81.000, 12.500, 0.000 (60.1, 50.2)\n"
          "[D1] Regular Classifier: test: 59.125 / 62.000, 1.500, 0.000 (40.0, 30.0)\n"
          "Total test: 63.010 / 70.000, 5.000, 0.000 (50.0, 40.0)\n")
  stderr = ("[t] (best 30 at epoch 7, 900 samples)\n[t] loss: log_lh nan, total nan\n"
            "[t] (best 37 at epoch 12, 950 samples)\n")
  out = script.parse_reference_log(logs, stderr)
  assert out["total"] == [63.01, 70.0, 5.0, 0.0]
  assert out["cac"][0] == 71.25 and out["regular"][0] == 59.125
  assert out["cac_best_epoch"] == 45 and out["regular_best_epoch"] == 150
  assert out["clusters_remaining"] == 37 and out["flow_epoch"] == 12 and out["nan_losses"] == 1


def test_score_and_routing_by_hand(script):
  counts = np.array([500, 50, 5])  # one many, one medium, one few class
  labels = np.array([0, 0, 1, 1, 2, 2])
  pred = np.array([0, 1, 1, 1, 0, 2])
  s = script.score(pred, labels, counts)
  assert s["top1"] == pytest.approx(4 / 6)
  assert (s["many"], s["medium"], s["few"]) == (0.5, 1.0, 0.5)
  run = {"prediction": pred, "cac_test": np.array([1, 0, 1, 0, 0, 1], bool),
         "cac_train_fraction": 0.3}
  r = script.routed(run, labels, counts)
  assert r["cac_test_fraction"] == 0.5 and r["cac_accuracy"] == 1.0
  assert r["regular_accuracy"] == pytest.approx(1 / 3)
  assert r["cac_make_up"] == {"many": pytest.approx(1 / 3), "medium": pytest.approx(1 / 3),
                              "few": pytest.approx(1 / 3)}
