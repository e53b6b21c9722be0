"""Per-example classification losses as pure functions over jax arrays.

Each loss returns one value per example (shape (B,)) and takes an optional per-example
`weights` so that re-weighting schemes (class-balanced weights, deferred re-weighting) compose
with any of them; the caller reduces (`weighted_mean`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def cross_entropy(logits: jax.Array, labels: jax.Array,
                  weights: jax.Array | None = None) -> jax.Array:
  """Softmax cross-entropy with integer labels.

  Args:
    logits: (B, C) logits (computed in float32 whatever their dtype).
    labels: (B,) int class ids.
    weights: optional (B,) per-example weights multiplied into the loss.

  Returns:
    (B,) float32 losses: logsumexp(z) - z_y (times the weight).
  """
  logits = logits.astype(jnp.float32)
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  loss = -jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32), axis=-1)[:, 0]
  return loss if weights is None else loss * weights


def weighted_mean(per_example: jax.Array, weights: jax.Array | None = None) -> jax.Array:
  """Mean of per-example values; with weights, sum(w * l) / sum(w) (PyTorch's `weight=` form)."""
  if weights is None:
    return jnp.mean(per_example)
  return jnp.sum(per_example * weights) / jnp.sum(weights)
