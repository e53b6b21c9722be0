"""RandAugment: pixel ops against PIL, geometric ops on exact cases, the batch policy."""

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
from PIL import ImageEnhance
from PIL import ImageOps
import pytest

from ltjax.data import randaugment as ra

FILL = jnp.array([124.0, 116.0, 104.0])


def _image(seed=0, size=12):
  return np.random.RandomState(seed).randint(0, 256, (size, size, 3)).astype(np.uint8)


def _run(op, img, level=10.0, sign=1.0):
  return np.asarray(op(jnp.asarray(img, jnp.float32), jnp.float32(level), jnp.float32(sign),
                       FILL))


@pytest.mark.parametrize("op,pil", [
    (ra.auto_contrast, ImageOps.autocontrast),
    (ra.equalize, ImageOps.equalize),
    (ra.invert, ImageOps.invert),
])
def test_parameter_free_ops_match_pil(op, pil):
  img = _image()
  np.testing.assert_allclose(_run(op, img), np.asarray(pil(Image.fromarray(img))), atol=1.0)


def test_posterize_and_solarize_levels_match_timm_and_pil():
  img = _image(1)
  # Level 5: keep 4 - 2 = 2 bits; solarize above 256 - 128 = 128.
  np.testing.assert_array_equal(_run(ra.posterize, img, 5.0),
                                np.asarray(ImageOps.posterize(Image.fromarray(img), 2)))
  np.testing.assert_array_equal(_run(ra.solarize, img, 5.0),
                                np.asarray(ImageOps.solarize(Image.fromarray(img), 128)))
  added = _run(ra.solarize_add, img, 10.0)
  np.testing.assert_array_equal(added, np.where(img < 128, np.minimum(img + 110, 255), img))


@pytest.mark.parametrize("op,enhancer", [(ra.color, ImageEnhance.Color),
                                          (ra.contrast, ImageEnhance.Contrast),
                                          (ra.brightness, ImageEnhance.Brightness),
                                          (ra.sharpness, ImageEnhance.Sharpness)])
def test_enhance_ops_match_pil(op, enhancer):
  img = _image(2)
  for sign in (1.0, -1.0):
    factor = 1.0 + 0.9 * 0.5 * sign  # level 5
    want = np.asarray(enhancer(Image.fromarray(img)).enhance(factor), np.float32)
    got = _run(op, img, 5.0, sign)
    # PIL rounds each stage to uint8 (the contrast mean too): within a few grey levels.
    assert np.abs(got - want).max() <= 3.0, (op.__name__, np.abs(got - want).max())


def test_translate_and_shear_move_pixels_exactly():
  img = _image(3, size=20).astype(np.float32)
  out = _run(ra.translate_x, img, 10.0 / 4.5, 1.0)  # 0.1 * 20 = 2 pixels
  np.testing.assert_array_equal(out[:, :-2], img[:, 2:])
  np.testing.assert_array_equal(out[:, -2:], np.broadcast_to(FILL, (20, 2, 3)))
  out = _run(ra.translate_y, img, 10.0 / 4.5, -1.0)
  np.testing.assert_array_equal(out[2:], img[:-2])
  zero = _run(ra.shear_x, img, 0.0)
  np.testing.assert_array_equal(zero, img)
  r = _run(ra.rotate, img, 0.0)
  np.testing.assert_array_equal(r, img)


def test_batch_policy_shapes_dtype_determinism_and_identity():
  imgs = jnp.asarray(np.stack([_image(i, 16) for i in range(8)]))
  out = jax.jit(lambda k: ra.rand_augment(imgs, k, num_ops=2))(jax.random.key(0))
  assert out.shape == imgs.shape and out.dtype == jnp.uint8
  np.testing.assert_array_equal(out, ra.rand_augment(imgs, jax.random.key(0), num_ops=2))
  changed = np.any(np.asarray(out) != np.asarray(imgs), axis=(1, 2, 3))
  assert 0 < changed.sum()  # most images change (two ops at p = 0.5: 3/4 on average)
  np.testing.assert_array_equal(ra.rand_augment(imgs, jax.random.key(0), num_ops=0), imgs)
  # Statistics: with one op at p = 0.5, about half the images are untouched.
  many = jnp.asarray(np.stack([_image(i, 8) for i in range(400)]))
  one = np.asarray(ra.rand_augment(many, jax.random.key(1), num_ops=1))
  untouched = np.mean(np.all(one == np.asarray(many), axis=(1, 2, 3)))
  assert 0.4 < untouched < 0.65  # 0.5 plus ops that leave an image as it is
