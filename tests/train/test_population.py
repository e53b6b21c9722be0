"""Population training: members equal separate runs, resume after SIGKILL, divergence of one
member, and the errors of a bad population."""

import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from ltjax import train
from ltjax.config import keys as config_keys
from ltjax.train import members as members_lib
from ltjax.train import population
from tests.conftest import load_config
from tests.conftest import REPO

LA_SMOKE = "configs/digits_lt/logit_adjusted.py"
# 2 seeds x 2 values of one swept scalar; la_tau changes the loss, not the shapes.
SEEDS, TAUS = (0, 2), (0.5, 1.5)


def _config(**overrides):
  c = load_config(LA_SMOKE)
  c.train.num_epochs = 3
  for key, value in overrides.items():
    config_keys.set_value(c, key, value)
  return c


def _population_config(execution, **overrides):
  return _config(**{"population.seeds": SEEDS, "population.sweep": "loss.la_tau=0.5,1.5",
                    "population.execution": execution, **overrides})


def _read(path):
  with open(path) as f:
    return json.load(f)


def _last_params(workdir):
  ckpt_dir = os.path.join(workdir, "checkpoints")
  last = max(int(d) for d in os.listdir(ckpt_dir) if d.isdigit())
  return ocp.StandardCheckpointer().restore(os.path.join(ckpt_dir, str(last), "state"))["params"]


@pytest.fixture(scope="module")
def separate_runs(tmp_path_factory):
  """The four members as separate single runs: {(tau, seed): workdir}."""
  root = tmp_path_factory.mktemp("separate")
  runs = {}
  for tau in TAUS:
    for seed in SEEDS:
      workdir = str(root / f"tau{tau}_seed{seed}")
      train.train_and_evaluate(_config(seed=seed, **{"loss.la_tau": tau}), workdir)
      runs[(tau, seed)] = workdir
  return runs


# loop: bit-for-bit the single runs' computation; vmap: the same math batched over members
# (XLA may sum in another order); a 2 x 2 (member, data) mesh splits the members over devices.
@pytest.mark.parametrize("execution,member_devices,atol", [("loop", 1, 1e-6),
                                                           ("vmap", 2, 2e-5)],
                         ids=["loop", "vmap-2x2-mesh"])
def test_population_members_equal_separate_runs(tmp_path, separate_runs, execution,
                                                member_devices, atol):
  assert jax.device_count() == 4
  workdir = str(tmp_path / "pop")
  summary = train.train_and_evaluate(
      _population_config(execution, **{"population.member_devices": member_devices}), workdir)
  stacked = _last_params(workdir)
  names = [m["name"] for m in summary["members"]]
  assert names == ["la_tau=0.5-seed0", "la_tau=0.5-seed2", "la_tau=1.5-seed0",
                   "la_tau=1.5-seed2"]
  for i, (tau, seed) in enumerate((t, s) for t in TAUS for s in SEEDS):
    single = separate_runs[(tau, seed)]
    member_dir = os.path.join(workdir, "members", names[i])
    ours, theirs = _read(os.path.join(member_dir, "results.json")), _read(
        os.path.join(single, "results.json"))
    assert ours["config"] == theirs["config"]  # a member's config is the single run's
    assert ours["population"]["member"] == names[i]
    assert ours["selected_step"] == theirs["selected_step"]
    for split in ("val", "test"):
      for key in ("top1", "nll", "ece"):
        np.testing.assert_allclose(ours[split][key], theirs[split][key], atol=atol, rtol=0)
    single_params = _last_params(single)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, atol=atol, rtol=1e-5),
                 stacked, single_params)
    # the member's feature cache and best checkpoint exist as a single run's do
    assert os.path.isdir(os.path.join(member_dir, "features"))
    assert os.listdir(os.path.join(member_dir, "best"))
  settings = {s["setting"]["loss.la_tau"]: s for s in summary["settings"]}
  assert set(settings) == set(TAUS) and all(s["seeds"] == list(SEEDS)
                                            for s in settings.values())
  tops = [_read(os.path.join(separate_runs[(0.5, s)], "results.json"))["test"]["top1"]
          for s in SEEDS]
  np.testing.assert_allclose(settings[0.5]["test"]["top1"]["mean"], np.mean(tops), atol=atol)
  np.testing.assert_allclose(settings[0.5]["test"]["top1"]["std"], np.std(tops, ddof=1),
                             atol=atol)
  assert _read(os.path.join(workdir, "population.json"))["std_ddof"] == 1


