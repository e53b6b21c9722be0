r"""Command-line entry point: parse flags, start JAX, call `train.train_and_evaluate`.

  python -m ltjax.main --config configs/cifar100_lt/ce.py --workdir runs/ce \
      --config.dataset.imbalance_factor=50

A config file may take an argument after a colon (`configs/digits_lt/ce.py:smoke`). The config
is locked: an override of a key that does not exist fails and names the key. Running the same
command again resumes from the latest checkpoint in the workdir.
"""

from __future__ import annotations

import logging as logging_std

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from ltjax import sharding

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file (optionally `path.py:arg`).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
flags.mark_flags_as_required(["config", "workdir"])


class _QuietLibraries(logging_std.Filter):
  """Drops the INFO chatter of Orbax and absl-using libraries so progress lines stand out."""

  def filter(self, record):
    return record.levelno >= logging_std.WARNING or "/ltjax/" in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(_QuietLibraries())
  sharding.maybe_initialize_distributed()  # before any other JAX call
  import jax  # pylint: disable=g-import-not-at-top
  from ltjax import stage2  # pylint: disable=g-import-not-at-top
  from ltjax.dlsa import stage as dlsa_stage  # pylint: disable=g-import-not-at-top
  from ltjax import train  # pylint: disable=g-import-not-at-top
  logging.info("JAX %s, process %d/%d, devices: %s", jax.__version__, jax.process_index(),
               jax.process_count(), jax.devices())
  stages = {"train": train.train_and_evaluate, "decoupled": stage2.run,
            "dlsa": dlsa_stage.run}
  stages[_CONFIG.value.stage](_CONFIG.value, _WORKDIR.value)


def run():
  app.run(main)


if __name__ == "__main__":
  run()
