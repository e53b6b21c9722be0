"""Mixup, CutMix and label smoothing as soft targets, inside the jitted train step.

timm's `Mixup` in batch mode, which the ViT fine-tuning recipes use: one lambda per batch,
sample i is mixed with sample B-1-i (the batch flipped), CutMix is chosen with probability
`switch_prob` when both are on, and CutMix's lambda is corrected to the pasted box's true area.
Targets are lam * smooth(y) + (1 - lam) * smooth(y_flipped) with timm's smoothing
(off = s / C, on = 1 - s + s / C). Shapes are static: the box is a mask, not a slice.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def smooth_one_hot(labels: jax.Array, num_classes: int, smoothing: float = 0.0) -> jax.Array:
  """(B, C) float32 one-hot targets with label smoothing (timm's values)."""
  off = smoothing / num_classes
  return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32) * (1.0 - smoothing) + off


def _box_mask(rng: jax.Array, height: int, width: int, lam: jax.Array) -> jax.Array:
  """(H, W) bool CutMix box of side ratio sqrt(1 - lam), centre uniform, clipped to the image."""
  ratio = jnp.sqrt(1.0 - lam)
  cut_h, cut_w = jnp.floor(height * ratio), jnp.floor(width * ratio)
  ky, kx = jax.random.split(rng)
  cy = jax.random.randint(ky, (), 0, height).astype(jnp.float32)
  cx = jax.random.randint(kx, (), 0, width).astype(jnp.float32)
  y0, y1 = jnp.clip(cy - cut_h // 2, 0, height), jnp.clip(cy + cut_h // 2, 0, height)
  x0, x1 = jnp.clip(cx - cut_w // 2, 0, width), jnp.clip(cx + cut_w // 2, 0, width)
  ys = jnp.arange(height, dtype=jnp.float32)[:, None]
  xs = jnp.arange(width, dtype=jnp.float32)[None, :]
  return (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)


def mix_batch(images: jax.Array, labels: jax.Array, rng: jax.Array, num_classes: int, *,
              mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0, switch_prob: float = 0.5,
              label_smoothing: float = 0.0) -> tuple[jax.Array, jax.Array]:
  """Mixes a batch and returns (images, soft targets).

  Args:
    images: (B, H, W, C) float images (normalised or not: mixing is affine-invariant).
    labels: (B,) int labels.
    rng: a JAX key.
    num_classes: C of the targets.
    mixup_alpha, cutmix_alpha: Beta(alpha, alpha) parameters; 0 turns each off.
    switch_prob: probability of CutMix when both are on.
    label_smoothing: timm's smoothing of both one-hot rows.

  Returns:
    images of the same shape and dtype, and (B, C) float32 targets whose rows sum to 1.
  """
  targets = smooth_one_hot(labels, num_classes, label_smoothing)
  if mixup_alpha <= 0 and cutmix_alpha <= 0:
    return images, targets
  k_lam_mix, k_lam_cut, k_switch, k_box = jax.random.split(rng, 4)
  lam_mix = jax.random.beta(k_lam_mix, mixup_alpha, mixup_alpha) if mixup_alpha > 0 else jnp.float32(1.0)
  lam_cut = jax.random.beta(k_lam_cut, cutmix_alpha, cutmix_alpha) if cutmix_alpha > 0 else jnp.float32(1.0)
  if mixup_alpha > 0 and cutmix_alpha > 0:
    use_cutmix = jax.random.uniform(k_switch) < switch_prob
  else:
    use_cutmix = jnp.asarray(cutmix_alpha > 0)
  partner = images[::-1]
  _, height, width, _ = images.shape
  box = _box_mask(k_box, height, width, lam_cut)
  # CutMix's lambda is the share of the image that stayed the sample's own.
  lam_box = 1.0 - jnp.mean(box.astype(jnp.float32))
  cut = jnp.where(box[None, :, :, None], partner, images)
  blended = lam_mix.astype(images.dtype) * images + (1 - lam_mix).astype(images.dtype) * partner
  mixed = jnp.where(use_cutmix, cut, blended)
  lam = jnp.where(use_cutmix, lam_box, lam_mix).astype(jnp.float32)
  return mixed.astype(images.dtype), lam * targets + (1.0 - lam) * targets[::-1]
