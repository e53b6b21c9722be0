"""RandAugment on device (timm's "rand-m{M}-mstd{S}-inc1" policy), per image, inside the jit.

Each image gets `num_ops` operations drawn uniformly from timm's "increasing" set, each applied
with probability 0.5 at magnitude m ~ N(M, S) clipped to [0, 10] (timm's defaults for the
category-extrapolation recipe: M = 9, S = 0.5, two ops). Levels map to strengths as timm does:
rotate up to 30 degrees, shear up to 0.3, translate up to 45% of the side, colour / contrast /
brightness / sharpness factors 1 +- 0.9 * m / 10, posterize to 4 - 4 m / 10 bits, solarize above
256 - 256 m / 10, solarize-add up to 110. Geometric ops resample with nearest neighbour and fill
with `fill` (timm fills with the dataset mean). Pixel ops follow PIL's formulas (ImageOps,
ImageEnhance); the geometric warps use dm-pix (`affine_transform`).

Under `vmap` a `lax.switch` evaluates every op and selects one, which costs a few elementwise
passes per op: cheap next to a ViT's forward pass.
"""

from __future__ import annotations

from typing import Sequence

import dm_pix
import jax
import jax.numpy as jnp

_MAX_LEVEL = 10.0


def _grey(x):
  """PIL's L conversion (ITU-R 601-2 luma), kept as (H, W, 1)."""
  if x.shape[-1] == 1:
    return x
  return (x[..., 0:1] * 299 + x[..., 1:2] * 587 + x[..., 2:3] * 114) / 1000


def _blend(degenerate, image, factor):
  """PIL ImageEnhance: degenerate + factor * (image - degenerate), clipped to [0, 255]."""
  return jnp.clip(degenerate + factor * (image - degenerate), 0, 255)


def _signed(level, sign, scale):
  return level / _MAX_LEVEL * scale * sign


def auto_contrast(x, level, sign, fill):
  del level, sign, fill
  lo = jnp.min(x, axis=(0, 1), keepdims=True)
  hi = jnp.max(x, axis=(0, 1), keepdims=True)
  scale = jnp.where(hi > lo, 255.0 / jnp.maximum(hi - lo, 1e-6), 1.0)
  return jnp.where(hi > lo, jnp.clip((x - lo) * scale, 0, 255), x)