def _run_main(workdir, *overrides, seeds="0,1"):
  # (a tuple override given twice is concatenated by ml_collections: pass the seeds once)
  cmd = [sys.executable, "-m", "ltjax.main", f"--config={LA_SMOKE}:smoke",
         f"--workdir={workdir}", f"--config.population.seeds={seeds}",
         "--config.population.sweep=loss.la_tau=0.5,1.5", "--config.train.num_epochs=4",
         *overrides]
  return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_killed_population_resumes_exactly(tmp_path):
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  proc = _run_main(straight)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "population: 4 members" in proc.stdout
  # SIGKILL right after step 8 (epoch 3 of 3-step epochs, checkpoints every epoch).
  proc = _run_main(resumed, "--config.debug.kill_at_step=8")
  assert proc.returncode == -signal.SIGKILL
  assert not os.path.exists(resumed / "population.json")
  proc = _run_main(resumed)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "resuming from" in proc.stderr
  a, b = _read(straight / "population.json"), _read(resumed / "population.json")
  for x, y in zip(a["members"], b["members"]):
    assert x["name"] == y["name"] and x["selected_step"] == y["selected_step"]
    np.testing.assert_allclose(x["test"]["top1"], y["test"]["top1"], atol=1e-6)
  jax.tree.map(lambda p, q: np.testing.assert_allclose(p, q, atol=1e-6),
               _last_params(straight), _last_params(resumed))
  # another population, or a single run, is refused before any array is read
  proc = _run_main(resumed, seeds="0,1,2")
  assert proc.returncode == 1 and "holds the population" in proc.stderr
  proc = subprocess.run([sys.executable, "-m", "ltjax.main", f"--config={LA_SMOKE}:smoke",
                         f"--workdir={resumed}", "--config.train.num_epochs=4"], cwd=REPO,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1 and "holds the population" in proc.stderr
  assert "Traceback" not in proc.stderr


def test_a_diverging_member_is_reported_and_the_others_finish(tmp_path):
  config = _config(**{"population.seeds": (0,), "train.num_epochs": 2,
                      "population.sweep": "optimizer.learning_rate=0.05,1e30"})
  summary = train.train_and_evaluate(config, str(tmp_path))
  status = {m["name"]: m["status"] for m in summary["members"]}
  assert status == {"learning_rate=0.05-seed0": "finished",
                    "learning_rate=1e+30-seed0": "diverged"}
  diverged = _read(tmp_path / "members" / "learning_rate=1e+30-seed0" / "diverged.json")
  assert diverged["diverged"]["step"] >= 1
  assert not os.path.exists(tmp_path / "members" / "learning_rate=1e+30-seed0" / "results.json")
  assert summary["best_setting"] == {"optimizer.learning_rate": 0.05}


def test_a_shape_changing_sweep_is_rejected(tmp_path):
  config = _config(**{"population.sweep": "model.name=small_cnn,cifar_resnet32"})
  with pytest.raises(ValueError, match="other shapes.*model.name"):
    train.train_and_evaluate(config, str(tmp_path))


def test_expand_crosses_seeds_and_typed_sweep_values():
  c = _config(**{"population.seeds": (3, 4),
                 "population.sweep": "loss.la_tau=0.5,2;augment.flip=true,false;loss.name=ce"})
  members = members_lib.expand(c)
  assert len(members) == 2 * 2 * 2
  m = members[1]
  assert m.name == "la_tau=0.5-flip=True-name=ce-seed4" and m.seed == 4
  assert m.config.seed == 4 and m.config.loss.la_tau == 0.5 and m.config.augment.flip is True
  assert isinstance(members[4].config.loss.la_tau, float) and members[4].config.loss.la_tau == 2
  assert m.config.population.seeds == () and m.config.population.sweep == ""
  assert not members_lib.is_population(m.config)
  # members that differ only by the seed share one vmapped step
  assert members_lib.vmap_groups(members) == [[0, 1], [2, 3], [4, 5], [6, 7]]


@pytest.mark.parametrize("sweep,match", [
    ("train.batch_size=8,16", "shares the training loop"),
    ("loss.la_tauu=1,2", "not a config key"),
    ("loss.la_tau=big", "not a float"),
    ("loss.la_tau=1,1", "twice"),
    ("optimizer.decay_epochs=1,2", "not supported"),
    ("seed=1,2", "population.seeds"),
    ("loss.la_tau", "key=v1,v2"),
], ids=["shared-key", "unknown-key", "bad-value", "repeated", "tuple", "seed", "no-values"])
def test_bad_sweeps_name_the_fix(sweep, match):
  with pytest.raises(ValueError, match=match):
    members_lib.expand(_config(**{"population.sweep": sweep}))


def test_execution_auto_is_loop_on_cpu_and_vmap_elsewhere():
  assert population.resolve_execution("auto", "cpu") == "loop"
  assert population.resolve_execution("auto", "gpu") == "vmap"
  assert population.resolve_execution("vmap", "cpu") == "vmap"
