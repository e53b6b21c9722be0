"""Bad inputs to decoupled stage 2 and to RIDE distillation's teacher: one clear error naming
the input and the fix, raised before any training (nothing loaded, no results written)."""

import gc
import glob
import os
import re
import shutil

import jax
import pytest

from ltjax import config as config_lib
from ltjax import train
from ltjax.core.checkpoint import CorruptCheckpointError
from ltjax.decoupled import stage as stage2
from ltjax.ride import distill
from ltjax.runs import feature_cache
from tests.conftest import load_config
from tests.conftest import write_fake_cifar10


@pytest.fixture(scope="module")
def single_head_run(tmp_path_factory):
  """A finished digits-LT CE smoke run (small_cnn, one linear head) with its feature cache."""
  workdir = str(tmp_path_factory.mktemp("digits_ce") / "run")
  train.train_and_evaluate(load_config("configs/digits_lt/ce.py"), workdir)
  return workdir


@pytest.fixture(scope="module")
def ride_run(tmp_path_factory):
  """(workdir, data_dir) of a finished 3-expert RIDE smoke run on a fake CIFAR-10-LT."""
  root = tmp_path_factory.mktemp("cifar10_ride")
  c = load_config("configs/cifar10_lt/ride_e3.py")
  c.dataset.data_dir = write_fake_cifar10(str(root / "data"))
  c.dataset.imbalance_factor, c.dataset.val_per_class = 5.0, 2
  train.train_and_evaluate(c, str(root / "run"))
  return str(root / "run"), c.dataset.data_dir


@pytest.fixture
def nothing_loaded(monkeypatch):
  """Fails a test whose stage 2 reads the feature arrays before raising."""
  def refuse(*args, **kwargs):
    raise AssertionError(f"the feature cache was read before the input was checked: {args}")
  monkeypatch.setattr(feature_cache, "load_split", refuse)
  monkeypatch.setattr(feature_cache, "load_head", refuse)


def _copy(run, tmp_path, name="stage1"):
  return shutil.copytree(run, str(tmp_path / name))


def _stage2_fails(config_path, stage1, tmp_path, error, match, method=None):
  """Runs stage 2 and checks the error and that no stage-2 output was written."""
  c = load_config(config_path)
  c.decoupled.stage1_workdir = stage1
  if method:
    c.decoupled.method = method
  out = tmp_path / "stage2"
  with pytest.raises(error, match=match) as info:
    stage2.run(c, str(out))
  assert not out.exists()
  return str(info.value)


# decoupled.method


def test_the_method_registry_is_the_list_config_validation_accepts():
  assert list(stage2.METHODS) == ["crt", "lws", "tau_norm", "ncm", "posthoc", "ride_router"]
  assert set(stage2.tuned_methods()) <= set(stage2.METHODS)
  c = load_config("configs/digits_lt/crt.py")
  for method in stage2.METHODS:
    c.decoupled.method = method
    config_lib.validate(c)


def test_unknown_method_lists_the_valid_names(single_head_run, tmp_path, nothing_loaded):
  msg = _stage2_fails("configs/digits_lt/crt.py", single_head_run, tmp_path, ValueError,
                      r"decoupled\.method='crt_v2'", method="crt_v2")
  for name in stage2.METHODS:
    assert name in msg


def test_fit_refuses_an_unknown_method_before_fitting():
  c = load_config("configs/digits_lt/crt.py")
  c.decoupled.method = "crt_v2"
  # Empty arrays: a method that started fitting would fail on them with another error.
  with pytest.raises(ValueError, match=r"'crt_v2' is not a decoupled stage-2 method; choose "
                     r"one of \['crt', 'lws', 'tau_norm', 'ncm', 'posthoc', 'ride_router'\]"):
    stage2.fit(c, {}, None, None)


# The method against the stage-1 model


def test_tau_norm_on_a_ride_run_names_the_model_and_the_fix(ride_run, tmp_path, nothing_loaded):
  _stage2_fails("configs/cifar10_lt/tau_norm.py", ride_run[0], tmp_path, ValueError,
                r"decoupled\.method='tau_norm' .*model 'ride_cifar_tiny'.*head\.npz absent.*"
                r"use decoupled\.method='ride_router' for a multi-expert run, or crt / lws / "
                r"ncm / posthoc")


@pytest.mark.parametrize("method", ["lws", "posthoc", "ncm", "crt"])
def test_methods_on_cached_logits_or_features_still_run_on_a_ride_run(ride_run, method,
                                                                      tmp_path):
  c = load_config(f"configs/cifar10_lt/{method}.py")
  c.decoupled.stage1_workdir = ride_run[0]
  r = stage2.run(c, str(tmp_path / "stage2"))
  assert r["method"] == method and os.path.exists(tmp_path / "stage2" / "results.json")


def test_ride_router_on_a_single_head_run_names_the_model_and_the_fix(
    single_head_run, tmp_path, nothing_loaded):
  _stage2_fails("configs/digits_lt/crt.py", single_head_run, tmp_path, ValueError,
                r"decoupled\.method='ride_router' needs a multi-expert \(RIDE\) stage-1 run.*"
                r"model 'small_cnn'.*point decoupled\.stage1_workdir at a RIDE run",
                method="ride_router")


