"""Mixup / CutMix / label smoothing: values by hand, pixel provenance, lambda statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltjax.data import mixing


def _batch(b=6, size=8):
  rng = np.random.RandomState(0)
  return (jnp.asarray(rng.rand(b, size, size, 3), jnp.float32),
          jnp.asarray(rng.randint(0, 4, b), jnp.int32))


def test_smooth_one_hot_values():
  t = mixing.smooth_one_hot(jnp.array([2]), 4, 0.1)
  np.testing.assert_allclose(t, [[0.025, 0.025, 0.925, 0.025]], rtol=1e-6)
  np.testing.assert_array_equal(mixing.smooth_one_hot(jnp.array([0]), 3), [[1.0, 0.0, 0.0]])


def test_no_mixing_is_the_identity():
  x, y = _batch()
  out, t = mixing.mix_batch(x, y, jax.random.key(0), 4, label_smoothing=0.1)
  np.testing.assert_array_equal(out, x)
  np.testing.assert_allclose(t, mixing.smooth_one_hot(y, 4, 0.1))


def test_mixup_blends_each_sample_with_the_flipped_batch():
  x, y = _batch()
  out, t = mixing.mix_batch(x, y, jax.random.key(3), 4, mixup_alpha=1.0)
  np.testing.assert_allclose(np.sum(t, 1), 1.0, rtol=1e-6)
  # Recover lambda from the targets of a sample whose label differs from its partner's.
  i = int(np.nonzero(np.asarray(y) != np.asarray(y)[::-1])[0][0])
  lam = float(t[i, int(y[i])])
  np.testing.assert_allclose(out, lam * x + (1 - lam) * x[::-1], rtol=1e-5, atol=1e-6)


def test_cutmix_pixels_come_from_the_sample_or_its_partner_in_the_right_share():
  x, y = _batch(size=16)
  for seed in range(5):
    out, t = mixing.mix_batch(x, y, jax.random.key(seed), 4, cutmix_alpha=1.0)
    own = np.all(np.isclose(out, x), axis=-1)
    other = np.all(np.isclose(out, x[::-1]), axis=-1)
    assert np.all(own | other)
    from_partner = np.mean(~own[0])  # same box for the whole batch
    i = int(np.nonzero(np.asarray(y) != np.asarray(y)[::-1])[0][0])
    np.testing.assert_allclose(1.0 - float(t[i, int(y[i])]), from_partner, atol=1e-6)
    np.testing.assert_allclose(np.sum(t, 1), 1.0, rtol=1e-6)


def test_lambda_and_switch_statistics_under_jit():
  x, _ = _batch(b=2, size=16)
  y = jnp.array([0, 1])
  mixup = jax.jit(lambda k: mixing.mix_batch(x, y, k, 2, mixup_alpha=1.0)[1][0, 0])
  lams = [float(mixup(jax.random.key(s))) for s in range(600)]
  assert abs(np.mean(lams) - 0.5) < 0.04  # Beta(1, 1) has mean 1/2 (sd of the mean ~0.012)
  both = jax.jit(lambda k: mixing.mix_batch(x, y, k, 2, mixup_alpha=1.0, cutmix_alpha=1.0,
                                            switch_prob=0.3)[0])
  cut = []
  for s in range(400):
    out = np.asarray(both(jax.random.key(s)))
    own = np.all(np.isclose(out[0], x[0]), -1)
    other = np.all(np.isclose(out[0], x[1]), -1)
    cut.append(bool(np.all(own | other)))  # CutMix: every pixel is one image's, unblended
  assert abs(np.mean(cut) - 0.3) < 0.07


def test_images_keep_their_dtype():
  x, y = _batch()
  out, _ = mixing.mix_batch(x.astype(jnp.bfloat16), y, jax.random.key(0), 4, mixup_alpha=0.4)
  assert out.dtype == jnp.bfloat16
  with pytest.raises(TypeError):
    mixing.mix_batch(x, y, jax.random.key(0))  # num_classes is required
