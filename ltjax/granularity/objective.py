"""The `neighbor_silencing` objective: logit-adjusted softmax over targets + auxiliary
classes, each sample silencing the classes its variant names (`aux.silencing`)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ltjax import losses


def silencing_objective(spec: losses.LossSpec,
                        ctx: losses.ObjectiveContext) -> losses.BaseObjective:
  """`neighbor_silencing_loss` over all C classes with the fixed prior of the (capped) counts,
  tau = `loss.la_tau`, each sample's silenced classes from `silencing_mask(labels, neighbors,
  C, silencing)` (nothing without a table: `ctx.inputs` from `attach.attach`). The mask
  follows the hard labels (the label before mixing, as the official code)."""
  neighbors = ctx.inputs.get("neighbors")
  variant = ctx.inputs.get("silencing", "none")
  if neighbors is not None:
    neighbors = np.asarray(neighbors, np.int32)

  def base(logits, features, labels, epoch, targets=None):
    del features, epoch
    if neighbors is None:
      silenced = jnp.zeros(logits.shape, bool)
    else:
      silenced = losses.silencing_mask(labels, neighbors, logits.shape[-1], variant)
    return jnp.mean(losses.neighbor_silencing_loss(
        logits, labels if targets is None else targets, ctx.class_counts, silenced,
        spec.la_tau))

  return base


OBJECTIVE = losses.Objective(silencing_objective, soft_targets=True)
