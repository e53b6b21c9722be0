"""Pure per-example losses for long-tailed classification.

The functions are the public API (`cross_entropy`, `focal_loss`, `ldam_loss`, ...). For the
trainer, `from_config(config.loss)` builds `loss_fn(logits, labels, class_counts, weights)`
from a registry of names, and `class_weights_schedule` gives the per-class weights of the
configured re-weighting (none / class-balanced / deferred re-weighting) at an epoch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections

from ltjax.core import plugins
from ltjax.core import rules
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
  """The shared `config.loss` keys with their defaults (`default_config` builds the section
  from these fields, so each key is declared once) as plain Python values: jitted and traced
  code closes over this frozen dataclass, never over a ConfigDict.

  A method's own loss keys live in its own frozen dataclass (`MethodRecord.loss_settings`);
  an objective whose spec needs them subclasses both (e.g. `ltjax.ride.objective.RideSpec`).

  Attributes:
    name: a key of `OBJECTIVES`.
    focal_gamma: focal loss gamma (LDAM-DRW's focal runs use 1).
    ldam_max_margin, ldam_scale: LDAM's largest margin and the cosine-logit scale.
    la_tau: logit-adjustment strength tau.
    reweight: per-class loss weights, "none", "cb" (class-balanced from the start) or "drw"
      (class-balanced from `drw_epoch` on; Cao et al.).
    cb_beta: the class-balanced weights' beta.
    drw_epoch: the (0-based) epoch deferred re-weighting starts.
  """

  name: str = rules.field("ce", rules.Choice(lambda: sorted(OBJECTIVES)))
  focal_gamma: float = rules.field(1.0, rules.NON_NEGATIVE)
  ldam_max_margin: float = rules.field(0.5, rules.POSITIVE)
  ldam_scale: float = rules.field(30.0, rules.POSITIVE)
  la_tau: float = rules.field(1.0, rules.REAL)
  reweight: str = rules.field("none", rules.Choice(REWEIGHTS))
  cb_beta: float = rules.field(0.9999, rules.UNIT_OPEN)
  drw_epoch: int = rules.field(160, rules.NON_NEGATIVE_INT)

  @classmethod
  def from_config(cls, loss_config) -> "LossSpec":
    """This spec's fields from `config.loss` (a ConfigDict, a dict or another spec); the
    section's other keys belong to other objectives' specs (`config.validate` refuses a key
    that no spec declares)."""
    if isinstance(loss_config, cls):
      return loss_config
    if dataclasses.is_dataclass(loss_config):
      loss_config = dataclasses.asdict(loss_config)
    values = {f.name: loss_config[f.name] for f in dataclasses.fields(cls)
              if f.name in loss_config}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


@dataclasses.dataclass(frozen=True)
class ObjectiveContext:
  """What the trainer knows beyond the loss settings.

  Attributes:
    class_counts: (C,) prior counts over all trained classes.
    num_experts: the model's experts (1 for a one-head model).
    inputs: what a method attached for its objective (`plugins.Attachment.objective_inputs`,
      e.g. category extrapolation's neighbour table); empty for the baselines.
  """

  class_counts: jax.Array
  num_experts: int = 1
  inputs: Mapping[str, Any] = dataclasses.field(default_factory=dict)


# base(logits, features, labels, epoch, targets=None) -> scalar: one batch's loss.
# `targets` are soft targets (mixup / cutmix / label smoothing) or None.
BaseObjective = Callable[..., jax.Array]


@dataclasses.dataclass(frozen=True)
class Objective:
  """A registry entry: how to build the batch objective of one `loss.name`.

  Attributes:
    build: (spec, ObjectiveContext) -> BaseObjective.
    multi_expert: it reads each expert's logits (features["expert_logits"]), so it needs a
      multi-expert model.
    soft_targets: it takes soft targets (mixup, cutmix, label smoothing).
    spec: the frozen dataclass its settings are read into (`spec.from_config(section)`).
    spec_section: the config section the spec reads: "loss", or a method's own section
      (e.g. a loss whose scalar lives in `config.<its section>`).
    check: optional (config) -> None raising ValueError for a combination it cannot train
      (e.g. LDAM without its cosine classifier), called by `config.validate`.
  """

  build: Callable[[Any, ObjectiveContext], BaseObjective]
  multi_expert: bool = False
  soft_targets: bool = False
  spec: type = LossSpec
  spec_section: str = "loss"
  check: Callable[[Any], None] | None = None


def soft_target_tau(loss_config) -> float:
  """The logit-adjustment strength under which a softmax-family loss equals
  `neighbor_silencing_loss` with nothing silenced: how they take soft targets (mixup, label
  smoothing). ce: 0; balanced softmax: 1 (log n_c and log pi_c differ by a constant);
  logit_adjusted: loss.la_tau."""
  taus = {"ce": 0.0, "balanced_softmax": 1.0, "logit_adjusted": loss_config.la_tau}
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


def _check_ldam(config) -> None:
  if not config.model.normed_classifier:
    raise ValueError("loss.name='ldam' scales cosine logits by loss.ldam_scale, so it needs "
                     "LDAM's normalised classifier: set model.normed_classifier=True")


# loss.name -> its batch objective: the baselines here, each method's from its room's record
# (`plugins.MethodRecord.objectives`). Adding a loss = a function + one entry (here, in a
# room's record, or `OBJECTIVES["name"] = Objective(...)` from user code before the run).
OBJECTIVES = plugins.Collected("objectives", {
    name: Objective(_per_example_objective,
                    soft_targets=name in ("ce", "balanced_softmax", "logit_adjusted"),
                    check=_check_ldam if name == "ldam" else None)
    for name in LOSSES})


def objective(loss_config, class_counts: jax.Array, num_experts: int = 1,
              inputs: Mapping[str, Any] | None = None,
              config=None) -> Callable[..., jax.Array]:
  """The trainer's scalar batch objective
  `(logits, features, labels, epoch, targets=None, **step_inputs)` for `loss.name`
  (`OBJECTIVES`), from `config.loss` or a spec. `inputs`: what a method attached for its
  objective (`ObjectiveContext.inputs`). `config`: the whole config, for an objective whose
  spec reads its own section (`Objective.spec_section`). The step's own inputs (e.g. a
  teacher's logits) are read by the terms a method adds around this objective
  (`TrainingHooks.wrap_objective`).
  """
  name = loss_config.name
  if name not in OBJECTIVES:
    raise ValueError(f"unknown config.loss.name {name!r}; known losses: {sorted(OBJECTIVES)}")
  entry = OBJECTIVES[name]
  source = loss_config
  if entry.spec_section != "loss":
    if config is None or entry.spec_section not in config:
      raise ValueError(f"loss {name!r} reads config.{entry.spec_section}: pass the whole "
                       "config (losses.objective(config.loss, ..., config=config))")
    source = config[entry.spec_section]
  spec = entry.spec.from_config(source)
  base = entry.build(spec, ObjectiveContext(class_counts, num_experts, dict(inputs or {})))

  def total(logits, features, labels, epoch, targets=None, **step_inputs):
    del step_inputs
    if targets is None:
      return base(logits, features, labels, epoch)
    return base(logits, features, labels, epoch, targets=targets)

  return total
