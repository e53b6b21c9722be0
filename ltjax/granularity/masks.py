"""Per-sample silencing masks from a neighbour table (granularity.md §2, mask variants)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

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
