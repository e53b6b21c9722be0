"""`config.distill`: RIDE distillation's section of the config, with its defaults."""

from __future__ import annotations

import ml_collections


def section() -> ml_collections.ConfigDict:
  """The `distill` section (off while `teacher_workdir` is "")."""
  c = ml_collections.ConfigDict()
  c.teacher_workdir = ""  # a finished run (e.g. a 6-expert RIDE) used as teacher
  c.teacher_train_bn = True  # the reference never puts its teacher in eval mode
  return c
