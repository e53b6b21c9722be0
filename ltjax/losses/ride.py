"""The RIDE stage-1 loss (Wang et al.): per-expert LDAM(-DRW) plus the distribution-aware
diversity term, with the reference code's reductions (frank-xwang/RIDE-LongTailRecognition,
`model/loss.py::RIDELoss`), and the distillation term of its distill variant.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ltjax.losses.classification import cross_entropy
from ltjax.losses.long_tail import class_balanced_weights
from ltjax.losses.long_tail import ldam_margins


def diversity_temperature(class_counts: jax.Array, drw_active, *, base_temperature: float = 1.0,
                          reweight_factor: float = 0.05) -> jax.Array:
  """Per-class temperature T_c (C,).

  In the DRW phase: beta_c = gamma * C * n_c / N + (1 - gamma), T_c = alpha * beta_c / max beta
  (head class exactly alpha, rarer classes lower); before it, alpha for every class.
  """
  counts = jnp.asarray(class_counts, jnp.float32)
  prior = counts / jnp.sum(counts)
  beta = reweight_factor * counts.shape[0] * prior + (1.0 - reweight_factor)
  per_class = base_temperature * beta / jnp.max(beta)
  return jnp.where(drw_active, per_class, jnp.full_like(per_class, base_temperature))


def _kl_batchmean(target_probs, log_q):
  """KL(p || q) summed over classes, averaged over the batch (torch's 'batchmean')."""
  log_p = jnp.log(jnp.maximum(target_probs, 1e-30))
  return jnp.sum(target_probs * (log_p - log_q)) / target_probs.shape[0]


def ride_loss(expert_logits: jax.Array, labels: jax.Array, class_counts: jax.Array, *,
              drw_active, diversity_factor: float = -0.45, base_temperature: float = 1.0,
              reweight_factor: float = 0.05, max_margin: float = 0.5,
              scale: float = 30.0) -> jax.Array:
  """RIDE's stage-1 loss for one batch (a scalar).

  L = sum_i [ LDAM_w(z_i) + lambda * Tbar^2 * KL(pbar || q_i) ] where
  - z_i (B, C) are expert i's logits, already scaled by s (the model applies s);
  - LDAM_w subtracts s * m_y from the true logit (m_c ∝ n_c^-1/4, max `max_margin`) and takes
    the cross-entropy, weighted in the DRW phase by class-balanced weights (beta 0.9999) and
    normalised by the sum of the batch's weights (PyTorch's weighted mean), plain mean before;
  - q_i = softmax(z_i / T), pbar = softmax(stop_gradient(mean_i z_i) / T) with the per-class
    temperature T (`diversity_temperature`), dividing logit columns; Tbar = mean_c T_c;
  - lambda = `diversity_factor` (negative: disagreement with the ensemble is rewarded).

  Args:
    expert_logits: (E, B, C) scaled logits of every expert.
    labels: (B,) int labels.
    class_counts: (C,) training counts.
    drw_active: bool (or traced bool): the DRW phase (epoch > 160 1-indexed on CIFAR), which
      switches on both the class weights and the per-class temperature.
    diversity_factor, base_temperature, reweight_factor, max_margin, scale: the reference's
      `additional_diversity_factor`, `base_diversity_temperature`, `reweight_factor`,
      `max_m`, `s`.

  Returns:
    The scalar loss, summed over experts (not averaged), as the reference.
  """
  expert_logits = expert_logits.astype(jnp.float32)
  num_classes = expert_logits.shape[-1]
  one_hot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
  margin_logits = scale * ldam_margins(class_counts, max_margin)[labels][:, None] * one_hot
  weights = jnp.where(drw_active, class_balanced_weights(class_counts, 0.9999)[labels],
                      jnp.ones(labels.shape, jnp.float32))
  temperature = diversity_temperature(class_counts, drw_active,
                                      base_temperature=base_temperature,
                                      reweight_factor=reweight_factor)[None, :]
  mean_temperature = jnp.mean(temperature)
  target = jax.nn.softmax(jax.lax.stop_gradient(jnp.mean(expert_logits, axis=0)) / temperature)

  def expert_term(z):
    ce = cross_entropy(z - margin_logits, labels)
    base = jnp.sum(weights * ce) / jnp.sum(weights)
    kl = _kl_batchmean(target, jax.nn.log_softmax(z / temperature, axis=-1))
    return base + diversity_factor * mean_temperature**2 * kl

  return jnp.sum(jax.vmap(expert_term)(expert_logits))


def distillation_loss(student_logits: jax.Array, teacher_logits: jax.Array,
                      temperature: float = 1.5) -> jax.Array:
  """T^2 * KL(softmax(t / T) || softmax(z / T)), batch mean (RIDE's distill term, on the
  student's mean logits; the teacher's logits are treated as constants)."""
  target = jax.nn.softmax(jax.lax.stop_gradient(teacher_logits.astype(jnp.float32)) / temperature)
  log_q = jax.nn.log_softmax(student_logits.astype(jnp.float32) / temperature, axis=-1)
  return temperature**2 * _kl_batchmean(target, log_q)
