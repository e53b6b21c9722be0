"""Decoupled classifier re-balancing on frozen features (Kang et al., "Decoupling
Representation and Classifier for Long-Tailed Recognition"), as pure functions over arrays.

- cRT: re-initialise the linear classifier and re-train it with class-balanced sampling;
- LWS: learn one scale per class on the frozen classifier's logits, class-balanced sampling;
- tau-normalisation: W_c / ||W_c||^tau, dot product without bias (as the reference's
  tau_norm.py); tau is chosen on the validation split;
- NCM: cosine similarity to the class means of the training features.
Features come from the cache (`ltjax.runs.feature_cache`): un-augmented, eval-mode features, so
cRT / LWS here train on fixed features (the reference re-runs the frozen backbone on
augmented images each epoch).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ltjax import losses
from ltjax.data import samplers


def tau_normalized_kernel(kernel: jax.Array, tau: float) -> jax.Array:
  """kernel (D, C) with column c divided by ||W_c||^tau."""
  norms = jnp.linalg.norm(kernel, axis=0, keepdims=True)
  return kernel / jnp.power(jnp.maximum(norms, 1e-12), tau)


def tau_norm_logits(features: jax.Array, kernel: jax.Array, tau: float) -> jax.Array:
  """(N, C) logits f @ tau_normalized_kernel(W, tau) (no bias)."""
  return features @ tau_normalized_kernel(kernel, tau)


def class_means(features: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
  """(C, D) mean training feature per class (zeros for a class without images)."""
  sums = np.zeros((num_classes, features.shape[1]), np.float64)
  np.add.at(sums, labels, features)
  counts = np.bincount(labels, minlength=num_classes)
  return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


def ncm_logits(features: jax.Array, centroids: jax.Array) -> jax.Array:
  """Cosine similarity of each feature to each class mean; classes without a mean get -inf."""
  def unit(x):
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
  sims = unit(features) @ unit(centroids).T
  empty = jnp.all(centroids == 0, axis=-1)
  return jnp.where(empty[None, :], -jnp.inf, sims)


def sgd_on_cached(params, batch_loss: Callable, labels: np.ndarray, *, sampler: str,
                  num_epochs: int, batch_size: int, learning_rate: float, weight_decay: float,
                  seed: int, nesterov: bool = False):
  """Minimises batch_loss(params, idx) over index batches drawn by `sampler` from `labels`.

  SGD with momentum 0.9 (optionally Nesterov), coupled weight decay and a cosine lr stepped per
  epoch, as torch's CosineAnnealingLR(T_max=num_epochs, eta_min=0). All steps run in one jitted
  `lax.scan`. Returns (params, loss per step).
  """
  n = len(labels)
  batch_size = min(batch_size, n)
  steps_per_epoch = max(1, n // batch_size)
  order = np.stack([samplers.epoch_order(labels, sampler, seed, e)[:steps_per_epoch * batch_size]
                    .reshape(steps_per_epoch, batch_size) for e in range(num_epochs)])
  order = order.reshape(num_epochs * steps_per_epoch, batch_size)
  schedule = lambda step: 0.5 * learning_rate * (
      1 + jnp.cos(jnp.pi * (step // steps_per_epoch) / num_epochs))
  tx = optax.chain(optax.add_decayed_weights(weight_decay),
                   optax.sgd(schedule, momentum=0.9, nesterov=nesterov))

  def step(carry, idx):
    p, opt_state = carry
    loss, grads = jax.value_and_grad(batch_loss)(p, idx)
    updates, opt_state = tx.update(grads, opt_state, p)
    return (optax.apply_updates(p, updates), opt_state), loss

  @jax.jit
  def run(p, order):
    (p, _), loss_curve = jax.lax.scan(step, (p, tx.init(p)), order)
    return p, loss_curve

  return run(params, jnp.asarray(order))


def _sgd_on_features(params, logits_fn: Callable, inputs: np.ndarray, labels: np.ndarray,
                     **kwargs):
  """Mean CE of logits_fn(params, inputs[idx]) minimised with `sgd_on_cached`."""
  inputs_d, labels_d = jnp.asarray(inputs), jnp.asarray(labels)

  def batch_loss(p, idx):
    return jnp.mean(losses.cross_entropy(logits_fn(p, inputs_d[idx]), labels_d[idx]))

  return sgd_on_cached(params, batch_loss, labels, **kwargs)


def crt(features: np.ndarray, labels: np.ndarray, num_classes: int, *, seed: int = 0,
        sampler: str = "class_balanced", num_epochs: int = 10, batch_size: int = 512,
        learning_rate: float = 0.2, weight_decay: float = 5e-4, nesterov: bool = False):
  """Classifier re-training: a freshly initialised linear layer (torch's Linear init) trained
  on frozen features. Returns ({"kernel": (D, C), "bias": (C,)}, loss per step)."""
  d = features.shape[1]
  bound = 1.0 / np.sqrt(d)
  k1, k2 = jax.random.split(jax.random.key(seed))
  params = {"kernel": jax.random.uniform(k1, (d, num_classes), minval=-bound, maxval=bound),
            "bias": jax.random.uniform(k2, (num_classes,), minval=-bound, maxval=bound)}
  return _sgd_on_features(params, lambda p, f: f @ p["kernel"] + p["bias"][None, :], features,
                          labels, sampler=sampler, num_epochs=num_epochs, batch_size=batch_size,
                          learning_rate=learning_rate, weight_decay=weight_decay, seed=seed,
                          nesterov=nesterov)


def lws(logits: np.ndarray, labels: np.ndarray, *, seed: int = 0,
        sampler: str = "class_balanced", num_epochs: int = 5, batch_size: int = 512,
        learning_rate: float = 0.2, weight_decay: float = 5e-4, nesterov: bool = False):
  """Learnable weight scaling: per-class scales s (init 1) on the frozen classifier's logits,
  logits' = s * logits. Returns (scales (C,), loss per step)."""
  scales = jnp.ones((logits.shape[1],), jnp.float32)
  return _sgd_on_features(scales, lambda s, z: z * s[None, :], logits, labels, sampler=sampler,
                          num_epochs=num_epochs, batch_size=batch_size,
                          learning_rate=learning_rate, weight_decay=weight_decay, seed=seed,
                          nesterov=nesterov)
