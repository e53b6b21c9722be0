"""RIDE's objectives: the multi-expert loss (`loss.name = "ride"`) and distillation from a
finished teacher run (on while `distill.teacher_workdir` is set), as the framework's hooks."""

from __future__ import annotations

import dataclasses

import jax

from ltjax import losses
from ltjax.core import plugins
from ltjax.core import rules
from ltjax.ride import distill


@dataclasses.dataclass(frozen=True)
class RideSettings:
  """RIDE's keys in `config.loss` (loss.name = "ride").

  Attributes:
    ride_diversity_factor: the diversity loss's lambda (negative: experts pushed apart).
    ride_base_temperature: alpha of the distribution-aware temperature.
    ride_reweight_factor: gamma of the temperature's re-weighting.
  """

  ride_diversity_factor: float = rules.field(-0.45, rules.REAL)
  ride_base_temperature: float = rules.field(1.0, rules.POSITIVE)
  ride_reweight_factor: float = rules.field(0.05, rules.NON_NEGATIVE)


@dataclasses.dataclass(frozen=True)
class RideSpec(RideSettings, losses.LossSpec):
  """Everything `ride_loss` reads: the shared keys (DRW epoch, LDAM margin and scale) and
  RIDE's own."""


@dataclasses.dataclass(frozen=True)
class DistillSettings:
  """Distillation's keys in `config.loss` (read when `distill.teacher_workdir` is set).

  Attributes:
    distill_weight: the weight of the KD term.
    distill_temperature: its softmax temperature.
    distill_times_experts: the reference multiplies the whole loss by the number of experts.
  """

  distill_weight: float = rules.field(1.0, rules.NON_NEGATIVE)
  distill_temperature: float = rules.field(1.5, rules.POSITIVE)
  distill_times_experts: bool = rules.field(True, rules.Flag())

  @classmethod
  def from_config(cls, loss_config) -> "DistillSettings":
    return cls(**{f.name: loss_config[f.name] for f in dataclasses.fields(cls)})


def ride_objective(spec: RideSpec, ctx: losses.ObjectiveContext) -> losses.BaseObjective:
  """`ride_loss` on features["expert_logits"], DRW phase from `loss.drw_epoch` on (0-based
  epochs, i.e. epoch > drw_epoch 1-based as the reference)."""

  def base(logits, features, labels, epoch, targets=None):
    del logits, targets
    return losses.ride_loss(features["expert_logits"], labels, ctx.class_counts,
                            drw_active=epoch >= spec.drw_epoch,
                            diversity_factor=spec.ride_diversity_factor,
                            base_temperature=spec.ride_base_temperature,
                            reweight_factor=spec.ride_reweight_factor,
                            max_margin=spec.ldam_max_margin, scale=spec.ldam_scale)

  return base


OBJECTIVE = losses.Objective(ride_objective, multi_expert=True, spec=RideSpec)


def check_teacher(config) -> None:
  """Before the student's data loads: the teacher is a finished run with a readable config."""
  if config.distill.teacher_workdir:
    distill.check_teacher(config.distill.teacher_workdir)


def teacher_input(setup) -> plugins.StepInput | None:
  """The teacher's logits on each step's (augmented, normalised) images, or None without a
  teacher. Its BatchNorm runs on batch statistics when `distill.teacher_train_bn` (the
  reference never puts its teacher in eval mode); running statistics are not updated."""
  config = setup.config
  if not config.distill.teacher_workdir:
    return None
  teacher, variables = distill.load_teacher(config.distill.teacher_workdir,
                                            setup.splits.num_classes, setup.replicated)
  train_bn = config.distill.teacher_train_bn

  def compute(teacher_variables, images):
    if train_bn:
      (logits, _), _ = teacher.apply(teacher_variables, images, train=True,
                                     mutable=["batch_stats"])
    else:
      logits, _ = teacher.apply(teacher_variables, images, train=False)
    return {"teacher_logits": jax.lax.stop_gradient(logits)}

  return plugins.StepInput(name="teacher", variables=variables, compute=compute)


def with_distillation(objective, config, num_experts: int):
  """`objective` + `loss.distill_weight` x the KD term on the mean logits, the whole loss
  multiplied by the number of experts when `loss.distill_times_experts` (the reference);
  unchanged without a teacher."""
  if not config.distill.teacher_workdir:
    return objective
  spec = DistillSettings.from_config(config.loss)
  times = num_experts if spec.distill_times_experts else 1

  def total(logits, features, labels, epoch, targets=None, **step_inputs):
    loss = objective(logits, features, labels, epoch, targets=targets, **step_inputs)
    loss = loss + spec.distill_weight * losses.distillation_loss(
        logits, step_inputs["teacher_logits"], spec.distill_temperature)
    return loss * times

  return total
