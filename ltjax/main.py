r"""Command-line entry point: parse flags, start JAX, call `train.train_and_evaluate`.

  python -m ltjax.main --config configs/cifar100_lt/ce.py --workdir runs/ce \
      --config.dataset.imbalance_factor=50

A config file may take an argument after a colon (`configs/digits_lt/ce.py:smoke`). The config
is locked: an override of a key that does not exist fails and names the key. Running the same
command again resumes from the latest checkpoint in the workdir.
"""

from __future__ import annotations

import logging as logging_std
import os

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

import ltjax.methods  # pylint: disable=unused-import  (registers the installed method rooms)
from ltjax.core import cli
from ltjax.core import plugins
from ltjax.core import sharding

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file (optionally `path.py:arg`).", lock_config=True)
# Kept public name: the errors reported as their one sentence (`ltjax.core.cli`).
USER_ERRORS = cli.USER_ERRORS
_PROG = "ltjax"
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
flags.mark_flags_as_required(["config", "workdir"])


# The directory of this package's own modules. absl sends every library's records through one
# logger ("absl"), so the logger name cannot tell ltjax from Orbax; the module's file can. A
# substring such as "/ltjax/" cannot either: a checkout named ltjax holds its venv, Orbax and
# all, under that path.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class QuietLibraries(logging_std.Filter):
  """Keeps warnings and errors from everyone, INFO only from ltjax's own modules."""

  def __init__(self, package_dir: str = _PACKAGE_DIR):
    super().__init__()
    self.package_dir = package_dir

  def filter(self, record):
    if record.levelno >= logging_std.WARNING:
      return True
    return os.path.abspath(record.pathname).startswith(self.package_dir)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(QuietLibraries())
  config = cli.config_value(_CONFIG, _PROG)
  stages = stage_loaders()
  if config.stage not in stages:
    cli.fail(_PROG, f"config.stage={config.stage!r} is not a stage; choose one of "
             f"{list(stages)} (--config.stage=train)")
  sharding.maybe_initialize_distributed()  # before any other JAX call
  import jax  # pylint: disable=g-import-not-at-top
  logging.info("JAX %s, process %d/%d, devices: %s", jax.__version__, jax.process_index(),
               jax.process_count(), jax.devices())
  with cli.user_errors_as_one_sentence(_PROG):
    stages[config.stage]()(config, _WORKDIR.value)


def _train_stage():
  from ltjax import train  # pylint: disable=g-import-not-at-top  (after distributed init)
  return train.train_and_evaluate


def stage_loaders() -> dict:
  """config.stage -> a loader of its entry point `run(config, workdir)`: the training stage
  and every registered room's (`MethodRecord.stages`), loaded on use."""
  return {"train": _train_stage, **{name: load for r in plugins.records()
                                    for name, load in r.stages.items()}}


def run():
  app.run(main, flags_parser=cli.parse_flags(_PROG))


if __name__ == "__main__":
  run()
