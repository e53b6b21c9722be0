"""On-device augmentation and normalisation, run inside the jitted step.

The host feeds uint8 batches; cropping, flipping and normalising happen on the accelerator with
one rng per example, so augmentation is free of Python overhead and identical whatever the
number of devices (a per-example key is derived from the step rng and the example index).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

# Normalisation of the LDAM-DRW / RIDE lineage for CIFAR (protocol.md).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _crop_flip_one(image, key, padding: int, flip: bool):
  """Zero-pad by `padding`, crop back to the original size at a random offset, maybe flip."""
  h, w, c = image.shape
  crop_key, flip_key = jax.random.split(key)
  if padding:
    padded = jnp.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    dy, dx = jax.random.randint(crop_key, (2,), 0, 2 * padding + 1)
    image = jax.lax.dynamic_slice(padded, (dy, dx, 0), (h, w, c))
  if flip:
    image = jnp.where(jax.random.bernoulli(flip_key), image[:, ::-1, :], image)
  return image


def random_crop_flip(images_u8: jax.Array, rng: jax.Array, *, padding: int = 4,
                     flip: bool = True) -> jax.Array:
  """Random `padding`-pixel zero-pad crop and horizontal flip, per example.

  Args:
    images_u8: (B, H, W, C) uint8.
    rng: a PRNG key; example i uses fold_in(rng, i).
    padding: pad width (the crop keeps the original size); 0 disables cropping.
    flip: whether to flip horizontally with probability 1/2.

  Returns:
    (B, H, W, C) uint8 augmented images.
  """
  keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(jnp.arange(images_u8.shape[0]))
  return jax.vmap(lambda im, k: _crop_flip_one(im, k, padding, flip))(images_u8, keys)


def normalize(images_u8: jax.Array, mean: Sequence[float], std: Sequence[float],
              dtype=jnp.float32) -> jax.Array:
  """uint8 pixels -> (x / 255 - mean) / std in `dtype`."""
  mean = jnp.asarray(mean, jnp.float32).reshape((1,) * (images_u8.ndim - 1) + (-1,))
  std = jnp.asarray(std, jnp.float32).reshape((1,) * (images_u8.ndim - 1) + (-1,))
  x = images_u8.astype(jnp.float32) / 255.0
  return ((x - mean) / std).astype(dtype)


def _random_resized_crop_one(image, key, size: int, scale, ratio, flip: bool):
  """One Inception-style crop: random area and aspect ratio, resized to (size, size)."""
  h, w, _ = image.shape
  area_key, ratio_key, y_key, x_key, flip_key = jax.random.split(key, 5)
  area = jax.random.uniform(area_key, (), minval=scale[0], maxval=scale[1]) * h * w
  log_ratio = jax.random.uniform(ratio_key, (), minval=jnp.log(ratio[0]),
                                 maxval=jnp.log(ratio[1]))
  aspect = jnp.exp(log_ratio)
  # torchvision retries out-of-range boxes up to 10 times; clipping keeps this branch-free.
  crop_w = jnp.clip(jnp.sqrt(area * aspect), 1.0, w)
  crop_h = jnp.clip(jnp.sqrt(area / aspect), 1.0, h)
  y0 = jax.random.uniform(y_key, ()) * (h - crop_h)
  x0 = jax.random.uniform(x_key, ()) * (w - crop_w)
  scale_yx = jnp.stack([size / crop_h, size / crop_w])
  out = jax.image.scale_and_translate(
      image.astype(jnp.float32), (size, size, image.shape[-1]), (0, 1), scale_yx,
      -jnp.stack([y0, x0]) * scale_yx, method="linear", antialias=True)
  out = jnp.clip(jnp.round(out), 0, 255).astype(jnp.uint8)
  if flip:
    out = jnp.where(jax.random.bernoulli(flip_key), out[:, ::-1, :], out)
  return out


def random_resized_crop(images_u8: jax.Array, rng: jax.Array, *, size: int,
                        scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3),
                        flip: bool = True) -> jax.Array:
  """RandomResizedCrop(size) + horizontal flip per example, on device (the ImageNet recipe).

  Args:
    images_u8: (B, H, W, C) uint8 (for image folders: the host's resized centre square).
    rng: PRNG key; example i uses fold_in(rng, i).
    size: output side.
    scale: range of the crop's area as a fraction of the image.
    ratio: range of the crop's aspect ratio (sampled log-uniformly).
    flip: whether to flip horizontally with probability 1/2.

  Returns:
    (B, size, size, C) uint8.
  """
  keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(jnp.arange(images_u8.shape[0]))
  return jax.vmap(lambda im, k: _random_resized_crop_one(im, k, size, scale, ratio, flip))(
      images_u8, keys)


def rotate(image_u8: jax.Array, angle: jax.Array) -> jax.Array:
  """Rotates one (H, W, C) image counter-clockwise by `angle` radians about its centre.

  Nearest-neighbour sampling, zero fill outside the source: torchvision's RandomRotation
  defaults. A 90-degree turn equals np.rot90.
  """
  h, w, _ = image_u8.shape
  cy, cx = (h - 1) / 2, (w - 1) / 2
  y, x = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) - cy,
                      jnp.arange(w, dtype=jnp.float32) - cx, indexing="ij")
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  # Each output pixel reads the source pixel the rotation carries onto it (inverse map).
  src_x = jnp.round(x * cos - y * sin + cx).astype(jnp.int32)
  src_y = jnp.round(x * sin + y * cos + cy).astype(jnp.int32)
  inside = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
  out = image_u8[jnp.clip(src_y, 0, h - 1), jnp.clip(src_x, 0, w - 1)]
  return jnp.where(inside[..., None], out, jnp.zeros_like(out))


def random_rotation(images_u8: jax.Array, rng: jax.Array, degrees: float) -> jax.Array:
  """Rotates example i by an angle drawn uniformly from [-degrees, degrees] (RIDE's CIFAR
  RandomRotation(15)); example i uses fold_in(rng, i)."""
  keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(jnp.arange(images_u8.shape[0]))
  angles = jax.vmap(lambda k: jax.random.uniform(k, (), minval=-degrees, maxval=degrees))(keys)
  return jax.vmap(rotate)(images_u8, jnp.deg2rad(angles))


def augment_batch(images_u8: jax.Array, rng: jax.Array, *, kind: str, crop_padding: int = 4,
                  flip: bool = True, size: int = 224,
                  rotation_degrees: float = 0.0) -> jax.Array:
  """Dispatches on the config's `augment.kind`: "pad_crop_flip" or "random_resized_crop", then
  rotates by up to `rotation_degrees` when it is positive (after crop and flip, as the
  reference's transform order has it)."""
  crop_rng, rotation_rng = jax.random.split(rng)
  if kind == "pad_crop_flip":
    images = random_crop_flip(images_u8, crop_rng, padding=crop_padding, flip=flip)
  elif kind == "random_resized_crop":
    images = random_resized_crop(images_u8, crop_rng, size=size, flip=flip)
  else:
    raise ValueError(f"unknown augment.kind {kind!r}; use 'pad_crop_flip' or "
                     "'random_resized_crop'")
  if rotation_degrees > 0:
    images = random_rotation(images, rotation_rng, rotation_degrees)
  return images
