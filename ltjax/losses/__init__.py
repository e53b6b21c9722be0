"""Pure per-example losses for long-tailed classification.

The functions are the public API (`cross_entropy`, `focal_loss`, `ldam_loss`, ...). For the
trainer, `from_config(config.loss)` builds `loss_fn(logits, labels, class_counts, weights)`
from a registry of names, and `class_weights_schedule` gives the per-class weights of the
configured re-weighting (none / class-balanced / deferred re-weighting) at an epoch.
"""

from __future__ import annotations

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
# Losses that need the model's per-expert outputs rather than only its logits.
MULTI_EXPERT_LOSSES = ("ride",)
# Batch objectives over target + auxiliary classes (category extrapolation).
SILENCING_LOSSES = ("neighbor_silencing",)
# Every valid `loss.name`.
ALL_LOSSES = (*LOSSES, *MULTI_EXPERT_LOSSES, *SILENCING_LOSSES)


def soft_target_tau(loss_config: ml_collections.ConfigDict) -> float:
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


def from_config(loss_config: ml_collections.ConfigDict) -> LossFn:
  """The trainer's loss_fn(logits, labels, class_counts, weights=None) for `loss.name`."""
  if loss_config.name in MULTI_EXPERT_LOSSES + SILENCING_LOSSES:
    raise ValueError(f"loss {loss_config.name!r} is a batch objective: use objective()")
  if loss_config.name not in LOSSES:
    raise ValueError(f"unknown config.loss.name {loss_config.name!r}; known losses: "
                     f"{sorted(LOSSES)}")
  return LOSSES[loss_config.name](loss_config)


def class_weights_schedule(loss_config: ml_collections.ConfigDict,
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


def objective(loss_config: ml_collections.ConfigDict, class_counts: jax.Array,
              num_experts: int = 1, neighbors: jax.Array | None = None,
              silencing: str = "none") -> Callable[..., jax.Array]:
  """The trainer's scalar batch objective
  `(logits, features, labels, epoch, teacher_logits=None, targets=None)`.

  `targets` (B, C) are soft targets (mixup / cutmix / label smoothing); the silencing mask
  always follows the hard `labels` (the label before mixing, as the official code).

  - per-example losses (`LOSSES`): sum(w_i l_i) / sum(w_i) with the class weights of
    `loss.reweight` at this epoch (PyTorch's weighted mean);
  - "neighbor_silencing": `neighbor_silencing_loss` over all C classes with the fixed prior of
    `class_counts` (the capped counts), tau = `loss.la_tau`, each sample's silenced classes
    from `silencing_mask(labels, neighbors, C, silencing)` (nothing without a table);
  - soft targets with ce / balanced_softmax / logit_adjusted: `neighbor_silencing_loss` with
    nothing silenced and `soft_target_tau`;
  - "ride": `ride_loss` on features["expert_logits"], DRW phase from `loss.drw_epoch` on
    (0-based epochs, i.e. epoch > drw_epoch 1-based as the reference);
  - with `teacher_logits` (RIDE distillation): + `loss.distill_weight` * the KD term on the mean
    logits, and the reference's multiplication of the whole loss by the number of experts
    when `loss.distill_times_experts`.
  """
  if loss_config.name == "ride":
    def base(logits, features, labels, epoch):
      del logits
      return ride_loss(features["expert_logits"], labels, class_counts,
                       drw_active=epoch >= loss_config.drw_epoch,
                       diversity_factor=loss_config.ride_diversity_factor,
                       base_temperature=loss_config.ride_base_temperature,
                       reweight_factor=loss_config.ride_reweight_factor,
                       max_margin=loss_config.ldam_max_margin, scale=loss_config.ldam_scale)
  elif loss_config.name in SILENCING_LOSSES:
    from ltjax.granularity import masks  # pylint: disable=g-import-not-at-top

    def base(logits, features, labels, epoch, targets=None):
      del features, epoch
      if neighbors is None:
        silenced = jnp.zeros(logits.shape, bool)
      else:
        silenced = masks.silencing_mask(labels, neighbors, logits.shape[-1], silencing)
      return jnp.mean(neighbor_silencing_loss(
          logits, labels if targets is None else targets, class_counts, silenced,
          loss_config.la_tau))
  else:
    per_example = from_config(loss_config)
    weights_at = class_weights_schedule(loss_config, class_counts)

    def base(logits, features, labels, epoch, targets=None):
      del features
      if targets is not None:
        return jnp.mean(neighbor_silencing_loss(
            logits, targets, class_counts, jnp.zeros(logits.shape, bool),
            soft_target_tau(loss_config)))
      weights = None if loss_config.reweight == "none" else weights_at(epoch)[labels]
      return weighted_mean(per_example(logits, labels, class_counts), weights)

  def total(logits, features, labels, epoch, teacher_logits=None, targets=None):
    loss = (base(logits, features, labels, epoch) if targets is None
            else base(logits, features, labels, epoch, targets=targets))
    if teacher_logits is None:
      return loss
    loss = loss + loss_config.distill_weight * distillation_loss(
        logits, teacher_logits, loss_config.distill_temperature)
    return loss * (num_experts if loss_config.distill_times_experts else 1)

  return total
