"""Long-tail losses against plain numpy formulas written here, and their equivalences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltjax import config as config_lib
from ltjax import losses

RNG = np.random.RandomState(0)
LOGITS = RNG.randn(6, 4).astype(np.float32)
LABELS = np.array([0, 1, 2, 3, 0, 3])
COUNTS = np.array([500.0, 100.0, 20.0, 5.0])


def np_ce(z, y):
  z = z - z.max(-1, keepdims=True)
  logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
  return -logp[np.arange(len(y)), y]


def test_focal_loss_by_hand():
  ce = np_ce(LOGITS, LABELS)
  p = np.exp(-ce)
  for gamma in (0.0, 1.0, 2.0):
    np.testing.assert_allclose(losses.focal_loss(LOGITS, LABELS, gamma), (1 - p) ** gamma * ce,
                               rtol=1e-5)
  np.testing.assert_allclose(losses.focal_loss(LOGITS, LABELS, 0.0),
                             losses.cross_entropy(LOGITS, LABELS), rtol=1e-6)


def test_focal_gradient_is_finite_for_confident_examples():
  z = jnp.array([[30.0, -30.0]])
  g = jax.grad(lambda z: losses.focal_loss(z, jnp.array([0]), 0.5).sum())(z)
  assert np.isfinite(np.asarray(g)).all()


def test_class_balanced_weights_by_hand():
  beta = 0.999
  raw = (1 - beta) / (1 - beta ** COUNTS)
  expected = raw / raw.sum() * 4
  w = np.asarray(losses.class_balanced_weights(COUNTS, beta))
  np.testing.assert_allclose(w, expected, rtol=1e-4)
  assert w.sum() == pytest.approx(4.0, rel=1e-5) and np.all(np.diff(w) > 0)
  np.testing.assert_allclose(losses.class_balanced_weights(COUNTS, 0.0), np.ones(4), rtol=1e-6)


def test_ldam_margins_and_loss_by_hand():
  m = COUNTS ** -0.25
  m = m * 0.5 / m.max()
  np.testing.assert_allclose(losses.ldam_margins(COUNTS, 0.5), m, rtol=1e-5)
  assert np.all(np.diff(np.asarray(losses.ldam_margins(COUNTS))) > 0)  # rarer: larger
  z = LOGITS.copy()
  z[np.arange(6), LABELS] -= m[LABELS]
  np.testing.assert_allclose(losses.ldam_loss(LOGITS, LABELS, COUNTS, 0.5, 30.0),
                             np_ce(30.0 * z, LABELS), rtol=1e-4)


def test_ldam_gradient_matches_finite_differences():
  f = lambda z: losses.ldam_loss(z, jnp.asarray(LABELS), COUNTS, 0.5, 2.0).sum()
  g = np.asarray(jax.grad(f)(jnp.asarray(LOGITS)))
  eps = 1e-2
  for (i, j) in [(0, 0), (3, 3), (2, 1)]:
    d = np.zeros_like(LOGITS)
    d[i, j] = eps
    fd = (f(jnp.asarray(LOGITS + d)) - f(jnp.asarray(LOGITS - d))) / (2 * eps)
    assert g[i, j] == pytest.approx(float(fd), rel=1e-2, abs=1e-3)


def test_balanced_softmax_and_logit_adjustment_by_hand():
  expected = np_ce(LOGITS + np.log(COUNTS), LABELS)
  np.testing.assert_allclose(losses.balanced_softmax_loss(LOGITS, LABELS, COUNTS), expected,
                             rtol=1e-5)
  prior = COUNTS / COUNTS.sum()
  np.testing.assert_allclose(losses.logit_adjusted_loss(LOGITS, LABELS, COUNTS, 0.5),
                             np_ce(LOGITS + 0.5 * np.log(prior), LABELS), rtol=1e-5)
  # tau = 1 logit adjustment is balanced softmax (the constant log N cancels).
  np.testing.assert_allclose(losses.logit_adjusted_loss(LOGITS, LABELS, COUNTS, 1.0), expected,
                             rtol=1e-5)


def test_balanced_counts_reduce_to_cross_entropy():
  flat = np.full(4, 50.0)
  ce = losses.cross_entropy(LOGITS, LABELS)
  np.testing.assert_allclose(losses.balanced_softmax_loss(LOGITS, LABELS, flat), ce, rtol=1e-5)
  np.testing.assert_allclose(losses.logit_adjusted_loss(LOGITS, LABELS, flat), ce, rtol=1e-5)


def test_posthoc_adjustment():
  prior = COUNTS / COUNTS.sum()
  np.testing.assert_allclose(losses.adjust_logits_posthoc(LOGITS, COUNTS, 1.0),
                             LOGITS - np.log(prior), rtol=1e-5)
  # A uniform prior only shifts every logit equally: predictions and softmax unchanged.
  adjusted = losses.adjust_logits_posthoc(LOGITS, np.full(4, 7.0), 1.0)
  np.testing.assert_allclose(jax.nn.softmax(adjusted), jax.nn.softmax(LOGITS), rtol=1e-5)
  np.testing.assert_allclose(losses.adjust_logits_posthoc(LOGITS, COUNTS, 0.0), LOGITS)


def test_weights_multiply_every_loss():
  w = np.linspace(0.5, 2.0, 6).astype(np.float32)
  for fn in (lambda **k: losses.focal_loss(LOGITS, LABELS, 1.0, **k),
             lambda **k: losses.ldam_loss(LOGITS, LABELS, COUNTS, **k),
             lambda **k: losses.balanced_softmax_loss(LOGITS, LABELS, COUNTS, **k)):
    np.testing.assert_allclose(fn(weights=w), fn() * w, rtol=1e-5)


def test_drw_schedule_switches_at_the_configured_epoch():
  lc = config_lib.default_config().loss
  lc.reweight, lc.drw_epoch = "drw", 160
  weights = losses.class_weights_schedule(lc, COUNTS)
  np.testing.assert_allclose(weights(jnp.asarray(159)), np.ones(4))
  np.testing.assert_allclose(weights(jnp.asarray(160)),
                             losses.class_balanced_weights(COUNTS, 0.9999), rtol=1e-6)
  lc.reweight = "none"
  np.testing.assert_allclose(losses.class_weights_schedule(lc, COUNTS)(jnp.asarray(500)),
                             np.ones(4))


def test_every_registered_loss_builds_from_config():
  lc = config_lib.default_config().loss
  for name in losses.LOSSES:
    lc.name = name
    out = losses.from_config(lc)(jnp.asarray(LOGITS), jnp.asarray(LABELS), COUNTS)
    assert out.shape == (6,) and np.isfinite(np.asarray(out)).all()


def test_class_balanced_weights_match_the_float64_formula():
  """LDAM-DRW / RIDE compute the weights in float64; float32 must agree to rounding."""
  counts = np.array([5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50])
  beta = 0.9999
  raw = (1.0 - beta) / (1.0 - np.power(beta, counts.astype(np.float64)))
  expected = raw / raw.sum() * len(counts)
  np.testing.assert_allclose(losses.class_balanced_weights(counts, beta), expected, rtol=1e-6)
