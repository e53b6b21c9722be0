"""Every command-line entry point ends a bad input with one sentence naming it (and the fix),
then the traceback hint; LTJAX_TRACEBACK=1 brings the traceback back."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ltjax.core import cli
from tests.conftest import REPO

HINT = "(set LTJAX_TRACEBACK=1 for the traceback)"


def test_flag_error_with_an_embedded_traceback_becomes_its_last_line():
  message = ("flag --config=configs/x.py:bogus: Error whilst parsing config file:\n\n"
             "  Traceback (most recent call last):\n    File \"configs/x.py\", line 3\n"
             "  ValueError: unknown config argument 'bogus'; use 'smoke' or nothing\n")
  assert cli.flag_error_sentence(message) == (
      "flag --config=configs/x.py:bogus: the config file raised ValueError: unknown config "
      "argument 'bogus'; use 'smoke' or nothing")
  assert cli.flag_error_sentence("flag --x=a: bad\n  value") == "flag --x=a: bad value"


def test_unknown_key_names_the_override_and_the_suggestion():
  # ml_collections' text: the key quoted, then its suggestion on the next line.
  error = KeyError('\'imbalanse_factor\'\nDid you mean "imbalance_factor" instead of '
                   '"imbalanse_factor"?')
  sentence = cli.unknown_key_sentence(error, ["prog", "--config=c.py",
                                              "--config.dataset.imbalanse_factor=5"])
  assert sentence.startswith("--config.dataset.imbalanse_factor: the config has no key "
                             "'imbalanse_factor'; did you mean \"imbalance_factor\"")
  assert "\n" not in sentence


def test_user_errors_exit_1_and_other_errors_keep_their_traceback(capsys, monkeypatch):
  monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
  with pytest.raises(SystemExit) as info:
    with cli.user_errors_as_one_sentence("prog"):
      raise ValueError("config.x must be positive, got 0")
  assert info.value.code == 1
  assert capsys.readouterr().err.splitlines() == [
      "prog: error: ValueError: config.x must be positive, got 0", HINT]
  with pytest.raises(ZeroDivisionError):  # a bug, not a bad input
    with cli.user_errors_as_one_sentence("prog"):
      raise ZeroDivisionError
  monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
  with pytest.raises(ValueError):
    with cli.user_errors_as_one_sentence("prog"):
      raise ValueError("shown with its traceback")


SMOKE = "configs/digits_lt/ce.py:smoke"
CASES = {
    "main: an override of a key the config lacks": (
        ["ltjax.main", f"--config={SMOKE}", "--config.dataset.imbalanse_factor=5"],
        r"ltjax: error: --config\.dataset\.imbalanse_factor: the config has no key "
        r"'imbalanse_factor'; did you mean \"imbalance_factor\""),
    "main: a missing config file": (
        ["ltjax.main", "--config=configs/nope.py"],
        r"ltjax: error: --config: the config file could not be loaded: \[Errno 2\] No such "
        r"file or directory: 'configs/nope\.py'"),
    "main: an unknown config argument": (
        ["ltjax.main", "--config=configs/digits_lt/ce.py:bogus"],
        r"ltjax: error: flag --config=configs/digits_lt/ce\.py:bogus: the config file raised "
        r"ValueError: unknown config argument 'bogus'"),
    "main: a value that does not parse": (
        ["ltjax.main", f"--config={SMOKE}", "--config.train.batch_size=abc"],
        r"ltjax: error: flag --config\.train\.batch_size=abc: invalid literal for int\(\)"),
    "main: a value outside its key's rule": (
        ["ltjax.main", f"--config={SMOKE}", "--config.train.batch_size=0"],
        r"ltjax: error: ValueError: config\.train\.batch_size must be an integer >= 1, got 0"),
    "reproduce: an override of a key the config lacks": (
        ["ltjax.reproduce", "digits_lt", "--schedule=smoke", "--config.train.bogus=1"],
        r"ltjax\.reproduce: error: ValueError: --config\.train\.bogus: 'train\.bogus' is not a "
        r"config key"),
    "reproduce: an override outside its key's rule": (
        ["ltjax.reproduce", "digits_lt", "--schedule=smoke", "--config.optimizer.momentum=1"],
        r"ltjax\.reproduce: error: ValueError: config\.optimizer\.momentum must be a finite "
        r"number in \[0, 1\), got 1\.0"),
    "report: a missing workdir": (
        ["ltjax.report", "{tmp}/none"],
        r"ltjax\.report: error: FileNotFoundError: workdir \S+/none does not exist"),
    "feature_report: missing features": (
        ["ltjax.dlsa.feature_report", "--config=configs/dlsa/digits_lt_ce.py",
         "--features={tmp}/none"],
        r"ltjax\.dlsa\.feature_report: error: FileNotFoundError: config\.dlsa\.features="
        r"'\S+/none' is not a directory"),
}


def _run(args, tmp_path, traceback=False):
  args = [a.replace("{tmp}", str(tmp_path)) for a in args]
  out = ["--out", str(tmp_path / "out")] if args[0] in ("ltjax.report",
                                                        "ltjax.dlsa.feature_report") else [
                                                            f"--workdir={tmp_path / 'w'}"]
  env = {k: v for k, v in os.environ.items() if k != cli.TRACEBACK_ENV}
  if traceback:
    env[cli.TRACEBACK_ENV] = "1"
  return subprocess.run([sys.executable, "-m", *args, *out], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("case", sorted(CASES))
def test_entry_point_ends_a_bad_input_with_one_sentence(case, tmp_path):
  args, pattern = CASES[case]
  proc = _run(args, tmp_path)
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  *_, sentence, hint = proc.stderr.strip().splitlines()
  assert re.match(pattern, sentence), sentence
  assert hint == HINT
  assert not (tmp_path / "out").exists() and not (tmp_path / "w" / "results.json").exists()


def test_the_traceback_comes_back_on_request(tmp_path):
  proc = _run(CASES["main: an override of a key the config lacks"][0], tmp_path,
              traceback=True)
  assert proc.returncode != 0
  assert "Traceback" in proc.stderr and HINT not in proc.stderr
