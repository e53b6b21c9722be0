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
  mean = jnp.asarray(mean, jnp.float32)
  std = jnp.asarray(std, jnp.float32)
  x = images_u8.astype(jnp.float32) / 255.0
  return ((x - mean) / std).astype(dtype)
