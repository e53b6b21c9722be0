"""The ViT recipes against the official launch scripts they follow (`OFFICIAL_RUNS`), and the
README's table of them against the same records."""

import os
import re

import pytest

from ltjax import config as config_lib
from ltjax.granularity import recipes
from tests.conftest import load_config
from tests.conftest import REPO


@pytest.mark.parametrize("dataset,init", sorted(recipes.OFFICIAL_RUNS))
def test_each_recipe_and_its_config_apply_their_official_script(dataset, init):
  run = recipes.OFFICIAL_RUNS[(dataset, init)]
  c = recipes.extrapolation_vit_recipe(dataset, init)
  config_lib.validate(c)
  assert c.model.name == run.model and c.train.batch_size == run.batch
  assert c.optimizer.learning_rate == pytest.approx(run.blr * run.batch / 256)
  assert (c.optimizer.weight_decay, c.optimizer.layer_decay) == (run.weight_decay,
                                                                 run.layer_decay)
  assert (c.train.num_epochs, c.optimizer.warmup_epochs) == (run.epochs, run.warmup_epochs)
  assert (c.augment.mixup_alpha, c.augment.cutmix_alpha) == (run.mixup, run.cutmix)
  assert c.augment.label_smoothing == run.label_smoothing and c.loss.la_tau == run.tau
  assert c.aux.silencing == run.silencing
  assert (c.aux.cap, c.aux.keep_all_up_to) == (50, 100)  # the official cap rule
  assert c.aux.cap_replace == (dataset == "inat2018")  # np.random.choice(replace=True)
  # The launch scripts silence per dataset: ImageNet-LT and Places-LT no_fm_remove_normal_neg
  # ("neighbors") except the DINOv2 ImageNet-LT run; iNaturalist always ..._back.
  if dataset == "inat2018":
    assert run.silencing == "neighbors_and_aux"
  full = load_config(f"configs/granularity/{dataset}_vit_{init}.py", None)
  assert full.aux.silencing == run.silencing and full.loss.la_tau == run.tau
  assert full.optimizer.learning_rate == c.optimizer.learning_rate


def test_the_readme_table_is_the_official_runs():
  with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
    text = f.read()
  rows = {}
  for line in text.splitlines():
    m = re.match(r"\| (\w+) / (\w+) \| `([^`]+)` \| `(\w+)` \| ([\d.]+) \| ([\d.e-]+) × (\d+)",
                 line)
    if m:
      rows[(m[1], m[2])] = (m[3], m[4], float(m[5]), float(m[6]), int(m[7]))
  assert set(rows) == set(recipes.OFFICIAL_RUNS)
  for key, run in recipes.OFFICIAL_RUNS.items():
    assert rows[key] == (run.script, run.silencing, run.tau, run.blr, run.batch), key


@pytest.mark.parametrize("variant,silencing,shuffled", [
    ("aux_plain", "none", False), ("aux_silenced", "neighbors_and_aux", False),
    ("aux_shuffled", "neighbors_and_aux", True), ("aux_neighbors", "neighbors", False)])
def test_demo_variants_pick_their_silencing(variant, silencing, shuffled):
  for path in ("configs/granularity/digits_lt_5plus5.py", "configs/granularity/cifar10_lt_5plus5.py"):
    c = load_config(path, variant)
    assert (c.aux.silencing, c.aux.shuffle_parents) == (silencing, shuffled), path
