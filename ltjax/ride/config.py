"""`config.distill`: RIDE distillation's section of the config, with its defaults and rules.
RIDE's keys in `config.loss` are `ltjax.ride.objective.RideSettings` and `DistillSettings`
(their fields declare their rules)."""

from __future__ import annotations

from ltjax.core import rules
from ltjax.core.rules import Key


def section() -> dict:
  """The `distill` section (off while `teacher_workdir` is "")."""
  return {
      # A finished run (e.g. a 6-expert RIDE) used as teacher.
      "teacher_workdir": Key("", rules.Text()),
      # The reference never puts its teacher in eval mode.
      "teacher_train_bn": Key(True, rules.Flag()),
  }
