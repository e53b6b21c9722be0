"""`config.distill`: RIDE distillation's section of the config, with its defaults. RIDE's keys
in `config.loss` are `ltjax.ride.objective.RideSettings` and `DistillSettings`."""

from __future__ import annotations

import ml_collections

from ltjax.config import checks


def section() -> ml_collections.ConfigDict:
  """The `distill` section (off while `teacher_workdir` is "")."""
  c = ml_collections.ConfigDict()
  c.teacher_workdir = ""  # a finished run (e.g. a 6-expert RIDE) used as teacher
  c.teacher_train_bn = True  # the reference never puts its teacher in eval mode
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key for a meaningless distillation setting."""
  lc = config.loss
  checks.positive(lc.distill_temperature, "loss.distill_temperature")
  checks.positive(lc.distill_weight, "loss.distill_weight", allow_zero=True)
  if not isinstance(lc.ride_diversity_factor, (int, float)):
    raise ValueError("config.loss.ride_diversity_factor must be a number, got "
                     f"{lc.ride_diversity_factor!r}")
  checks.positive(lc.ride_base_temperature, "loss.ride_base_temperature")
  checks.positive(lc.ride_reweight_factor, "loss.ride_reweight_factor", allow_zero=True)
