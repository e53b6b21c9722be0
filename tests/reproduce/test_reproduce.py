"""`python -m ltjax.reproduce`: the digits table in smoke mode (every row kind) with a kill in
the middle, planning, merging, failures and verdicts."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from ltjax import config as config_lib
from ltjax.reproduce import runner
from ltjax.reproduce import spec
from ltjax.reproduce import table as table_lib
from ltjax.reproduce import tables
from ltjax.train import setup as setup_lib
from tests.conftest import REPO


def _reproduce(workdir, *args):
  cmd = [sys.executable, "-m", "ltjax.reproduce", "digits_lt", f"--workdir={workdir}",
         "--schedule=smoke", "--seeds=1", "--config.train.num_epochs=4", *args]
  return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)


def _read(path):
  with open(path) as f:
    return json.load(f)


def test_digits_smoke_table_every_row_kind_survives_a_kill(tmp_path):
  # Part of the table first (the population of the rows that share a ResNet), then the whole
  # table with a SIGKILL in its next run (LDAM-DRW at step 10: checkpoints at steps 3, 6, 9,
  # and Orbax finishes one save before it starts the next, so step 6's has landed); the same
  # command then resumes that run and does the rest.
  proc = _reproduce(tmp_path, "--only=ce,focal,cb_focal,balanced_softmax,logit_adjusted")
  assert proc.returncode == 0, proc.stderr[-3000:]
  proc = _reproduce(tmp_path, "--config.debug.kill_at_step=10")
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
  assert "9 runs to do" in proc.stdout  # 14 rows, 5 of them finished
  assert os.listdir(tmp_path / "populations" / "ldam_drw-seeds0" / "checkpoints")
  proc = _reproduce(tmp_path)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "resuming from" in proc.stderr
  table = _read(tmp_path / "table.json")
  rows = {r["name"]: r for r in table["rows"]}
  assert list(rows) == [r.name for r in tables.load("digits_lt").rows]
  for r in rows.values():  # single-stage, decoupled, DLSA, routing, distillation, extrapolation
    assert r["seeds_done"] == [0] and not r["failures"], r["name"]
    assert 0 <= r["test"]["top1"]["mean"] <= 100
    assert r["verdict"] in ("within tolerance", "above", "below", "not published")
  assert rows["ce"]["difference"] == pytest.approx(rows["ce"]["test"]["top1"]["mean"] - 82.17)
  assert rows["dlsa"]["published"] is None and rows["dlsa"]["verdict"] == "not published"
  assert rows["ride_router"]["per_seed"]["0"]["routing"]["mean_experts"] >= 1
  assert table["schedule"] == "smoke" and not table["schedule_is_the_papers"]
  # the rows that share a model and a loop trained as one population
  populations = os.listdir(tmp_path / "populations")
  assert "balanced_softmax+cb_focal+ce+focal+logit_adjusted-seeds0" in populations
  run = tmp_path / "runs" / "focal" / "seed0"
  assert os.path.islink(run) and _read(run / "results.json")["config"]["loss"]["name"] == "focal"
  assert (tmp_path / "table.png").stat().st_size > 0
  text = (tmp_path / "table.md").read_text()
  assert "NOT the paper's" in text and "| crt (on ce) | 1/1 |" in text
  assert "numbers test the plumbing, not the method" in text
  # nothing finished is run again
  stamp = os.stat(run / "results.json").st_mtime
  proc = _reproduce(tmp_path)
  assert proc.returncode == 0 and "0 runs to do" in proc.stdout
  assert os.stat(run / "results.json").st_mtime == stamp


def _toy_table(bad_config="configs/digits_lt/nope.py"):
  return spec.Table(name="toy", title="toy", rows=(
      spec.Row("ce", "configs/digits_lt/ce.py", published=spec.Published(50.0, "made up"),
               tolerance=1.0),
      spec.Row("broken", bad_config),
      spec.Row("crt", "configs/digits_lt/crt.py", builds_on="broken"),
      spec.Row("ldam_drw", "configs/digits_lt/ldam_drw.py"),
  ))


def test_only_pulls_in_dependencies_and_plans_populations(tmp_path):
  repro = runner.Reproduction(tables.load("digits_lt"), str(tmp_path), [0, 1], "smoke", [],
                              only=["tau_norm", "ride_e3_distill"])
  assert [r.name for r in repro.rows] == ["ce", "tau_norm", "ride_teacher_e6",
                                          "ride_e3_distill"]
  jobs = repro.jobs()
  assert [(j.population, j.members) for j in jobs] == [
      (True, [("ce", 0), ("ce", 1)]), (True, [("ride_teacher_e6", 0), ("ride_teacher_e6", 1)]),
      (False, [("tau_norm", 0)]), (False, [("tau_norm", 1)]),
      (False, [("ride_e3_distill", 0)]), (False, [("ride_e3_distill", 1)])]
  # a distillation row reads its own seed's teacher; a decoupled row its own seed's stage 1
  c = repro.config(repro.table.row("ride_e3_distill"), 1)
  assert c.distill.teacher_workdir == repro.run_dir("ride_teacher_e6", 1) and c.seed == 1
  assert repro.config(repro.table.row("tau_norm"), 1).decoupled.stage1_workdir == \
      repro.run_dir("ce", 1)
  with pytest.raises(ValueError, match="no row 'nope'"):
    runner.Reproduction(tables.load("digits_lt"), str(tmp_path), [0], "smoke", [],
                        only=["nope"])


def test_a_failed_row_is_reported_and_the_table_still_builds(tmp_path):
  repro = runner.Reproduction(_toy_table(), str(tmp_path), [0], "smoke",
                              [("train.num_epochs", "1")], only=["ce", "crt"])
  repro.run()
  table = table_lib.write(repro, "test")
  rows = {r["name"]: r for r in table["rows"]}
  assert rows["ce"]["seeds_done"] == [0]
  assert "does not exist" in rows["broken"]["failures"]["0"]
  assert "builds on broken/seed0, which did not finish" in rows["crt"]["failures"]["0"]
  assert rows["crt"]["test"]["top1"] is None and rows["crt"]["verdict"] == "not published"
  assert "Failed runs:" in (tmp_path / "table.md").read_text()


def test_merge_folds_in_seeds_finished_elsewhere(tmp_path):
  other = {"table": "toy", "schedule": "smoke", "overrides": {},
           "rows": [{"name": "ce", "per_seed": {"1": {
               "test": {"top1": 0.6, "many": 0.9, "medium": 0.5, "few": 0.2, "ece": 0.05},
               "val_top1": 0.55, "from": "this workdir"}}}]}
  with open(tmp_path / "other.json", "w") as f:
    json.dump(other, f)
  repro = runner.Reproduction(_toy_table(), str(tmp_path / "here"), [0, 1], "smoke", [],
                              only=["ce"])
  # The workdir does not exist yet: merging creates it.
  assert table_lib.merge(repro, str(tmp_path / "other.json")) == 1
  table = table_lib.collect(repro)
  ce = table["rows"][0]
  assert ce["seeds_done"] == [1] and ce["per_seed"]["1"]["from"] == "merged"
  assert ce["test"]["top1"] == {"mean": pytest.approx(60.0), "std": None}
  assert ce["difference"] == pytest.approx(10.0) and ce["verdict"] == "above"


@pytest.mark.parametrize("ours,verdict", [(50.5, "within tolerance"), (52.0, "above"),
                                          (47.0, "below"), (None, "no result")],
                         ids=["within", "above", "below", "none"])
def test_verdict(ours, verdict):
  assert table_lib.verdict(ours, spec.Published(50.0, "x"), 1.0) == verdict


@pytest.mark.parametrize("schedule", ["full", "short", "smoke"])
def test_every_declared_table_resolves_its_rows(tmp_path, schedule):
  for name in tables.NAMES:
    t = tables.load(name)
    repro = runner.Reproduction(t, str(tmp_path / name), [0], schedule, [])
    for row in repro.rows:
      c = repro.config(row, 0)
      config_lib.validate(c)
      assert c.seed == 0, (name, row.name)
      for key, value in t.overrides:
        assert c.dataset.imbalance_factor == value, (name, row.name, key)
      if schedule == "short" and c.stage == "train":
        assert c.train.num_epochs == dict(t.short)["train.num_epochs"], (name, row.name)
    for row in t.rows:
      for dep in (row.builds_on, row.teacher):
        assert dep is None or any(r.name == dep for r in t.rows), (name, row.name, dep)


def _fake_finished(repro, row, seed, change=None, data_hash=None):
  """A results.json for (row, seed) as this repro's config would write it, `change` applied
  (`data_hash`: the hash of the data it says it trained on)."""
  c = repro.config(repro.table.row(row), seed)
  for key, value in (change or {}).items():
    section, leaf = key.split(".")
    c[section][leaf] = value
  os.makedirs(repro.run_dir(row, seed))
  extra = {} if data_hash is None else {"data_hash": data_hash}
  with open(os.path.join(repro.run_dir(row, seed), "results.json"), "w") as f:
    json.dump({"config": c.to_dict(), "selected_step": 1, **extra,
               "test": {"top1": 0.5, "many": 0.5, "medium": 0.5, "few": 0.5, "ece": 0.1}}, f)


def test_a_finished_run_on_other_data_is_not_reused(tmp_path):
  """Same config, other data (another copy of the files under the same keys): refused."""
  repro = runner.Reproduction(tables.load("digits_lt"), str(tmp_path / "a"), [0], "smoke", [],
                              only=["ce"])
  here = setup_lib.build_splits(repro.config(repro.table.row("ce"), 0)).content_hash()
  _fake_finished(repro, "ce", 0, data_hash=here)
  assert repro.finished("ce", 0) and repro.jobs() == []
  other = runner.Reproduction(tables.load("digits_lt"), str(tmp_path / "b"), [0], "smoke", [],
                              only=["ce"])
  _fake_finished(other, "ce", 0, data_hash="0" * 20)
  with pytest.raises(ValueError, match=rf"ce/seed0 .* was trained on other data than this "
                     rf"command loads \(content hash 0{{20}} there, {here} here\): point "
                     r"--config\.dataset\.data_dir at the files"):
    other.jobs()


def test_merge_refuses_a_seed_trained_on_other_data(tmp_path):
  repro = runner.Reproduction(tables.load("digits_lt"), str(tmp_path / "here"), [0, 1], "smoke",
                              [], only=["ce"])
  here = repro.data_hash(repro.config(repro.table.row("ce"), 1))
  seed = {"test": {"top1": 0.6, "many": 0.9, "medium": 0.5, "few": 0.2, "ece": 0.05},
          "val_top1": 0.55, "from": "this workdir"}
  for name, data_hash in (("same.json", here), ("other.json", "0" * 20)):
    with open(tmp_path / name, "w") as f:
      json.dump({"table": "digits_lt", "schedule": "smoke", "overrides": {},
                 "rows": [{"name": "ce", "per_seed": {"1": seed | {"data_hash": data_hash}}}]},
                f)
  with pytest.raises(ValueError, match=rf"--merge .*other\.json: ce/seed1 there was trained on "
                     rf"other data than this command loads \(content hash 0{{20}} there, {here} "
                     r"here\): merge only tables run on the same dataset files"):
    table_lib.merge(repro, str(tmp_path / "other.json"))
  assert not os.path.exists(tmp_path / "here" / table_lib.MERGED)
  assert table_lib.merge(repro, str(tmp_path / "same.json")) == 1
  assert table_lib.collect(repro)["rows"][0]["per_seed"]["1"]["data_hash"] == here


def test_a_finished_run_of_another_schedule_is_not_reused(tmp_path):
  smoke = runner.Reproduction(tables.load("digits_lt"), str(tmp_path), [0], "smoke",
                              [("train.num_epochs", "2")], only=["ce"])
  _fake_finished(smoke, "ce", 0)
  assert smoke.finished("ce", 0) and smoke.jobs() == []  # the same command reuses it
  other = runner.Reproduction(tables.load("digits_lt"), str(tmp_path), [0], "smoke",
                              [("train.num_epochs", "3")], only=["ce"])
  with pytest.raises(ValueError, match=r"ce/seed0 .* was run under another config "
                     r"\(train\.num_epochs: 2 there, 3 here\), .*use a fresh --workdir"):
    other.jobs()
  full = runner.Reproduction(tables.load("digits_lt"), str(tmp_path), [0], "full", [],
                             only=["ce"])
  with pytest.raises(ValueError, match=r"was run under another config .*more\)\), so "
                     r"this full-schedule table"):
    table_lib.collect(full)  # --table-only cannot show it under the full label either


def test_a_finished_run_with_another_stage_setting_is_not_reused(tmp_path):
  """A stage's own section (not in the training fingerprint) is part of a run's identity."""
  repro = runner.Reproduction(tables.load("digits_lt"), str(tmp_path), [0], "smoke", [],
                              only=["tau_norm"])
  _fake_finished(repro, "ce", 0)
  _fake_finished(repro, "tau_norm", 0, {"decoupled.num_epochs": 7})
  with pytest.raises(ValueError, match=r"tau_norm/seed0 .*decoupled\.num_epochs: 7 there"):
    repro.jobs()


@pytest.mark.parametrize("field,value,named", [
    ("schedule", "full", "schedule 'full' there, 'smoke' here"),
    ("table", "cifar10_lt", "table 'cifar10_lt' there, 'toy' here"),
    ("overrides", {"train.num_epochs": "2"}, "overrides"),
])
def test_merge_refuses_another_table_run(tmp_path, field, value, named):
  other = {"table": "toy", "schedule": "smoke", "overrides": {}, "rows": []}
  other[field] = value
  with open(tmp_path / "other.json", "w") as f:
    json.dump(other, f)
  repro = runner.Reproduction(_toy_table(), str(tmp_path / "here"), [0], "smoke", [],
                              only=["ce"])
  with pytest.raises(ValueError, match=re.escape(named)):
    table_lib.merge(repro, str(tmp_path / "other.json"))
  assert not os.path.exists(tmp_path / "here" / table_lib.MERGED)


def test_table_only_into_a_new_workdir_writes_an_empty_table(tmp_path):
  repro = runner.Reproduction(_toy_table(), str(tmp_path / "new"), [0], "smoke", [],
                              only=["ce"])
  table = table_lib.write(repro, "test")
  assert table["rows"][0]["seeds_done"] == [] and (tmp_path / "new" / "table.md").exists()


@pytest.mark.parametrize("name", ["extrapolation_imagenet_lt", "extrapolation_inat2018",
                                  "extrapolation_places_lt"])
def test_vit_extrapolation_tables_pair_each_recipe_with_its_baseline(tmp_path, name):
  repro = runner.Reproduction(tables.load(name), str(tmp_path), [0], "full", [])
  configs = {r.name: repro.config(r, 0) for r in repro.rows}
  for init in ("scratch", "dinov2", "clip"):
    with_aux, baseline = configs[f"{init}_extrapolation"], configs[f"{init}_baseline"]
    assert with_aux.aux.source == "image_folder" and baseline.aux.source == ""
    assert with_aux.model.name == baseline.model.name
    assert with_aux.optimizer.learning_rate == baseline.optimizer.learning_rate
