"""Pure per-example losses for long-tailed classification.

The functions are the public API (`cross_entropy`, `focal_loss`, `ldam_loss`, ...). For the
trainer, `from_config(config.loss)` builds `loss_fn(logits, labels, class_counts, weights)`
from a registry of names, and `class_weights_schedule` gives the per-class weights of the
configured re-weighting (none / class-balanced / deferred re-weighting) at an epoch.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections

from ltjax.losses.classification import cross_entropy
from ltjax.losses.classification import weighted_mean
from ltjax.losses.long_tail import adjust_logits_posthoc
from ltjax.losses.long_tail import balanced_softmax_loss
from ltjax.losses.long_tail import class_balanced_weights
from ltjax.losses.long_tail import focal_loss
from ltjax.losses.long_tail import ldam_loss
from ltjax.losses.long_tail import ldam_margins
from ltjax.losses.long_tail import logit_adjusted_loss
from ltjax.losses.neighbor_silencing import neighbor_silencing_loss
from ltjax.losses.neighbor_silencing import silencing_mask
from ltjax.losses.ride import distillation_loss
from ltjax.losses.ride import diversity_temperature
from ltjax.losses.ride import ride_loss

LossFn = Callable[..., jax.Array]

# name -> builder(loss config) -> loss_fn(logits, labels, class_counts, weights=None) -> (B,)
LOSSES: dict[str, Callable[[ml_collections.ConfigDict], LossFn]] = {
    "ce": lambda lc: lambda z, y, n, w=None: cross_entropy(z, y, w),
    "focal": lambda lc: lambda z, y, n, w=None: focal_loss(z, y, lc.focal_gamma, w),
    "ldam": lambda lc: lambda z, y, n, w=None: ldam_loss(z, y, n, lc.ldam_max_margin,
                                                        lc.ldam_scale, w),
    "balanced_softmax": lambda lc: lambda z, y, n, w=None: balanced_softmax_loss(z, y, n, w),
    "logit_adjusted": lambda lc: lambda z, y, n, w=None: logit_adjusted_loss(z, y, n,
                                                                            lc.la_tau, w),
}
REWEIGHTS = ("none", "cb", "drw")


@dataclasses.dataclass(frozen=True)
class LossSpec:
  """The `config.loss` values an objective reads, as plain Python values: jitted and traced
  code closes over this frozen dataclass, never over a ConfigDict."""

  name: str = "ce"
  focal_gamma: float = 1.0
  ldam_max_margin: float = 0.5
  ldam_scale: float = 30.0
  la_tau: float = 1.0
  reweight: str = "none"
  cb_beta: float = 0.9999
  drw_epoch: int = 160
  ride_diversity_factor: float = -0.45
  ride_base_temperature: float = 1.0
  ride_reweight_factor: float = 0.05
  distill_weight: float = 1.0
  distill_temperature: float = 1.5
  distill_times_experts: bool = True

  @classmethod
  def from_config(cls, loss_config) -> "LossSpec":
    """From `config.loss` (a ConfigDict or a LossSpec; keys it does not know are ignored)."""
    if isinstance(loss_config, cls):
      return loss_config
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in dict(loss_config).items() if k in names})


@dataclasses.dataclass(frozen=True)
class ObjectiveContext:
  """What the trainer knows beyond the loss settings: the prior counts over all C trained
  classes, the neighbour table and silencing rule of category extrapolation."""

  class_counts: jax.Array
  neighbors: jax.Array | None = None
  silencing: str = "none"


# base(logits, features, labels, epoch, targets=None) -> scalar: one batch's loss before
# distillation. `targets` are soft targets (mixup / cutmix / label smoothing) or None.
BaseObjective = Callable[..., jax.Array]


@dataclasses.dataclass(frozen=True)
class Objective:
  """A registry entry: how to build the batch objective of one `loss.name`.

  Attributes:
    build: (LossSpec, ObjectiveContext) -> BaseObjective.
    multi_expert: it reads each expert's logits (features["expert_logits"]), so it needs a
      multi-expert model.
    soft_targets: it takes soft targets (mixup, cutmix, label smoothing).
  """

  build: Callable[[LossSpec, ObjectiveContext], BaseObjective]
  multi_expert: bool = False
  soft_targets: bool = False


def soft_target_tau(loss_config) -> float:
  """The logit-adjustment strength under which a softmax-family loss equals
  `neighbor_silencing_loss` with nothing silenced: how they take soft targets (mixup, label
  smoothing). ce: 0; balanced softmax: 1 (log n_c and log pi_c differ by a constant);
  logit_adjusted and neighbor_silencing: loss.la_tau."""
  taus = {"ce": 0.0, "balanced_softmax": 1.0, "logit_adjusted": loss_config.la_tau,
          "neighbor_silencing": loss_config.la_tau}
  if loss_config.name not in taus:
    raise ValueError(f"loss {loss_config.name!r} does not take soft targets (mixup, cutmix, "
                     f"label smoothing); use one of {sorted(taus)}")
  return taus[loss_config.name]


def from_config(loss_config) -> LossFn:
  """The trainer's loss_fn(logits, labels, class_counts, weights=None) for `loss.name`."""
  if loss_config.name in OBJECTIVES and loss_config.name not in LOSSES:
    raise ValueError(f"loss {loss_config.name!r} is a batch objective: use objective()")
  if loss_config.name not in LOSSES:
    raise ValueError(f"unknown config.loss.name {loss_config.name!r}; known losses: "
                     f"{sorted(LOSSES)}")
  return LOSSES[loss_config.name](loss_config)


