"""RIDE's expert assignment (routing): routers trained on frozen experts, routed inference,
and the compute it saves measured with XLA's cost analysis.

Router i (of E - 1) decides whether experts 0..i hand a sample on to expert i + 1. Its input is
expert i's pooled feature, L2-normalised, through a per-router Dense(16) + ReLU, concatenated
with the top-k values (descending) of the running-mean logits of experts 0..i; one Dense(1)
shared by all routers gives the logit. Training target of router i: "the ensemble of experts
0..i is wrong, but some larger ensemble is right"; loss: BCE with `pos_weight` on positives.
At test time a sample runs expert 0 and moves on while sigmoid(router) > threshold; its
prediction is the mean logits of the experts it used.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ltjax import decoupled
from ltjax.core import metrics


def running_mean_logits(expert_logits: jax.Array) -> jax.Array:
  """(N, E, C) -> (N, E, C): entry i is the mean logits of experts 0..i."""
  num_experts = expert_logits.shape[1]
  counts = jnp.arange(1, num_experts + 1, dtype=jnp.float32)[None, :, None]
  return jnp.cumsum(expert_logits, axis=1) / counts


class Router(nn.Module):
  """The E - 1 routers; returns (N, E - 1) decision logits."""
  num_experts: int
  top_k: int = 30
  hidden: int = 16

  @nn.compact
  def __call__(self, expert_pooled: jax.Array, cumulative_logits: jax.Array) -> jax.Array:
    decision = nn.Dense(1, name="shared_decision")
    outs = []
    for i in range(self.num_experts - 1):
      feature = expert_pooled[:, i]
      feature = feature / jnp.maximum(jnp.linalg.norm(feature, axis=-1, keepdims=True), 1e-12)
      h = nn.relu(nn.Dense(self.hidden, name=f"feature_{i}")(feature))
      top = jax.lax.top_k(cumulative_logits[:, i], self.top_k)[0]
      outs.append(decision(jnp.concatenate([h, top], axis=-1))[:, 0])
    return jnp.stack(outs, axis=1)


def router_targets(expert_logits: jax.Array, labels: jax.Array) -> jax.Array:
  """(N, E - 1) bool: router i's target t_i = (not c_i) and (c_j for some j > i), where c_j
  says whether the mean of experts 0..j is right."""
  correct = jnp.argmax(running_mean_logits(expert_logits), axis=-1) == labels[:, None]
  later = jnp.flip(jnp.cumsum(jnp.flip(correct, axis=1), axis=1), axis=1) > 0  # any j >= i
  return (~correct[:, :-1]) & later[:, 1:]


def weighted_bce(logits: jax.Array, targets: jax.Array, pos_weight: float) -> jax.Array:
  """Mean over examples and routers of -[w t log s(x) + (1 - t) log(1 - s(x))]."""
  t = targets.astype(jnp.float32)
  return jnp.mean(-(pos_weight * t * jax.nn.log_sigmoid(logits)
                    + (1.0 - t) * jax.nn.log_sigmoid(-logits)))


def train_router(expert_logits: np.ndarray, expert_pooled: np.ndarray, labels: np.ndarray, *,
                 top_k: int = 30, pos_weight: float = 100.0, seed: int = 0,
                 num_epochs: int = 5, batch_size: int = 512, learning_rate: float = 0.01,
                 weight_decay: float = 5e-4, sampler: str = "class_balanced",
                 nesterov: bool = True):
  """Trains the routers on cached (frozen) expert outputs. Returns (router, params, curve)."""
  num_experts = expert_logits.shape[1]
  router = Router(num_experts, top_k=min(top_k, expert_logits.shape[-1]))
  logits_d = jnp.asarray(expert_logits)
  pooled_d = jnp.asarray(expert_pooled, jnp.float32)
  cumulative = running_mean_logits(logits_d)
  targets = router_targets(logits_d, jnp.asarray(labels))
  params = router.init(jax.random.key(seed), pooled_d[:2], cumulative[:2])

  def batch_loss(p, idx):
    return weighted_bce(router.apply(p, pooled_d[idx], cumulative[idx]), targets[idx],
                        pos_weight)

  params, curve = decoupled.sgd_on_cached(
      params, batch_loss, labels, sampler=sampler, num_epochs=num_epochs,
      batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay, seed=seed,
      nesterov=nesterov)
  return router, params, curve


def routed_predictions(router: Router, params, expert_logits: jax.Array,
                       expert_pooled: jax.Array, threshold: float = 0.5):
  """(mean logits of the experts each sample used (N, C), experts used (N,) int32).

  Sequential as the reference (expert 0 always runs), computed with masks: a sample continues
  to expert i + 1 while its router logit exceeds logit(threshold). threshold 1 -> one expert,
  threshold 0 -> all experts.
  """
  expert_logits = jnp.asarray(expert_logits)
  cut = -jnp.inf if threshold <= 0 else (jnp.inf if threshold >= 1 else
                                         float(np.log(threshold / (1 - threshold))))
  decisions = router.apply(params, jnp.asarray(expert_pooled, jnp.float32),
                           running_mean_logits(expert_logits))
  num_experts = expert_logits.shape[1]
  active = jnp.ones(expert_logits.shape[:1], bool)
  total, used = expert_logits[:, 0], jnp.ones(expert_logits.shape[:1], jnp.int32)
  for i in range(1, num_experts):
    # For a still-active sample the experts used so far are exactly 0..i-1, so router i-1's
    # input (computed from the running mean of experts 0..i-1) is the one it would see.
    active = active & (decisions[:, i - 1] > cut)
    total = total + jnp.where(active[:, None], expert_logits[:, i], 0.0)
    used = used + active.astype(jnp.int32)
  return total / used[:, None].astype(jnp.float32), used


def flops_per_image(build_model: Callable[[int], nn.Module], num_experts: int,
                    image_shape) -> list[float]:
  """XLA's flop count (compiled cost analysis) of one image through the model built with
  1..num_experts experts, inference mode; routers are negligible and not counted."""
  out = []
  for k in range(1, num_experts + 1):
    model = build_model(k)
    x = jnp.zeros((1, *image_shape), jnp.float32)
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
    compiled = jax.jit(lambda v, x: model.apply(v, x, train=False)).lower(variables, x).compile()
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):
      analysis = analysis[0]
    out.append(float(analysis["flops"]))
  return out


def usage_summary(used: np.ndarray, labels: np.ndarray, class_counts: np.ndarray,
                  num_experts: int, flops: list[float],
                  correct: np.ndarray | None = None) -> dict[str, Any]:
  """Share of samples per number of experts (overall and per bucket), accuracy of the samples
  that used k experts (when `correct` is given), mean experts and the mean flops per image
  implied by the shares."""
  used = np.asarray(used)
  shares = [float(np.mean(used == k)) for k in range(1, num_experts + 1)]
  buckets = metrics.bucket_of_classes(class_counts)
  per_bucket = {}
  for name, classes in buckets.items():
    in_bucket = classes[np.asarray(labels)]
    per_bucket[name] = None if not in_bucket.any() else [
        float(np.mean(used[in_bucket] == k)) for k in range(1, num_experts + 1)]
  accuracy = None
  if correct is not None:
    correct = np.asarray(correct)
    accuracy = [float(np.mean(correct[used == k])) if np.any(used == k) else None
                for k in range(1, num_experts + 1)]
  return {
      "accuracy_by_num_experts": accuracy,
      "mean_experts": float(np.mean(used)),
      "share_by_num_experts": shares,
      "share_by_num_experts_per_bucket": per_bucket,
      "flops_per_image_by_num_experts": flops,
      "mean_flops_per_image": float(np.dot(shares, flops)) if flops else None,
  }
