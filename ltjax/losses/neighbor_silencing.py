"""The neighbour-silencing loss of category extrapolation ("Granularity Matters", granularity.md §2).

A logit-adjusted softmax cross-entropy over target + auxiliary classes in which each sample's
silenced classes leave the softmax: they get no probability mass and no gradient, and target
mass on them is dropped (not renormalised), as the official `Bal_CE_loss`. `silencing_mask`
builds the silenced set from the neighbour table; the loss owns it, so the objective needs
nothing from `ltjax.granularity`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def neighbor_silencing_loss(logits: jax.Array, targets: jax.Array, class_counts: jax.Array,
                            silenced: jax.Array, tau: float = 1.0) -> jax.Array:
  """Per-example loss (B,).

  Args:
    logits: (B, C) over all C = target + auxiliary classes (any float dtype; the softmax runs
      in float32).
    targets: int labels (B,) or soft targets (B, C) (mixup / label smoothing).
    class_counts: (C,) capped training counts of all C classes (the prior stays fixed).
    silenced: (B, C) bool, True where a class leaves that sample's softmax.
    tau: logit-adjustment strength; z' = z + tau * log(n_c / sum n + 1e-9) (the 1e-9 is the
      official code's, so a class with no images gets a very low but finite prior).

  Returns:
    -sum_c q_c log softmax(z')_c over the kept classes, per example.
  """
  logits = logits.astype(jnp.float32)
  counts = jnp.asarray(class_counts, jnp.float32)
  prior = jnp.log(counts / jnp.sum(counts) + 1e-9)
  adjusted = logits + tau * prior[None, :]
  # -inf through `where` (never a finite big constant): exactly zero mass and zero gradient.
  adjusted = jnp.where(silenced, -jnp.inf, adjusted)
  log_probs = jax.nn.log_softmax(adjusted, axis=-1)
  if targets.ndim == 1:
    q = jax.nn.one_hot(targets, logits.shape[-1], dtype=jnp.float32)
  else:
    q = targets.astype(jnp.float32)
  terms = jnp.where(silenced, 0.0, q * jnp.where(silenced, 0.0, log_probs))
  return -jnp.sum(terms, axis=-1)


# Which classes a sample silences (granularity.md §2, mask variants).
VARIANTS = ("none", "neighbors", "neighbors_and_aux")


def silencing_mask(labels: jax.Array, neighbors: jax.Array, num_classes: int,
                   variant: str = "neighbors_and_aux") -> jax.Array:
  """(B, C) bool: True where class c leaves sample b's softmax.

  Args:
    labels: (B,) int hard labels (the label before mixup, as the official code).
    neighbors: (T, K) int auxiliary class ids (T .. C-1) of each target class, padded with -1.
    num_classes: C = T + number of auxiliary classes.
    variant: "none" (nothing silenced); "neighbors" (a target sample silences its own
      neighbours; an auxiliary sample silences its parents, every target listing it);
      "neighbors_and_aux" (as "neighbors", and an auxiliary sample also silences every other
      auxiliary class: the official final `no_fm_remove_normal_neg_back`).

  Returns:
    (B, C) bool; a sample never silences its own class.
  """
  if variant not in VARIANTS:
    raise ValueError(f"unknown silencing variant {variant!r}; choose one of {list(VARIANTS)}")
  labels = jnp.asarray(labels, jnp.int32)
  neighbors = jnp.asarray(neighbors, jnp.int32)
  batch = labels.shape[0]
  if variant == "none":
    return jnp.zeros((batch, num_classes), bool)
  num_targets = neighbors.shape[0]
  is_aux = labels >= num_targets
  # Target samples: scatter their neighbour ids (padding -1 goes out of range and is dropped).
  own = neighbors[jnp.clip(labels, 0, num_targets - 1)]  # (B, K)
  own = jnp.where((own >= 0) & ~is_aux[:, None], own, num_classes)
  rows = jnp.broadcast_to(jnp.arange(batch)[:, None], own.shape)
  mask = jnp.zeros((batch, num_classes), bool).at[rows, own].set(True, mode="drop")
  # Auxiliary samples: their parents are the targets whose row lists them.
  parents = jnp.any(neighbors[None, :, :] == labels[:, None, None], axis=-1)  # (B, T)
  parents = parents & is_aux[:, None]
  mask = mask.at[:, :num_targets].set(mask[:, :num_targets] | parents)
  if variant == "neighbors_and_aux":
    aux = jnp.arange(num_classes) >= num_targets
    mask = mask | (is_aux[:, None] & aux[None, :])
  own_class = jax.nn.one_hot(labels, num_classes, dtype=bool)
  return mask & ~own_class