def class_weights_schedule(loss_config,
                           class_counts: jax.Array) -> Callable[[jax.Array], jax.Array]:
  """weights(epoch) -> (C,) per-class loss weights for `loss.reweight`.

  "none": ones; "cb": class-balanced weights (beta = loss.cb_beta) from the start; "drw":
  deferred re-weighting (Cao et al.) — ones before epoch `loss.drw_epoch`, class-balanced
  weights from then on.
  """
  if loss_config.reweight not in REWEIGHTS:
    raise ValueError(f"unknown config.loss.reweight {loss_config.reweight!r}; choose one of "
                     f"{list(REWEIGHTS)}")
  ones = jnp.ones((len(class_counts),), jnp.float32)
  balanced = class_balanced_weights(class_counts, loss_config.cb_beta)
  if loss_config.reweight == "none":
    return lambda epoch: ones
  if loss_config.reweight == "cb":
    return lambda epoch: balanced
  return lambda epoch: jnp.where(epoch >= loss_config.drw_epoch, balanced, ones)


def _per_example_objective(spec: LossSpec, ctx: ObjectiveContext) -> BaseObjective:
  """A `LOSSES` entry as a batch objective: sum(w_i l_i) / sum(w_i) with the class weights of
  `loss.reweight` at this epoch (PyTorch's weighted mean); soft targets go through
  `neighbor_silencing_loss` with nothing silenced and `soft_target_tau`."""
  per_example = from_config(spec)
  weights_at = class_weights_schedule(spec, ctx.class_counts)

  def base(logits, features, labels, epoch, targets=None):
    del features
    if targets is not None:
      return jnp.mean(neighbor_silencing_loss(
          logits, targets, ctx.class_counts, jnp.zeros(logits.shape, bool),
          soft_target_tau(spec)))
    weights = None if spec.reweight == "none" else weights_at(epoch)[labels]
    return weighted_mean(per_example(logits, labels, ctx.class_counts), weights)

  return base


def _ride_objective(spec: LossSpec, ctx: ObjectiveContext) -> BaseObjective:
  """`ride_loss` on features["expert_logits"], DRW phase from `loss.drw_epoch` on (0-based
  epochs, i.e. epoch > drw_epoch 1-based as the reference)."""

  def base(logits, features, labels, epoch, targets=None):
    del logits, targets
    return ride_loss(features["expert_logits"], labels, ctx.class_counts,
                     drw_active=epoch >= spec.drw_epoch,
                     diversity_factor=spec.ride_diversity_factor,
                     base_temperature=spec.ride_base_temperature,
                     reweight_factor=spec.ride_reweight_factor,
                     max_margin=spec.ldam_max_margin, scale=spec.ldam_scale)

  return base


def _silencing_objective(spec: LossSpec, ctx: ObjectiveContext) -> BaseObjective:
  """`neighbor_silencing_loss` over all C classes with the fixed prior of the (capped) counts,
  tau = `loss.la_tau`, each sample's silenced classes from `silencing_mask(labels, neighbors,
  C, silencing)` (nothing without a table). The mask follows the hard labels (the label
  before mixing, as the official code)."""

  def base(logits, features, labels, epoch, targets=None):
    del features, epoch
    if ctx.neighbors is None:
      silenced = jnp.zeros(logits.shape, bool)
    else:
      silenced = silencing_mask(labels, ctx.neighbors, logits.shape[-1], ctx.silencing)
    return jnp.mean(neighbor_silencing_loss(
        logits, labels if targets is None else targets, ctx.class_counts, silenced,
        spec.la_tau))

  return base


# loss.name -> its batch objective. Adding a loss = a module with the function + one entry
# here (or `OBJECTIVES["name"] = Objective(...)` from user code before the run).
OBJECTIVES: dict[str, Objective] = {
    **{name: Objective(_per_example_objective,
                       soft_targets=name in ("ce", "balanced_softmax", "logit_adjusted"))
       for name in LOSSES},
    "ride": Objective(_ride_objective, multi_expert=True),
    "neighbor_silencing": Objective(_silencing_objective, soft_targets=True),
}
# Losses that need the model's per-expert outputs rather than only its logits (kept names).
MULTI_EXPERT_LOSSES = tuple(n for n, o in OBJECTIVES.items() if o.multi_expert)
# Batch objectives over target + auxiliary classes (category extrapolation).
SILENCING_LOSSES = ("neighbor_silencing",)
# Every valid `loss.name` at import time (OBJECTIVES is the live registry).
ALL_LOSSES = tuple(OBJECTIVES)


def objective(loss_config, class_counts: jax.Array, num_experts: int = 1,
              neighbors: jax.Array | None = None,
              silencing: str = "none") -> Callable[..., jax.Array]:
  """The trainer's scalar batch objective
  `(logits, features, labels, epoch, teacher_logits=None, targets=None)` for `loss.name`
  (`OBJECTIVES`), from `config.loss` or a `LossSpec`.

  With `teacher_logits` (RIDE distillation): + `loss.distill_weight` * the KD term on the mean
  logits, and the reference's multiplication of the whole loss by the number of experts when
  `loss.distill_times_experts`.
  """
  spec = LossSpec.from_config(loss_config)
  if spec.name not in OBJECTIVES:
    raise ValueError(f"unknown config.loss.name {spec.name!r}; known losses: "
                     f"{sorted(OBJECTIVES)}")
  base = OBJECTIVES[spec.name].build(spec, ObjectiveContext(class_counts, neighbors, silencing))

  def total(logits, features, labels, epoch, teacher_logits=None, targets=None):
    loss = (base(logits, features, labels, epoch) if targets is None
            else base(logits, features, labels, epoch, targets=targets))
    if teacher_logits is None:
      return loss
    loss = loss + spec.distill_weight * distillation_loss(
        logits, teacher_logits, spec.distill_temperature)
    return loss * (num_experts if spec.distill_times_experts else 1)

  return total
