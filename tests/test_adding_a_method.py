"""Adding a method touches no framework file: a loss and a decoupled method registered from
this file, and the three kinds of method room of `tests/example_rooms.py` (a loss with its own
section swept by a population, a new stage run from the command line, a method that attaches
data and is read in the step), train and run end to end through the real entry points."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltjax import config as config_lib
from ltjax import losses
from ltjax import train
from ltjax.core import plugins
from ltjax.core import sharding
from ltjax.decoupled import stage
from ltjax.decoupled.method import Method
from ltjax.runs import feature_cache
from tests import example_rooms
from tests.conftest import load_config
from tests.conftest import REPO


def _squared_error_objective(spec: losses.LossSpec, ctx: losses.ObjectiveContext):
  """A toy loss: mean squared error between softmax and the one-hot label (Brier score)."""
  del spec

  def base(logits, features, labels, epoch, targets=None):
    del features, epoch, targets
    probs = jnp.exp(logits - jnp.max(logits, -1, keepdims=True))
    probs = probs / jnp.sum(probs, -1, keepdims=True)
    one_hot = jnp.eye(logits.shape[-1])[labels]
    return jnp.mean(jnp.sum((probs - one_hot) ** 2, -1))

  del ctx
  return base


def _fit_prior_corrected(config, train_split, val, head):
  """A toy decoupled method: the cached logits minus log of the class prior (tau fixed at 1)."""
  del config, val, head
  log_prior = jnp.log(jnp.asarray(train_split["class_counts"], jnp.float32) + 1.0)
  return lambda d: jnp.asarray(d["logits"]) - log_prior[None, :], {"toy": True}


@pytest.fixture
def registered(monkeypatch):
  monkeypatch.setitem(losses.OBJECTIVES, "brier", losses.Objective(_squared_error_objective))
  monkeypatch.setitem(stage.METHODS, "prior_corrected", Method(_fit_prior_corrected))


def test_a_registered_loss_and_decoupled_method_run_end_to_end(registered, tmp_path):
  c = load_config("configs/digits_lt/ce.py")
  c.loss.name = "brier"
  config_lib.validate(c)  # the registries, not a list in the config code, define the names
  stage1 = train.train_and_evaluate(c, str(tmp_path / "stage1"))
  assert stage1["config"]["loss"]["name"] == "brier"
  with open(tmp_path / "stage1" / "metrics.jsonl") as f:
    first_loss = next(row["train/loss"] for row in map(json.loads, f) if "train/loss" in row)
  # A Brier score lies in [0, 2]; cross-entropy at init on 10 classes is about 2.3.
  assert 0.0 <= first_loss <= 2.0

  d = load_config("configs/digits_lt/crt.py")
  d.decoupled.method = "prior_corrected"
  d.decoupled.stage1_workdir = str(tmp_path / "stage1")
  out = stage.run(d, str(tmp_path / "stage2"))
  assert out["method"] == "prior_corrected" and out["toy"] is True
  # The method's logits are the cached ones minus log(n_c + 1): check its test top-1 directly.
  test = feature_cache.load_split(str(tmp_path / "stage1"), "test")
  logits = test["logits"] - np.log(test["class_counts"] + 1.0)[None, :]
  assert out["test"]["top1"] == pytest.approx(np.mean(logits.argmax(-1) == test["labels"]))


def test_an_unregistered_name_is_refused_with_the_registered_ones(tmp_path):
  c = load_config("configs/digits_lt/ce.py")
  c.loss.name = "brier"
  with pytest.raises(ValueError, match=r"loss\.name='brier' is not valid; choose one of "
                     r"\['balanced_softmax', 'ce'"):
    config_lib.validate(c)


# --- The three kinds of method of tests/example_rooms.py, each one record, no framework edit.
@pytest.fixture
def room(request):
  """Registers the record named by the test's parameter for the test's duration."""
  record = request.param
  plugins.register(record)
  yield record
  plugins.unregister(record.name)


def _first_loss(member_dir) -> float:
  with open(os.path.join(member_dir, "metrics.jsonl")) as f:
    return next(row["train/loss"] for row in map(json.loads, f) if "train/loss" in row)


def test_poly1_matches_its_formula():
  logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]], np.float32)
  labels = np.array([0, 2])
  p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  pt = p[np.arange(2), labels]
  base = example_rooms.poly1_objective(example_rooms.PolySpec(epsilon=2.0), None)
  np.testing.assert_allclose(base(jnp.asarray(logits), {}, jnp.asarray(labels), 0),
                             np.mean(-np.log(pt) + 2.0 * (1 - pt)), rtol=1e-6)


@pytest.mark.parametrize("room", [example_rooms.POLY], indirect=True)
def test_a_loss_with_its_own_section_is_swept_by_a_population(room, tmp_path):
  c = load_config("configs/digits_lt/ce.py")
  assert c.poly.epsilon == 1.0  # the room's section, from its record
  c.loss.name = "poly1"
  c.population.seeds = (0,)
  c.population.sweep = "poly.epsilon=0.0,2.0"
  out = train.train_and_evaluate(c, str(tmp_path))
  settings = {m["name"]: m["setting"] for m in out["members"]}
  assert sorted(s["poly.epsilon"] for s in settings.values()) == [0.0, 2.0]
  first = {s["poly.epsilon"]: _first_loss(tmp_path / "members" / name)
           for name, s in settings.items()}
  # Same seed, same init, same first batch: the losses differ by 2 * mean(1 - p_t), which
  # lies in (0, 2) and is near 2 * 0.9 for 10 classes at initialisation.
  assert 1.0 < first[2.0] - first[0.0] < 2.0
  c.poly.epsilon = float("nan")
  with pytest.raises(ValueError, match=r"config\.poly\.epsilon"):
    config_lib.validate(c)


@pytest.mark.parametrize("room", [example_rooms.CALIBRATE], indirect=True)
def test_a_new_stage_runs_from_the_command_line(room, tmp_path):
  del room  # the stage-1 run below needs no record; the CLI registers it from the config file
  stage1 = tmp_path / "stage1"
  train.train_and_evaluate(load_config("configs/digits_lt/ce.py"), str(stage1))
  config_file = tmp_path / "calibrate.py"
  config_file.write_text(
      "from ltjax.core import plugins\nfrom ltjax import config as config_lib\n"
      "from tests import example_rooms\n"
      "plugins.register(example_rooms.CALIBRATE)  # a user's room, registered by its config\n"
      "def get_config(arg=None):\n"
      "  c = config_lib.digits_lt_recipe()\n"
      "  c.stage = 'calibrate'\n"
      f"  c.calibrate.stage1_workdir = {str(stage1)!r}\n"
      "  return c\n")
  proc = subprocess.run([sys.executable, "-m", "ltjax.main", f"--config={config_file}",
                         f"--workdir={tmp_path / 'calibrated'}"], cwd=REPO,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "temperature" in proc.stdout
  out = example_rooms.read_json(tmp_path / "calibrated" / "results.json")
  val = feature_cache.load_split(str(stage1), "val")
  nll = {t: example_rooms._nll(val["logits"] / t, val["labels"])  # pylint: disable=protected-access
         for t in (0.25 * i for i in range(1, 25))}
  assert out["temperature"] == min(nll, key=nll.get)
  # Scaling by a positive temperature never changes a prediction.
  assert out["test"]["top1"] == out["test_before"]["top1"]
  # A bad value of the new section fails with its key, through the same CLI.
  bad = subprocess.run([sys.executable, "-m", "ltjax.main", f"--config={config_file}",
                        f"--workdir={tmp_path / 'bad'}", "--config.calibrate.stage1_workdir="],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
  assert bad.returncode == 1 and "calibrate.stage1_workdir" in bad.stderr


@pytest.mark.parametrize("room", [example_rooms.SIMILARITY], indirect=True)
def test_a_method_attaches_data_and_the_step_reads_it(room, tmp_path):
  c = load_config("configs/digits_lt/ce.py")
  c.simreg.weight = 0.5
  c.augment.crop_padding = 0  # no augmentation: the step's images are the batch's
  splits = train.setup.build_splits(c)
  table = splits.extras["similarity"]
  assert table.shape == (10, 10) and np.allclose(table.sum(1), 1.0)
  mesh = sharding.make_data_mesh()
  setup = train.setup.build(c, splits, mesh)
  inputs = train.setup.step_inputs(setup)
  assert [i.name for i in inputs] == ["similarity"]
  step = jax.jit(train.setup.step_fn(setup, train.setup.objective(setup), inputs))
  state = train.setup.initial_state(setup)
  idx = setup.sampler.local_indices(0, 0)
  images, labels = splits.train.gather(idx), np.asarray(splits.train.labels)[idx]
  batch = {"image": jnp.asarray(images), "label": jnp.asarray(labels)}
  expected_params = jax.device_get(state.params)
  expected_stats = jax.device_get(state.batch_stats)
  _, step_metrics = step(state, batch, setup.train_rng, train.setup.input_variables(inputs))
  # By hand: the model on the normalised batch, CE + 0.5 x CE to the table's rows.
  x = (np.asarray(images, np.float32) / 255.0 - np.asarray(splits.mean)) / np.asarray(splits.std)
  (logits, _), _ = setup.model.apply({"params": expected_params, "batch_stats": expected_stats},
                                     jnp.asarray(x), train=True, mutable=["batch_stats"])
  log_p = np.asarray(jax.nn.log_softmax(logits), np.float64)
  ce = -log_p[np.arange(len(labels)), labels].mean()
  reg = -(table[labels] * log_p).sum(1).mean()
  np.testing.assert_allclose(float(step_metrics["loss"]), ce + 0.5 * reg, rtol=1e-4)
  # And the whole run trains with it, through the trainer.
  out = train.train_and_evaluate(c, str(tmp_path))
  assert out["test"]["top1"] is not None
