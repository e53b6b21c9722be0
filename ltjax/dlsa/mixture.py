"""The Gaussian-mixture base of DLSA's flow and the statistics read from it (dlsa.md §2.2-3.2).

The mixture has K components N(mu_k, I) with uniform weights; the means are fixed (drawn once
from N(0, std^2 I)), never learned. Everything here is a pure function of arrays.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def random_means(rng: jax.Array, num_clusters: int, dim: int, std: float = 0.05) -> jax.Array:
  """(K, D) fixed component means ~ N(0, std^2 I) (the reference's `center_std` 0.05)."""
  return std * jax.random.normal(rng, (num_clusters, dim), jnp.float32)


def mixture_log_prob(u: jax.Array, means: jax.Array) -> jax.Array:
  """(B, K) log N(u_b; mu_k, I) for every example and component.

  Expands ||u - mu||^2 = ||u||^2 - 2 u.mu + ||mu||^2 so that no (B, K, D) tensor is built
  (at ImageNet-LT sizes that tensor would take 4.2 GB per batch).
  """
  u = u.astype(jnp.float32)
  sq_dist = (jnp.sum(u * u, axis=-1, keepdims=True) - 2.0 * u @ means.T
             + jnp.sum(means * means, axis=-1)[None, :])
  dim = u.shape[-1]
  return -0.5 * dim * math.log(2 * math.pi) - 0.5 * jnp.maximum(sq_dist, 0.0)


def log_likelihood(u: jax.Array, logdet: jax.Array, means: jax.Array) -> jax.Array:
  """(B,) log p(x) = logsumexp_k log N(u; mu_k, I) - log K + log|det du/dx|."""
  num_clusters = means.shape[0]
  return (jax.nn.logsumexp(mixture_log_prob(u, means), axis=-1) - math.log(num_clusters)
          + logdet)


def nearest_cluster(u: jax.Array, means: jax.Array) -> jax.Array:
  """(B,) the argmax component of the posterior, i.e. the nearest mean."""
  return jnp.argmax(u @ means.T - 0.5 * jnp.sum(means * means, axis=-1)[None, :], axis=-1)


def cluster_posterior(u: jax.Array, means: jax.Array) -> jax.Array:
  """(B, K) q(k | x) = softmax_k log N(u; mu_k, I) (the log-det cancels)."""
  return jax.nn.softmax(mixture_log_prob(u, means), axis=-1)


def likelihood_threshold(log_px, proportion: float = 0.3) -> float:
  """alpha: the value at index floor(N * (1 - proportion)) of the ascending-sorted `log_px`.

  Samples with log p >= alpha are kept, about `proportion` of them (ties may keep more).
  With no samples the threshold is +inf (nothing is kept).
  """
  if not 0.0 < proportion <= 1.0:
    raise ValueError(f"proportion must lie in (0, 1], got {proportion}")
  values = np.sort(np.asarray(log_px, np.float64))
  if values.size == 0:
    return float("inf")
  index = min(int(math.floor(values.size * (1.0 - proportion))), values.size - 1)
  return float(values[index])


def cluster_prior(cluster_ids, labels, num_clusters: int, num_classes: int) -> np.ndarray:
  """(K, C) row k = class histogram of the samples whose nearest component is k, normalised to
  sum to 1; clusters without samples give zero rows (the reference's "label-space mapping")."""
  counts = np.zeros((num_clusters, num_classes), np.float64)
  np.add.at(counts, (np.asarray(cluster_ids, np.int64), np.asarray(labels, np.int64)), 1.0)
  sizes = counts.sum(axis=1, keepdims=True)
  return np.divide(counts, sizes, out=np.zeros_like(counts), where=sizes > 0).astype(np.float32)


def purity_counts(cluster_ids, labels, num_clusters: int, num_classes: int,
                  thresholds=(0.9, 0.7, 0.5)) -> dict[str, int]:
  """Number of non-empty clusters whose majority-class share exceeds each threshold."""
  counts = np.zeros((num_clusters, num_classes), np.int64)
  np.add.at(counts, (np.asarray(cluster_ids, np.int64), np.asarray(labels, np.int64)), 1)
  sizes = counts.sum(axis=1)
  purity = np.divide(counts.max(axis=1), sizes, out=np.zeros(num_clusters), where=sizes > 0)
  return {f"purity>{t}": int(np.sum((sizes > 0) & (purity > t))) for t in thresholds}


def checkpoint_score(cluster_ids, labels, num_clusters: int, num_classes: int, *,
                     min_purity: float = 0.7, min_size: int = 10,
                     max_cluster_fraction: float = 5000 / 115846) -> tuple[int, bool]:
  """The reference's per-epoch flow score: (#clusters with purity > min_purity and size >
  min_size, whether the epoch qualifies). The reference qualifies an epoch when its largest
  cluster has < 5000 samples, a cap sized for ImageNet-LT's 115,846 training images; ltjax
  makes it relative to the subset (largest cluster < max_cluster_fraction * N)."""
  counts = np.zeros((num_clusters, num_classes), np.int64)
  np.add.at(counts, (np.asarray(cluster_ids, np.int64), np.asarray(labels, np.int64)), 1)
  sizes = counts.sum(axis=1)
  purity = np.divide(counts.max(axis=1), sizes, out=np.zeros(num_clusters), where=sizes > 0)
  score = int(np.sum((purity > min_purity) & (sizes > min_size)))
  qualifies = bool(sizes.max(initial=0) < max_cluster_fraction * max(len(labels), 1))
  return score, qualifies
