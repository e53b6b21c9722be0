"""Bad workdirs given to the report: a one-line error naming the workdir and the fix, raised
before anything is written; damaged optional files are explained or, for the curves, skipped."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ltjax import train
from ltjax.runs import report
from tests.conftest import load_config
from tests.conftest import REPO

FINISH = r"rerun its training command to finish it"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("report_errors") / "ce")
  train.train_and_evaluate(load_config("configs/digits_lt/ce.py"), workdir)
  return workdir


def _copy(run, tmp_path, name="run"):
  return shutil.copytree(run, str(tmp_path / name))


def _report_fails(workdirs, tmp_path, error, match, capsys):
  """build_report and the CLI both refuse, the CLI with one sentence, and write nothing."""
  out = tmp_path / "out"
  with pytest.raises(error, match=match):
    report.build_report(workdirs, str(out))
  with pytest.raises(SystemExit) as info:
    report.main([*workdirs, "--out", str(out)])
  assert info.value.code == 1
  sentence, hint = capsys.readouterr().err.strip().splitlines()
  assert re.match(rf"^ltjax\.report: error: {error.__name__}: " + match, sentence)
  assert hint == "(set LTJAX_TRACEBACK=1 for the traceback)"
  assert not out.exists()


def test_missing_workdir(finished_run, tmp_path, capsys):
  missing = str(tmp_path / "runs" / "ce")
  # The good workdir first: the bad one must still stop the report before it writes.
  _report_fails([finished_run, missing], tmp_path, FileNotFoundError,
                rf"workdir {re.escape(missing)} does not exist: pass the --workdir of a "
                r"finished ltjax run", capsys)


def test_workdir_without_results(finished_run, tmp_path, capsys):
  run = _copy(finished_run, tmp_path)
  os.remove(os.path.join(run, "results.json"))
  _report_fails([run], tmp_path, FileNotFoundError,
                rf"{re.escape(run)}/results\.json not found: ltjax\.report needs finished "
                rf"workdirs, and the run in {re.escape(run)} is not finished: {FINISH}", capsys)


def test_truncated_results(finished_run, tmp_path, capsys):
  run = _copy(finished_run, tmp_path)
  path = os.path.join(run, "results.json")
  with open(path, "r+") as f:
    f.truncate(os.path.getsize(path) // 2)
  _report_fails([run], tmp_path, ValueError,
                rf"{re.escape(path)} is not valid JSON \(JSONDecodeError: .*\): the results "
                rf"of the run in {re.escape(run)} are damaged; {FINISH}", capsys)


@pytest.mark.parametrize("payload, lacking", [
    ([1, 2], r"everything \(not a JSON object\)"),
    ({"step": 3}, r"config, class_counts, test"),
    ("drop test.reliability", r"test\.reliability"),
])
def test_results_of_another_shape(finished_run, tmp_path, payload, lacking, capsys):
  run = _copy(finished_run, tmp_path)
  path = os.path.join(run, "results.json")
  if payload == "drop test.reliability":
    with open(path) as f:
      payload = json.load(f)
    del payload["test"]["reliability"]
  with open(path, "w") as f:
    json.dump(payload, f)
  _report_fails([run], tmp_path, ValueError,
                rf"{re.escape(path)} lacks {lacking}: not the results\.json of a finished "
                rf"ltjax training or stage-2 run; {FINISH}", capsys)


def test_damaged_test_predictions(finished_run, tmp_path, capsys):
  run = _copy(finished_run, tmp_path)
  path = os.path.join(run, "test_predictions.npz")
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)
  _report_fails([run], tmp_path, ValueError,
                rf"cannot read {re.escape(path)} .*delete it \(the report then leaves out "
                rf"the confusion picture\) or {FINISH}", capsys)
  os.remove(path)  # the fix the message gives
  text = open(report.build_report([run], str(tmp_path / "out"))).read()
  assert "confusion_head_to_tail.png" not in text and "per_class_accuracy.png" in text


def test_cli_prints_one_line_and_no_traceback(tmp_path):
  missing = str(tmp_path / "nope")
  proc = subprocess.run([sys.executable, "-m", "ltjax.report", missing, "--out",
                         str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True,
                        check=False)
  assert proc.returncode == 1 and not os.path.exists(tmp_path / "out")
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert lines == [f"ltjax.report: error: FileNotFoundError: workdir {missing} does not "
                   "exist: pass the --workdir of a finished ltjax run",
                   "(set LTJAX_TRACEBACK=1 for the traceback)"], proc.stderr


def test_a_cut_metrics_line_is_skipped_and_said(finished_run, tmp_path, capsys):
  run = _copy(finished_run, tmp_path)
  log = os.path.join(run, "metrics.jsonl")
  with open(log) as f:
    lines = f.readlines()
  # A run killed mid-write and resumed: half a line, then the resumed run's lines.
  lines.insert(1, lines[1][:len(lines[1]) // 2] + "\n")
  with open(log, "w") as f:
    f.writelines(lines)
  text = open(report.build_report([run], str(tmp_path / "out"))).read()
  assert "curves.png" in text
  assert f"skipped unreadable line(s) [2] of {log}" in capsys.readouterr().err


def test_null_metrics_are_shown_as_null(finished_run, tmp_path):
  run = _copy(finished_run, tmp_path)
  path = os.path.join(run, "results.json")
  with open(path) as f:
    r = json.load(f)
  # write_json_atomically writes a non-finite value as null (reason under null_reasons).
  r["test"]["nll"], r["null_reasons"] = None, {"test.nll": "inf"}
  with open(path, "w") as f:
    json.dump(r, f)
  text = open(report.build_report([run], str(tmp_path / "out"))).read()
  row = next(line for line in text.splitlines() if line.startswith("| test |"))
  assert row.endswith("| null |")
  assert np.isfinite(r["test"]["ece"])
