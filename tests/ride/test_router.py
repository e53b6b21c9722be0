"""RIDE routing: targets on hand-made experts, threshold extremes, never more experts than
exist, usage and XLA flops."""

import jax.numpy as jnp
import numpy as np

from ltjax.models import ride
from ltjax.ride import router as ride_router


def _one_hot_logits(preds, num_classes=3):
  """(N, E) predicted classes -> (N, E, C) logits that make each expert predict them."""
  return np.eye(num_classes, dtype=np.float32)[np.asarray(preds)] * 5.0


def test_router_targets_by_hand():
  # 3 experts. Sample 0: expert 0 right -> no router should pass it on.
  # Sample 1: expert 0 wrong, mean of 0..1 right -> router 0 positive, router 1 negative.
  # Sample 2: wrong until all three (experts 1 and 2 say 2, expert 0 says 0) -> both positive.
  # Sample 3: always wrong -> no positive.
  logits = _one_hot_logits([[1, 1, 1], [0, 2, 2], [0, 2, 2], [0, 0, 0]])
  logits[1, 0, 2] = 4.0  # expert 0 leans to 2 as second choice: mean of 0..1 says 2
  labels = np.array([1, 2, 2, 1])
  logits[2, 1, 0] = 4.9  # mean of 0..1 for sample 2: class 0 wins (5 + 4.9 vs 5)
  t = np.asarray(ride_router.router_targets(jnp.asarray(logits), jnp.asarray(labels)))
  np.testing.assert_array_equal(t, [[False, False], [True, False], [True, True],
                                    [False, False]])


def _trained_router():
  rng = np.random.RandomState(0)
  n, e, c = 64, 3, 5
  logits = rng.randn(n, e, c).astype(np.float32) * 3
  pooled = rng.randn(n, e, 8).astype(np.float32)
  labels = rng.randint(0, c, n)
  router, params, curve = ride_router.train_router(logits, pooled, labels, top_k=3,
                                                   num_epochs=2, batch_size=16)
  assert np.isfinite(np.asarray(curve)).all()
  return router, params, logits, pooled, labels


def test_threshold_extremes_and_bounds():
  router, params, logits, pooled, _ = _trained_router()
  _, used = ride_router.routed_predictions(router, params, logits, pooled, threshold=1.0)
  assert np.all(np.asarray(used) == 1)
  out, used = ride_router.routed_predictions(router, params, logits, pooled, threshold=0.0)
  assert np.all(np.asarray(used) == 3)
  np.testing.assert_allclose(out, logits.mean(1), rtol=1e-5)
  _, used = ride_router.routed_predictions(router, params, logits, pooled, threshold=0.5)
  assert np.all((np.asarray(used) >= 1) & (np.asarray(used) <= 3))


def test_routed_logits_are_the_mean_of_the_experts_used():
  router, params, logits, pooled, _ = _trained_router()
  out, used = ride_router.routed_predictions(router, params, logits, pooled, threshold=0.5)
  for i in range(len(used)):
    k = int(used[i])
    np.testing.assert_allclose(out[i], logits[i, :k].mean(0), rtol=1e-5, atol=1e-5)


def test_weighted_bce_by_hand():
  x = jnp.array([[0.0, 2.0]])
  t = jnp.array([[True, False]])
  expected = (-(10 * np.log(0.5)) - np.log(1 - 1 / (1 + np.exp(-2.0)))) / 2
  assert float(ride_router.weighted_bce(x, t, 10.0)) == np.float32(expected)


def test_flops_grow_with_experts_and_usage_summary():
  flops = ride_router.flops_per_image(lambda k: ride.ride_cifar_tiny(10, num_experts=k), 3,
                                      (32, 32, 3))
  assert len(flops) == 3 and 0 < flops[0] < flops[1] < flops[2]
  # The shared part is paid once: each extra expert costs the same.
  assert abs((flops[2] - flops[1]) - (flops[1] - flops[0])) < 0.01 * flops[0]
  used = np.array([1, 1, 2, 3])
  summary = ride_router.usage_summary(used, np.array([0, 1, 2, 3]),
                                      np.array([500, 50, 50, 5]), 3, flops)
  assert summary["mean_experts"] == 1.75
  assert summary["share_by_num_experts"] == [0.5, 0.25, 0.25]
  assert summary["share_by_num_experts_per_bucket"]["few"] == [0.0, 0.0, 1.0]
  assert summary["mean_flops_per_image"] == np.dot([0.5, 0.25, 0.25], flops)