def test_tuned_method_without_a_val_split(single_head_run, tmp_path, nothing_loaded):
  stage1 = _copy(single_head_run, tmp_path)
  os.remove(os.path.join(stage1, "features", "val.npz"))
  _stage2_fails("configs/digits_lt/tau_norm.py", stage1, tmp_path, ValueError,
                r"'tau_norm' tunes its strength on the validation split.*Re-run stage 1 with "
                r"a validation split")


# decoupled.stage1_workdir


def test_empty_stage1_workdir(tmp_path, nothing_loaded):
  _stage2_fails("configs/digits_lt/crt.py", "", tmp_path, ValueError,
                r"decoupled\.stage1_workdir.*finished stage-1 run")


def test_missing_stage1_workdir(tmp_path, nothing_loaded):
  missing = str(tmp_path / "runs" / "digits_ce")
  _stage2_fails("configs/digits_lt/crt.py", missing, tmp_path, FileNotFoundError,
                rf"stage1_workdir='{re.escape(missing)}' does not exist.*train stage 1 there "
                r"first with train\.cache_features=True")


def test_unfinished_stage1_run(single_head_run, tmp_path, nothing_loaded):
  stage1 = _copy(single_head_run, tmp_path)
  os.remove(os.path.join(stage1, "results.json"))
  _stage2_fails("configs/digits_lt/crt.py", stage1, tmp_path, FileNotFoundError,
                rf"'{re.escape(stage1)}' is not a finished stage-1 run \(no .*results\.json\): "
                r"re-run its training command to the end with "
                r"--config\.train\.cache_features=True")


def test_stage1_run_without_a_feature_cache(single_head_run, tmp_path, nothing_loaded):
  stage1 = _copy(single_head_run, tmp_path)  # as a run with train.cache_features=False
  shutil.rmtree(os.path.join(stage1, "features"))
  _stage2_fails("configs/digits_lt/crt.py", stage1, tmp_path, FileNotFoundError,
                rf"'{re.escape(stage1)}' has no feature cache \(trained with "
                r"train\.cache_features=False\?\).*--config\.train\.cache_features=True")


def test_stage1_run_with_an_incomplete_feature_cache(single_head_run, tmp_path,
                                                      nothing_loaded):
  stage1 = _copy(single_head_run, tmp_path)
  os.remove(os.path.join(stage1, "features", "test.npz"))
  _stage2_fails("configs/digits_lt/crt.py", stage1, tmp_path, FileNotFoundError,
                r"incomplete feature cache \(test\.npz missing\)")


@pytest.mark.parametrize("name", ["meta.json", "train.npz"])
def test_stage1_run_with_a_damaged_cache_file(single_head_run, tmp_path, nothing_loaded, name):
  stage1 = _copy(single_head_run, tmp_path)
  path = os.path.join(stage1, "features", name)
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)
  _stage2_fails("configs/digits_lt/crt.py", stage1, tmp_path, ValueError,
                rf"cannot read {re.escape(path)} .*the feature cache is damaged; delete "
                rf"{re.escape(os.path.join(stage1, 'features'))} and re-run")


def test_stage1_run_of_another_dataset(single_head_run, tmp_path, nothing_loaded):
  _stage2_fails("configs/cifar10_lt/crt.py", single_head_run, tmp_path, ValueError,
                r"cached features of dataset 'digits_lt', but this config is for "
                r"'cifar10_lt': use a stage-2 config of dataset 'digits_lt', or point "
                r"decoupled\.stage1_workdir at a 'cifar10_lt' run")


# distill.teacher_workdir


def _load_teacher(workdir):
  return distill.load_teacher(workdir, 10, jax.sharding.SingleDeviceSharding(jax.devices()[0]))


def _truncate_files(directory):
  for path in glob.glob(os.path.join(directory, "**"), recursive=True):
    if os.path.isfile(path):
      open(path, "w").close()


def _overwrite_arrays(directory):
  for path in glob.glob(os.path.join(directory, "ocdbt.process_0", "d", "*")):
    with open(path, "wb") as f:
      f.write(b"not an array" * 8)


def _delete_metadata(directory):
  os.remove(os.path.join(directory, "_METADATA"))


# When one array cannot be read, Orbax abandons the reads of the others; their coroutines are
# reported when collected, so the corruption tests collect them inside the test.
_ORBAX_ABANDONED_READS = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")


