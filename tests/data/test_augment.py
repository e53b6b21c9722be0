"""On-device pad-crop-flip augmentation and normalisation."""

import jax
import numpy as np

from ltjax import data
import ltjax.data.augment  # noqa: F401  (data.augment.random_resized_crop)


def _images(batch=8, size=6):
  return np.arange(batch * size * size * 3, dtype=np.int64).reshape(batch, size, size, 3) % 251


def test_shapes_dtype_and_determinism():
  x = _images().astype(np.uint8)
  rng = jax.random.key(0)
  a = data.random_crop_flip(x, rng, padding=2)
  assert a.shape == x.shape and a.dtype == np.uint8
  np.testing.assert_array_equal(a, data.random_crop_flip(x, rng, padding=2))
  assert not np.array_equal(a, data.random_crop_flip(x, jax.random.key(1), padding=2))


def test_each_output_is_a_window_of_the_padded_image_maybe_flipped():
  x = (_images() + 1).astype(np.uint8)  # no zero pixels, so padding is recognisable
  out = np.asarray(data.random_crop_flip(x, jax.random.key(3), padding=2))
  shifts = set()
  for img, res in zip(x, out):
    padded = np.pad(img, ((2, 2), (2, 2), (0, 0)))
    windows = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
               if np.array_equal((padded[dy:dy + 6, dx:dx + 6][:, ::-1] if f else
                                  padded[dy:dy + 6, dx:dx + 6]), res)]
    assert windows, "output is not a crop of the zero-padded input"
    shifts.add(windows[0])
  assert len(shifts) > 1  # examples get different crops


def test_no_padding_no_flip_is_identity_and_flip_only_flips():
  x = _images().astype(np.uint8)
  np.testing.assert_array_equal(data.random_crop_flip(x, jax.random.key(0), padding=0,
                                                      flip=False), x)
  out = np.asarray(data.random_crop_flip(x, jax.random.key(0), padding=0, flip=True))
  for img, res in zip(x, out):
    assert np.array_equal(res, img) or np.array_equal(res, img[:, ::-1])


def test_normalize():
  x = np.full((1, 2, 2, 3), 255, np.uint8)
  out = np.asarray(data.normalize(x, (0.5, 0.5, 0.5), (0.25, 0.5, 1.0)))
  np.testing.assert_allclose(out[0, 0, 0], [2.0, 1.0, 0.5], rtol=1e-6)


def test_random_resized_crop_shapes_range_and_determinism():
  x = np.random.RandomState(0).randint(0, 256, (4, 40, 48, 3)).astype(np.uint8)
  out = data.augment.random_resized_crop(x, jax.random.key(0), size=32)
  assert out.shape == (4, 32, 32, 3) and out.dtype == np.uint8
  np.testing.assert_array_equal(out, data.augment.random_resized_crop(x, jax.random.key(0),
                                                                      size=32))
  # A constant image stays constant whatever the crop.
  const = np.full((2, 40, 48, 3), 77, np.uint8)
  np.testing.assert_array_equal(data.augment.random_resized_crop(const, jax.random.key(1),
                                                                 size=16), 77)


def test_random_resized_crop_with_full_scale_and_square_ratio_is_a_resize():
  ramp = np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 8, (32, 1, 3))[None]
  out = np.asarray(data.augment.random_resized_crop(ramp, jax.random.key(0), size=32,
                                                    scale=(1.0, 1.0), ratio=(1.0, 1.0),
                                                    flip=False))
  np.testing.assert_allclose(out.astype(int), ramp.astype(int), atol=1)


def test_rotate_quarter_turn_is_rot90_and_zero_is_identity():
  x = _images(batch=1, size=5)[0].astype(np.uint8)
  np.testing.assert_array_equal(data.augment.rotate(x, np.pi / 2), np.rot90(x))
  np.testing.assert_array_equal(data.augment.rotate(x, 0.0), x)


def test_rotate_small_angle_keeps_the_centre_and_zero_fills_corners():
  x = (_images(batch=1, size=9)[0] + 1).astype(np.uint8)
  out = np.asarray(data.augment.rotate(x, np.deg2rad(45.0)))
  np.testing.assert_array_equal(out[4, 4], x[4, 4])  # the centre is a fixed point
  assert (out[0, 0] == 0).all() and (out[-1, -1] == 0).all()  # corners fall outside


def test_random_rotation_angles_stay_in_range():
  x = (_images(batch=32, size=9) + 1).astype(np.uint8)
  out = np.asarray(data.augment.random_rotation(x, jax.random.key(0), 15.0))
  # The centre is fixed under any rotation; within 15 degrees the 3x3 core moves by < 0.6 px
  # and so keeps its pixels (nearest sampling); the images do change elsewhere.
  np.testing.assert_array_equal(out[:, 3:6, 3:6], x[:, 3:6, 3:6])
  assert any(not np.array_equal(o, i) for o, i in zip(out, x))
  wide = np.asarray(data.augment.random_rotation(x, jax.random.key(0), 90.0))
  assert any(not np.array_equal(o[3:6, 3:6], i[3:6, 3:6]) for o, i in zip(wide, x))


def test_augment_batch_applies_rotation_only_when_asked():
  x = (_images(batch=4, size=8) + 1).astype(np.uint8)
  plain = data.augment.augment_batch(x, jax.random.key(0), kind="pad_crop_flip", crop_padding=0,
                                     flip=False)
  np.testing.assert_array_equal(plain, x)
  rotated = np.asarray(data.augment.augment_batch(x, jax.random.key(0), kind="pad_crop_flip",
                                                  crop_padding=0, flip=False,
                                                  rotation_degrees=60.0))
  assert (rotated == 0).any() and not np.array_equal(rotated, x)
