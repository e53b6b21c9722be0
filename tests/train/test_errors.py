"""Bad input to the trainer and the CLI: one clear error, raised before any data or training.

Each case asserts the error type, that the message names the input, and that it names the fix.
"Before any work" is checked by giving the run a dataset that does not exist: an error about
the input, not about the missing data, shows that the check came first.
"""

import json
import re
import os
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp
import pytest

from ltjax import config as config_lib
from ltjax import train
from ltjax.core import metrics
from ltjax.runs import results as results_lib
from tests.conftest import load_config
from tests.conftest import REPO
from tests.conftest import write_fake_cifar10


def _no_data_config():
  """A CIFAR config whose data directory does not exist: only a pre-data check can pass."""
  c = load_config("configs/cifar10_lt/ce.py")
  c.dataset.data_dir = "/nonexistent/ltjax-data"
  return c


# (override(config), error type, message pattern naming the input and the fix)
BAD_CONFIGS = {
    "unknown model": (lambda c: c.model.update(name="resnet9000"), ValueError,
                      r"model\.name='resnet9000' is not valid; choose one of .*cifar_resnet32"),
    "unknown loss": (lambda c: c.loss.update(name="hinge"), ValueError,
                     r"loss\.name='hinge' is not valid; choose one of .*balanced_softmax"),
    "unknown sampler": (lambda c: c.update(sampler="square"), ValueError,
                        r"sampler='square' is not valid; choose one of .*class_balanced"),
    "ride loss, one head": (lambda c: c.loss.update(name="ride"), ValueError,
                            r"loss\.name='ride'.*'cifar_resnet_tiny' has one head; use a "
                            r"multi-expert model \(ride_cifar_resnet32"),
    "ldam on plain logits": (lambda c: c.loss.update(name="ldam"), ValueError,
                             r"loss\.name='ldam'.*set model\.normed_classifier=True"),
    "cosine head missing": (lambda c: (c.model.update(name="resnet_tiny",
                                                      normed_classifier=True)), ValueError,
                            r"model 'resnet_tiny' has no cosine classifier; set it False or "
                            r"use one of \['cifar_resnet32'"),
    "lr zero": (lambda c: c.optimizer.update(learning_rate=0.0), ValueError,
                r"optimizer\.learning_rate must be a finite number > 0, got 0\.0"),
    "lr nan": (lambda c: c.optimizer.update(learning_rate=float("nan")), ValueError,
               r"optimizer\.learning_rate must be a finite number > 0, got nan"),
    "epochs zero": (lambda c: c.train.update(num_epochs=0), ValueError,
                    r"config\.train\.num_epochs must be an integer >= 1, got 0"),
    "imbalance < 1": (lambda c: c.dataset.update(imbalance_factor=0.5), ValueError,
                      r"config\.dataset\.imbalance_factor must be a finite number >= 1, got 0\.5"),
    "momentum 1": (lambda c: c.optimizer.update(momentum=1.0), ValueError,
                   r"config\.optimizer\.momentum must be a finite number in \[0, 1\), got 1\.0"),
    "decays unordered": (lambda c: c.optimizer.update(decay_epochs=(5, 1),
                                                      decay_factors=(0.1, 0.01)), ValueError,
                         r"decay_epochs must not decrease"),
    "unknown decoupled method": (lambda c: c.decoupled.update(method="crt2"), ValueError,
                                 r"decoupled\.method='crt2' is not valid; choose one of "
                                 r"\['crt', 'lws', 'tau_norm', 'ncm', 'posthoc', 'ride_router'\]"),
    "empty tau grid": (lambda c: c.decoupled.update(tau_grid=()), ValueError,
                       r"config\.decoupled\.tau_grid needs at least 1 item"),
    "router threshold": (lambda c: c.decoupled.update(router_threshold=1.5), ValueError,
                         r"config\.decoupled\.router_threshold must be a finite number in \[0, 1\], got 1\.5"),
    "batch vs devices": (lambda c: c.train.update(batch_size=6), ValueError,
                         r"train\.batch_size=6 is not divisible by the 4 devices; choose a "
                         r"multiple of 4"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_fails_before_the_dataset_loads(case, tmp_path):
  override, error, pattern = BAD_CONFIGS[case]
  c = _no_data_config()
  override(c)
  with pytest.raises(error, match=pattern):
    train.train_and_evaluate(c, str(tmp_path))
  assert not os.path.exists(tmp_path / "config.json")


def test_every_shipped_config_passes_validation():
  """The registries' checks reject nothing that the project itself ships."""
  import glob  # pylint: disable=g-import-not-at-top
  paths = sorted(glob.glob(os.path.join(REPO, "configs", "*", "*.py")))
  assert len(paths) >= 78
  for path in paths:
    for arg in (None, "smoke"):
      c = load_config(os.path.relpath(path, REPO), arg)
      if c.stage == "decoupled" and not c.decoupled.stage1_workdir:
        continue  # filled in by the user; its own check is tested in test_configs.py
      config_lib.validate(c)


def test_labels_outside_the_classes_are_an_error_not_a_dropped_example():
  logits = np.eye(3, dtype=np.float32)
  counts = np.array([10, 5, 1])
  # Before the check, the label 3 was one-hot to a zero row and the top-1 read 1.0.
  with pytest.raises(ValueError, match=r"labels lie in \[0, 3\] but there are 3 classes \(1 of "
                     r"3 labels outside \[0, 3\)\); fix the labels or the number of classes"):
    metrics.evaluate_logits(logits, np.array([0, 1, 3]), counts)
  with pytest.raises(ValueError, match=r"labels lie in \[-1, 1\].*1 of 3 labels outside"):
    metrics.evaluate_logits(logits, np.array([0, 1, -1]), counts)
  with pytest.raises(ValueError, match="integer class ids"):
    metrics.evaluate_logits(logits, np.array([0.0, 1.5, 2.0]), counts)
  with pytest.raises(ValueError, match="class_counts has 2 classes but the logits have 3"):
    metrics.evaluate_logits(logits, np.array([0, 1, 2]), counts[:2])
  # The sums themselves say when an example was not counted.
  sums = {k: np.asarray(v) for k, v in metrics.eval_sums(logits, np.array([0, 1, 5])).items()}
  with pytest.raises(ValueError, match=r"1 of 3 evaluation examples have a label outside"):
    metrics.summarize(sums, counts, num_examples=3)
  r = metrics.evaluate_logits(logits, np.array([0, 1, 1]), counts)
  assert r["top1"] == pytest.approx(2 / 3) and r["num_examples"] == 3


def _strict_load(path):
  def reject(token):
    raise AssertionError(f"non-strict JSON constant {token} in {path}")
  with open(path, encoding="utf-8") as f:
    return json.load(f, parse_constant=reject)


def test_results_json_is_strict_and_says_why_a_value_is_null(tmp_path):
  path = str(tmp_path / "r.json")
  results_lib.write_json_atomically(path, {"test": {"nll": float("inf"), "top1": np.float32(0.5),
                                                    "per_class": np.array([0.25, np.nan])}})
  r = _strict_load(path)
  assert r["test"] == {"nll": None, "top1": 0.5, "per_class": [0.25, None]}
  assert r["null_reasons"] == {"test.nll": "the value was inf (not a finite number)",
                               "test.per_class[1]": "the value was nan (not a finite number)"}
  assert os.listdir(tmp_path) == ["r.json"]  # no temporary file left behind


def _digits_smoke(**train_overrides):
  c = load_config("configs/digits_lt/ce.py")
  c.train.update(train_overrides)
  return c


def test_resume_under_a_changed_config_is_refused_naming_the_keys(tmp_path):
  workdir = str(tmp_path)
  first = train.train_and_evaluate(_digits_smoke(), workdir)
  changed = _digits_smoke()
  changed.optimizer.learning_rate = 0.5
  changed.loss.name = "focal"
  with pytest.raises(ValueError, match=r"trained under another config \(loss\.name: 'ce' -> "
                     r"'focal', optimizer\.learning_rate: 0\.05 -> 0\.5\); rerun with the "
                     r"original values, use a fresh --workdir, or pass "
                     r"--config\.train\.allow_config_change=True"):
    train.train_and_evaluate(changed, workdir)
  assert _strict_load(os.path.join(workdir, "config.json"))["optimizer"]["learning_rate"] == 0.05

  # Keys that cannot change a result are free to change.
  same = train.train_and_evaluate(_digits_smoke(log_every_steps=2, eval_batch_size=32,
                                                steps_per_dispatch=1), workdir)
  assert same["test"]["per_class"] == first["test"]["per_class"]
  assert "config_changes" not in same

  # The explicit flag accepts the change and records it.
  changed.train.allow_config_change = True
  accepted = train.train_and_evaluate(changed, workdir)
  assert accepted["config_changes"] == [{"resumed_at_step": 6, "changes": {
      "loss.name": {"old": "ce", "new": "focal"},
      "optimizer.learning_rate": {"old": 0.05, "new": 0.5}}}]
  assert _strict_load(os.path.join(workdir, "results.json"))["config_changes"] == \
      accepted["config_changes"]


def test_a_diverging_run_stops_naming_step_lr_and_the_intact_checkpoint(tmp_path):
  c = _digits_smoke()
  c.train.num_epochs = 4
  c.optimizer.warmup_epochs = 0
  c.optimizer.schedule = "constant"
  c.optimizer.learning_rate = 1e30
  with pytest.raises(train.TrainingDiverged, match=r"training diverged: the (training loss "
                     r"became nan|parameters became non-finite) at step \d+ \(learning rate "
                     r"1e\+30\); .*Lower optimizer\.learning_rate"):
    train.train_and_evaluate(c, str(tmp_path))
  assert not os.path.exists(tmp_path / "results.json")
  # Whatever checkpoint exists is finite: the diverged state was never saved.
  for step in os.listdir(tmp_path / "checkpoints"):
    if step.isdigit():
      state = ocp.StandardCheckpointer().restore(tmp_path / "checkpoints" / step / "state")
      leaves = [np.asarray(v) for v in _leaves(state["params"])]
      assert all(np.all(np.isfinite(v)) for v in leaves)


def _leaves(tree):
  if isinstance(tree, dict):
    for v in tree.values():
      yield from _leaves(v)
  else:
    yield tree


def test_an_unwritable_workdir_fails_at_start(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  with pytest.raises(PermissionError, match=r"cannot write to the workdir .*a_file/run.*; "
                     r"choose a --workdir you can write to"):
    train.train_and_evaluate(_digits_smoke(), str(blocker / "run"))
  # /proc refuses new files even to root, so this holds whoever runs the tests.
  with pytest.raises(PermissionError, match=r"cannot write to the workdir '/proc'"):
    train.train_and_evaluate(_digits_smoke(), "/proc")


def _cli(*args, env=None, cwd=REPO):
  return subprocess.run([sys.executable, "-m", "ltjax.main", *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=300)


def test_cli_reports_a_bad_input_as_one_sentence(tmp_path):
  proc = _cli("--config=configs/digits_lt/ce.py:smoke", f"--workdir={tmp_path}",
              "--config.stage=bogus")
  assert proc.returncode != 0
  assert "config.stage='bogus' is not a stage; choose one of ['train', 'decoupled', 'dlsa']" \
      in proc.stderr
  assert "KeyError" not in proc.stderr
  proc = _cli("--config=configs/digits_lt/ce.py:smoke", f"--workdir={tmp_path}",
              "--config.loss.name=ride")
  assert proc.returncode == 1
  last = proc.stderr.strip().splitlines()
  assert last[-2].startswith("ltjax: error: ValueError: loss.name='ride' trains each expert")
  assert "Traceback" not in proc.stderr


def test_log_filter_keeps_ltjax_and_drops_library_info_under_an_ltjax_path(tmp_path):
  """A checkout named ltjax holds its venv: Orbax's files then lie under ".../ltjax/..." too.

  Orbax is imported through a path that contains /ltjax/ (a symlink to the installed
  package), the failure that a path-substring filter let through.
  """
  import orbax  # pylint: disable=g-import-not-at-top
  site = tmp_path / "ltjax" / ".venv" / "site-packages"
  site.mkdir(parents=True)
  (site / "orbax").symlink_to(list(orbax.__path__)[0], target_is_directory=True)
  env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{REPO}")
  workdir = tmp_path / "ltjax" / "runs" / "smoke"
  proc = _cli(f"--config={REPO}/configs/digits_lt/ce.py:smoke", f"--workdir={workdir}",
              env=env, cwd=str(tmp_path / "ltjax"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = proc.stderr.splitlines()
  info = [l for l in lines if l.startswith("I")]
  assert any("step 6/6" in l for l in info)  # progress
  assert any("val top1" in l for l in info)
  assert "results written to" in proc.stdout and "test " in proc.stdout
  library_info = [l for l in info if not any(f" {m}.py:" in l for m in _LTJAX_MODULES)]
  assert not library_info, library_info[:5]
  assert len(lines) < 40, len(lines)


# Basenames of ltjax's own modules (absl prints the file's basename in each line).
_LTJAX_MODULES = tuple(sorted({os.path.splitext(f)[0] for _, _, files in
                               os.walk(os.path.join(REPO, "ltjax")) for f in files
                               if f.endswith(".py")}))


@pytest.mark.parametrize("stage", ["decoupled", "dlsa"])
def test_later_stages_check_the_workdir_before_their_work(stage, tmp_path):
  from ltjax.decoupled import stage as stage2  # pylint: disable=g-import-not-at-top
  from ltjax.dlsa import stage as dlsa_stage  # pylint: disable=g-import-not-at-top
  c = load_config("configs/digits_lt/crt.py" if stage == "decoupled"
                  else "configs/dlsa/digits_lt_ce.py")
  if stage == "decoupled":
    c.decoupled.stage1_workdir = str(tmp_path / "no_stage1")
  else:
    c.dlsa.features = str(tmp_path / "no_features")
  run = stage2.run if stage == "decoupled" else dlsa_stage.run
  with pytest.raises(PermissionError, match=r"cannot write to the workdir '/proc'"):
    run(c, "/proc")
  # A workdir that does not exist yet is probed through its parent and not created early.
  with pytest.raises((FileNotFoundError, ValueError)):
    run(c, str(tmp_path / "new" / "workdir"))
  assert not (tmp_path / "new").exists()


def test_a_divergence_after_a_checkpoint_names_it_and_leaves_it_intact(tmp_path):
  c = _digits_smoke()
  c.train.num_epochs = 4
  c.optimizer.warmup_epochs = 0
  c.optimizer.schedule = "multistep"
  c.optimizer.learning_rate = 0.05
  c.optimizer.decay_epochs = (2,)
  c.optimizer.decay_factors = (1e30,)  # lr 5e28 from epoch 2 on: diverges after epoch 2's save
  with pytest.raises(train.TrainingDiverged) as info:
    train.train_and_evaluate(c, str(tmp_path))
  message = str(info.value)
  match = re.search(r"the last good checkpoint, (\S+) \(step (\d+)\), is intact\. Lower "
                    r"optimizer\.learning_rate .*continue from that checkpoint", message)
  assert match, message
  assert match.group(1) == os.path.join(str(tmp_path / "checkpoints"), match.group(2))
  state = ocp.StandardCheckpointer().restore(os.path.join(match.group(1), "state"))
  assert all(np.all(np.isfinite(v)) for v in _leaves(state["params"]))
  assert not os.path.exists(tmp_path / "results.json")


def test_a_divergence_before_any_checkpoint_says_so_and_nothing_else(tmp_path):
  c = _digits_smoke()
  c.optimizer.warmup_epochs = 0
  c.optimizer.schedule = "constant"
  c.optimizer.learning_rate = 1e30
  with pytest.raises(train.TrainingDiverged) as info:
    train.train_and_evaluate(c, str(tmp_path))
  message = str(info.value)
  assert "no checkpoint was written before it" in message, message
  assert "continue from that checkpoint" not in message and "is intact" not in message


def test_a_resume_against_other_data_of_the_same_size_is_refused(tmp_path):
  c = load_config("configs/cifar10_lt/ce.py")
  c.dataset.data_dir = write_fake_cifar10(str(tmp_path / "a"), seed=0)
  train.train_and_evaluate(c, str(tmp_path / "run"))
  c.dataset.data_dir = write_fake_cifar10(str(tmp_path / "b"), seed=1)  # same sizes
  with pytest.raises(ValueError, match=r"was trained on other data than this config loads "
                     r"\(content hash \w+ there, \w+ here; same sizes or not\)"):
    train.train_and_evaluate(c, str(tmp_path / "run"))
  c.dataset.data_dir = str(tmp_path / "a")  # its own data: accepted (a finished run re-evaluates)
  assert train.train_and_evaluate(c, str(tmp_path / "run"))["test"]["top1"] is not None
