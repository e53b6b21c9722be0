"""Long-tail losses: focal, class-balanced weights, LDAM, balanced softmax, logit adjustment.

All per-example (shape (B,)), computed in float32, jit-able, with `class_counts` (C,) the
training split's images per class. Formulas follow the papers and, where they differ in
details, the reference code named in each docstring.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ltjax.losses.classification import cross_entropy


def _log_prior(class_counts: jax.Array) -> jax.Array:
  """log(n_c / sum n); an empty class gets log(1e-12 / N), i.e. it is all but removed."""
  counts = jnp.asarray(class_counts, jnp.float32)
  return jnp.log(jnp.maximum(counts, 1e-12) / jnp.sum(counts))


def focal_loss(logits: jax.Array, labels: jax.Array, gamma: float,
               weights: jax.Array | None = None) -> jax.Array:
  """Focal loss (Lin et al.): -(1 - p_t)^gamma log p_t; gamma = 0 is cross-entropy.

  (LDAM-DRW's code computes p_t from the class-weighted CE when weights are given; here the
  weight multiplies the Lin et al. term, so re-weighting composes the same way for every loss.)
  """
  ce = cross_entropy(logits, labels)
  one_minus_p = -jnp.expm1(-ce)  # 1 - exp(-ce), accurate when p_t is close to 1
  # x^gamma has an infinite slope at x = 0 for gamma < 1; route x = 0 through a safe branch so
  # the gradient stays finite (the loss there is 0 anyway).
  positive = one_minus_p > 0
  safe = jnp.where(positive, one_minus_p, 1.0)
  modulator = jnp.where(positive, jnp.power(safe, gamma), 0.0 if gamma > 0 else 1.0)
  loss = modulator * ce
  return loss if weights is None else loss * weights


def class_balanced_weights(class_counts: jax.Array, beta: float) -> jax.Array:
  """Cui et al. effective-number weights (1 - beta) / (1 - beta^n_c), summing to C.

  As in LDAM-DRW's DRW code: beta = 0 gives all ones; empty classes get weight 0.
  """
  counts = jnp.asarray(class_counts, jnp.float32)
  # 1 - beta^n as -expm1(n log(beta)), with log(beta) = log1p(-(1 - beta)) taken from the
  # float64 1 - beta: beta = 0.9999 itself rounds in float32, which put the weights 3.7e-5
  # (relative) off the references' float64 values (experiments/results/lockstep_*.md).
  log_beta = jnp.log1p(jnp.float32(-(1.0 - beta))) if beta > 0 else jnp.float32(-jnp.inf)
  effective = -jnp.expm1(counts * log_beta)
  raw = jnp.where(counts > 0, (1.0 - beta) / jnp.where(counts > 0, effective, 1.0), 0.0)
  return raw / jnp.sum(raw) * counts.shape[0]


def ldam_margins(class_counts: jax.Array, max_margin: float = 0.5) -> jax.Array:
  """Per-class LDAM margins proportional to n_c^(-1/4), the largest equal to max_margin."""
  counts = jnp.asarray(class_counts, jnp.float32)
  m = jnp.where(counts > 0, jnp.power(jnp.maximum(counts, 1.0), -0.25), 0.0)
  return m * (max_margin / jnp.max(m))


def ldam_loss(logits: jax.Array, labels: jax.Array, class_counts: jax.Array,
              max_margin: float = 0.5, scale: float = 30.0,
              weights: jax.Array | None = None) -> jax.Array:
  """LDAM (Cao et al.): CE(scale * (z - margin_y * onehot_y)), as LDAM-DRW's reference code.

  Args:
    logits: (B, C) unscaled logits (cosine logits of a normalised classifier in the
      reference recipe).
    labels: (B,) int labels.
    class_counts: (C,) training counts.
    max_margin: the largest (rarest-class) margin.
    scale: s, applied after the margin.
    weights: optional (B,) per-example weights (DRW).
  """
  logits = logits.astype(jnp.float32)
  margins = ldam_margins(class_counts, max_margin)[labels]
  one_hot = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)
  return cross_entropy(scale * (logits - margins[:, None] * one_hot), labels, weights)


def balanced_softmax_loss(logits: jax.Array, labels: jax.Array, class_counts: jax.Array,
                          weights: jax.Array | None = None) -> jax.Array:
  """Balanced softmax (Ren et al.): CE(z + log n_c)."""
  return cross_entropy(logits.astype(jnp.float32) + _log_prior(class_counts)[None, :],
                       labels, weights)


def logit_adjusted_loss(logits: jax.Array, labels: jax.Array, class_counts: jax.Array,
                        tau: float = 1.0, weights: jax.Array | None = None) -> jax.Array:
  """Logit-adjusted loss (Menon et al.): CE(z + tau * log prior_c).

  With tau = 1 it equals balanced softmax (the softmax ignores the constant log N).
  """
  return cross_entropy(logits.astype(jnp.float32) + tau * _log_prior(class_counts)[None, :],
                       labels, weights)


def adjust_logits_posthoc(logits: jax.Array, class_counts: jax.Array, tau: float) -> jax.Array:
  """Post-hoc logit adjustment (Menon et al.): z - tau * log prior_c, applied at test time."""
  return logits.astype(jnp.float32) - tau * _log_prior(class_counts)[None, :]