def equalize(x, level, sign, fill):
  """PIL ImageOps.equalize per channel (histogram of the rounded values)."""
  del level, sign, fill

  def channel(c):
    v = jnp.clip(jnp.round(c), 0, 255).astype(jnp.int32)
    hist = jnp.bincount(v.ravel(), length=256)
    last = hist[jnp.max(jnp.where(hist > 0, jnp.arange(256), 0))]
    step = (jnp.sum(hist) - last) // 255
    lut = (jnp.cumsum(hist) - hist + step // 2) // jnp.maximum(step, 1)
    lut = jnp.clip(lut, 0, 255).astype(c.dtype)
    return jnp.where(step > 0, lut[v], c)

  return jnp.stack([channel(x[..., i]) for i in range(x.shape[-1])], axis=-1)


def invert(x, level, sign, fill):
  del level, sign, fill
  return 255.0 - x


def posterize(x, level, sign, fill):
  """Keep the top 4 - int(4 m / 10) bits (timm's PosterizeIncreasing)."""
  del sign, fill
  bits = 4 - jnp.floor(level / _MAX_LEVEL * 4).astype(jnp.int32)
  mask = (0xFF << (8 - bits)) & 0xFF
  v = jnp.clip(jnp.round(x), 0, 255).astype(jnp.int32)
  return (v & mask).astype(x.dtype)


def solarize(x, level, sign, fill):
  """Invert pixels at or above 256 - int(256 m / 10) (timm's SolarizeIncreasing)."""
  del sign, fill
  threshold = 256 - jnp.floor(level / _MAX_LEVEL * 256)
  return jnp.where(x >= threshold, 255.0 - x, x)


def solarize_add(x, level, sign, fill):
  """Add int(110 m / 10) to pixels below 128, clipped."""
  del sign, fill
  add = jnp.floor(level / _MAX_LEVEL * 110)
  return jnp.where(x < 128, jnp.clip(x + add, 0, 255), x)


def color(x, level, sign, fill):
  del fill
  return _blend(jnp.broadcast_to(_grey(x), x.shape), x, 1.0 + _signed(level, sign, 0.9))


def contrast(x, level, sign, fill):
  del fill
  mean = jnp.mean(_grey(x))
  return _blend(jnp.full_like(x, mean), x, 1.0 + _signed(level, sign, 0.9))


def brightness(x, level, sign, fill):
  del fill
  return _blend(jnp.zeros_like(x), x, 1.0 + _signed(level, sign, 0.9))


def sharpness(x, level, sign, fill):
  """PIL's SMOOTH kernel [[1,1,1],[1,5,1],[1,1,1]] / 13 inside, the border unchanged."""
  del fill
  k = jnp.array([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
  padded = jnp.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
  h, w, _ = x.shape
  smooth = sum(k[i, j] * padded[i:i + h, j:j + w] for i in range(3) for j in range(3))
  inner = jnp.zeros((h, w, 1), bool).at[1:-1, 1:-1].set(True)
  degenerate = jnp.where(inner, smooth, x)
  return _blend(degenerate, x, 1.0 + _signed(level, sign, 0.9))


def _warp(x, matrix, fill):
  """Pull-resamples x with a (3, 3) homogeneous map over (row, col, channel) coordinates."""
  fill = fill[None, None, :]
  out = dm_pix.affine_transform(x - fill, matrix, order=0, mode="constant", cval=0.0)
  return out + fill


def _about_centre(x, m2):
  """A 2-D (row, col) linear map applied about the image centre, channels untouched."""
  h, w, _ = x.shape
  centre = jnp.array([(h - 1) / 2.0, (w - 1) / 2.0])
  offset = centre - m2 @ centre
  matrix = jnp.eye(4).at[:2, :2].set(m2).at[:2, 3].set(offset)
  return matrix


def rotate(x, level, sign, fill):
  angle = jnp.deg2rad(_signed(level, sign, 30.0))
  c, s = jnp.cos(angle), jnp.sin(angle)
  return _warp(x, _about_centre(x, jnp.array([[c, s], [-s, c]])), fill)


def shear_x(x, level, sign, fill):
  # PIL's affine (1, v, 0, 0, 1, 0): input col = col + v * row.
  v = _signed(level, sign, 0.3)
  matrix = jnp.eye(4).at[1, 0].set(v)
  return _warp(x, matrix, fill)


def shear_y(x, level, sign, fill):
  v = _signed(level, sign, 0.3)
  matrix = jnp.eye(4).at[0, 1].set(v)
  return _warp(x, matrix, fill)


def translate_x(x, level, sign, fill):
  pixels = jnp.round(_signed(level, sign, 0.45) * x.shape[1])
  return _warp(x, jnp.eye(4).at[1, 3].set(pixels), fill)


def translate_y(x, level, sign, fill):
  pixels = jnp.round(_signed(level, sign, 0.45) * x.shape[0])
  return _warp(x, jnp.eye(4).at[0, 3].set(pixels), fill)


# timm's _RAND_INCREASING_TRANSFORMS, in its order.
OPS = (auto_contrast, equalize, invert, rotate, posterize, solarize, solarize_add, color,
       contrast, brightness, sharpness, shear_x, shear_y, translate_x, translate_y)


def _augment_one(image, key, num_ops: int, magnitude: float, magnitude_std: float, fill):
  x = image.astype(jnp.float32)
  for k in jax.random.split(key, num_ops):
    k_op, k_apply, k_mag, k_sign = jax.random.split(k, 4)
    op = jax.random.randint(k_op, (), 0, len(OPS))
    level = jnp.clip(magnitude + magnitude_std * jax.random.normal(k_mag), 0.0, _MAX_LEVEL)
    sign = jnp.where(jax.random.bernoulli(k_sign), 1.0, -1.0)
    new = jax.lax.switch(op, [lambda v, f=f: f(v, level, sign, fill) for f in OPS], x)
    x = jnp.where(jax.random.bernoulli(k_apply, 0.5), new, x)
  if jnp.issubdtype(image.dtype, jnp.integer):
    return jnp.clip(jnp.round(x), 0, 255).astype(image.dtype)
  return x.astype(image.dtype)


def rand_augment(images: jax.Array, rng: jax.Array, *, num_ops: int = 2,
                 magnitude: float = 9.0, magnitude_std: float = 0.5,
                 fill: Sequence[float] = (124.0, 116.0, 104.0)) -> jax.Array:
  """RandAugment of a (B, H, W, C) batch with values in [0, 255] (uint8 or float).

  Args:
    images: the batch; the result has the same dtype.
    rng: a JAX key (one derived per image).
    num_ops: operations per image (0 = identity).
    magnitude, magnitude_std: the level's mean and standard deviation (timm's m and mstd).
    fill: per-channel fill of the geometric ops (timm: the dataset mean x 255).
  """
  if num_ops <= 0:
    return images
  fill = jnp.asarray(fill, jnp.float32)[:images.shape[-1]]
  keys = jax.random.split(rng, images.shape[0])
  return jax.vmap(lambda im, k: _augment_one(im, k, num_ops, magnitude, magnitude_std, fill))(
      images, keys)