@_ORBAX_ABANDONED_READS
@pytest.mark.parametrize("damage", [_truncate_files, _overwrite_arrays, _delete_metadata])
def test_corrupt_teacher_checkpoint_names_the_workdir_and_the_fix(single_head_run, tmp_path,
                                                                  damage):
  teacher = _copy(single_head_run, tmp_path, "teacher")
  step = sorted(os.listdir(os.path.join(teacher, "best")))[-1]
  step_dir = os.path.join(teacher, "best", step)
  damage(os.path.join(step_dir, "state"))
  with pytest.raises(CorruptCheckpointError,
                     match=rf"checkpoint {re.escape(step_dir)}/state of "
                     rf"distill\.teacher_workdir='{re.escape(teacher)}': if its files are "
                     rf"damaged, delete {re.escape(step_dir)} \(the run then falls back"):
    _load_teacher(teacher)
  gc.collect()
  shutil.rmtree(step_dir)  # the fix the message gives: the latest checkpoint takes over
  _, variables = _load_teacher(teacher)
  assert "params" in variables


@_ORBAX_ABANDONED_READS
def test_corrupt_latest_teacher_checkpoint_without_best(single_head_run, tmp_path):
  teacher = _copy(single_head_run, tmp_path, "teacher")
  shutil.rmtree(os.path.join(teacher, "best"))
  step = max(os.listdir(os.path.join(teacher, "checkpoints")), key=int)
  _truncate_files(os.path.join(teacher, "checkpoints", step, "state"))
  with pytest.raises(CorruptCheckpointError,
                     match=re.escape(os.path.join(teacher, "checkpoints", step))):
    _load_teacher(teacher)
  gc.collect()


def test_missing_teacher_workdir(tmp_path):
  missing = str(tmp_path / "runs" / "teacher")
  with pytest.raises(FileNotFoundError, match=rf"teacher_workdir='{re.escape(missing)}' does "
                     r"not exist.*train the run there first"):
    _load_teacher(missing)


def test_unfinished_teacher(single_head_run, tmp_path):
  teacher = _copy(single_head_run, tmp_path, "teacher")
  os.remove(os.path.join(teacher, "results.json"))
  with pytest.raises(FileNotFoundError, match=rf"teacher_workdir='{re.escape(teacher)}' is "
                     r"not a finished run.*re-run its training command"):
    _load_teacher(teacher)


def test_teacher_without_checkpoints(single_head_run, tmp_path):
  teacher = _copy(single_head_run, tmp_path, "teacher")
  shutil.rmtree(os.path.join(teacher, "best"))
  shutil.rmtree(os.path.join(teacher, "checkpoints"))
  with pytest.raises(FileNotFoundError, match=rf"{re.escape(teacher)} reports selected_step \d+, "
                     rf"but neither {re.escape(teacher)}/best/\d+ nor .*its weights are gone; "
                     r"re-train the run"):
    _load_teacher(teacher)


def test_teacher_with_a_damaged_config(single_head_run, tmp_path):
  teacher = _copy(single_head_run, tmp_path, "teacher")
  with open(os.path.join(teacher, "config.json"), "w") as f:
    f.write('{"model": {"name"')
  with pytest.raises(ValueError, match=rf"teacher_workdir run's {re.escape(teacher)}/"
                     r"config\.json .*re-train the run"):
    _load_teacher(teacher)


@_ORBAX_ABANDONED_READS
def test_distill_run_with_a_corrupt_teacher_stops_before_training(ride_run, tmp_path):
  workdir, data_dir = ride_run
  teacher = _copy(workdir, tmp_path, "teacher")
  step = max(os.listdir(os.path.join(teacher, "best")), key=int)
  _truncate_files(os.path.join(teacher, "best", step, "state"))
  c = load_config("configs/cifar10_lt/ride_e3_distill.py")
  c.dataset.data_dir = data_dir
  c.dataset.imbalance_factor, c.dataset.val_per_class = 5.0, 2
  c.distill.teacher_workdir = teacher
  student = tmp_path / "student"
  with pytest.raises(CorruptCheckpointError, match=re.escape(teacher)):
    train.train_and_evaluate(c, str(student))
  gc.collect()
  assert not (student / "results.json").exists()
  assert not (student / "checkpoints").exists() or not os.listdir(student / "checkpoints")


def test_a_teacher_of_other_classes_is_refused(single_head_run, tmp_path):
  c = load_config("configs/digits_lt/ce.py")
  c.dataset.exclude_classes = ("8", "9")  # an 8-class student, the teacher has 10 outputs
  c.distill.teacher_workdir = single_head_run
  with pytest.raises(ValueError, match=r"teacher_workdir=.* was trained with \[10\] classifier "
                     r"outputs but the student has 8 classes: the teacher must be trained on "
                     r"the student's dataset and classes"):
    train.train_and_evaluate(c, str(tmp_path / "student"))
  assert not (tmp_path / "student" / "results.json").exists()


def test_a_missing_teacher_is_found_before_the_student_data_loads(tmp_path):
  c = load_config("configs/cifar10_lt/ride_e3_distill.py")
  c.dataset.data_dir = str(tmp_path / "no_data_here")  # loading the data would fail first
  c.distill.teacher_workdir = str(tmp_path / "no_teacher")
  with pytest.raises(FileNotFoundError, match=r"distill\.teacher_workdir=.*no_teacher' does not "
                     r"exist"):
    train.train_and_evaluate(c, str(tmp_path / "student"))
