"""The neighbour-silencing loss of category extrapolation ("Granularity Matters", granularity.md §2).

A logit-adjusted softmax cross-entropy over target + auxiliary classes in which each sample's
silenced classes leave the softmax: they get no probability mass and no gradient, and target
mass on them is dropped (not renormalised), as the official `Bal_CE_loss`.
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
