"""The Gaussian-mixture base: densities against scipy, threshold, cluster prior, purity rule."""

import jax
import numpy as np
import pytest
from scipy import stats

from ltjax import dlsa
from ltjax.dlsa import mixture


def test_mixture_log_prob_matches_scipy():
  rng = np.random.RandomState(0)
  u = rng.randn(5, 3).astype(np.float32)
  means = rng.randn(4, 3).astype(np.float32)
  got = np.asarray(dlsa.mixture_log_prob(u, means))
  want = np.array([[stats.multivariate_normal(m, np.eye(3)).logpdf(x) for m in means]
                   for x in u])
  assert got.shape == (5, 4)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_log_likelihood_is_the_mixture_density_plus_logdet():
  rng = np.random.RandomState(1)
  u = rng.randn(6, 2).astype(np.float32)
  means = rng.randn(3, 2).astype(np.float32)
  logdet = rng.randn(6).astype(np.float32)
  density = np.mean([stats.multivariate_normal(m, np.eye(2)).pdf(u) for m in means], axis=0)
  np.testing.assert_allclose(dlsa.log_likelihood(u, logdet, means), np.log(density) + logdet,
                             rtol=1e-5, atol=1e-5)


def test_nearest_cluster_and_posterior():
  means = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]], np.float32)
  u = np.array([[0.4, 0.1], [4.0, 1.0], [-1.0, 6.0]], np.float32)
  np.testing.assert_array_equal(dlsa.nearest_cluster(u, means), [0, 1, 2])
  q = np.asarray(dlsa.cluster_posterior(u, means))
  np.testing.assert_allclose(q.sum(-1), 1.0, rtol=1e-6)
  np.testing.assert_array_equal(q.argmax(-1), [0, 1, 2])


def test_random_means_spread():
  m = np.asarray(dlsa.random_means(jax.random.key(0), 500, 64, std=0.05))
  assert m.shape == (500, 64)
  assert abs(m.std() - 0.05) < 0.002


@pytest.mark.parametrize("n", [10, 11, 99, 1000])
def test_threshold_keeps_the_stated_fraction(n):
  values = np.random.RandomState(n).permutation(n).astype(np.float64)  # distinct values
  alpha = dlsa.likelihood_threshold(values, 0.3)
  assert alpha == np.sort(values)[int(np.floor(n * 0.7))]
  kept = int((values >= alpha).sum())
  assert kept == n - int(np.floor(n * 0.7))
  assert abs(kept / n - 0.3) <= 1 / n + 1e-9


def test_threshold_edge_cases():
  assert dlsa.likelihood_threshold([], 0.3) == float("inf")
  assert dlsa.likelihood_threshold([1.0, 2.0], 1.0) == 1.0  # keep everything
  with pytest.raises(ValueError, match="proportion"):
    dlsa.likelihood_threshold([1.0], 0.0)


def test_cluster_prior_by_hand():
  clusters = np.array([0, 0, 0, 2, 2, 3])
  labels = np.array([1, 1, 0, 2, 2, 0])
  prior = dlsa.cluster_prior(clusters, labels, num_clusters=4, num_classes=3)
  np.testing.assert_allclose(prior, [[1 / 3, 2 / 3, 0], [0, 0, 0], [0, 0, 1], [1, 0, 0]],
                             rtol=1e-6)


def test_purity_counts_and_checkpoint_score():
  # cluster 0: 12 of class 0 (pure, big); cluster 1: 6 of 0 + 6 of 1 (impure); cluster 2: 3 pure
  clusters = np.array([0] * 12 + [1] * 12 + [2] * 3)
  labels = np.array([0] * 12 + [0] * 6 + [1] * 6 + [1] * 3)
  counts = mixture.purity_counts(clusters, labels, 4, 2)
  assert counts == {"purity>0.9": 2, "purity>0.7": 2, "purity>0.5": 2}
  score, ok = mixture.checkpoint_score(clusters, labels, 4, 2, min_purity=0.7, min_size=10,
                                       max_cluster_fraction=0.5)
  assert score == 1 and ok  # cluster 2 is pure but too small; the largest has 12 < 13.5
  _, ok = mixture.checkpoint_score(clusters, labels, 4, 2, max_cluster_fraction=0.4)
  assert not ok  # 12 >= 0.4 * 27
