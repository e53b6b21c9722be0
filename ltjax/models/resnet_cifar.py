"""CIFAR ResNets (ResNet-20/32/44/56) as used by LDAM-DRW and RIDE.

He et al.'s CIFAR design: a 3x3 stem, three stages of BasicBlocks with widths
(16, 32, 64) and strides (1, 2, 2), the parameter-free "option A" shortcut,
global average pooling and a linear (or LDAM's cosine "normed") classifier.
ResNet-32 with 100 classes has 470,004 parameters.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ltjax.models.materialize import materialize
from ltjax.models.resnet import batch_norm
from ltjax.models.resnet import Dtype
from ltjax.models.resnet import torch_linear_bias_init

# LDAM's `_weights_init` calls `init.kaiming_normal_(m.weight)` on convs and
# linears: torch's defaults are mode="fan_in", gain sqrt(2), untruncated.
kaiming_normal_fan_in = nn.initializers.variance_scaling(
    2.0, "fan_in", "normal")


def shortcut_option_a(x: jax.Array, out_channels: int,
                      strides: int = 2) -> jax.Array:
  """The parameter-free "option A" shortcut of the CIFAR ResNet paper.

  Subsamples space by `strides` and zero-pads channels equally on both sides,
  like the reference LambdaLayer `F.pad(x[:, :, ::2, ::2], (..., p, p))` with
  p = planes // 4 (for the usual doubling of channels, (out - in) / 2 == p).

  Args:
    x: (B, H, W, C) activations.
    out_channels: channels of the block output, >= C.
    strides: spatial subsampling factor.

  Returns:
    (B, ceil(H / strides), ceil(W / strides), out_channels) array.
  """
  pad = out_channels - x.shape[-1]
  if pad < 0:
    raise ValueError(
        f"option A cannot shrink channels: {x.shape[-1]} -> {out_channels}")
  x = x[:, ::strides, ::strides, :]
  return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (pad // 2, pad - pad // 2)))


class BasicBlock(nn.Module):
  """Two 3x3 conv-BN layers with an option A shortcut.

  Attributes:
    features: output channels.
    strides: stride of the first conv.
    dtype: computation dtype.
  """
  features: int
  strides: int = 1
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    conv = functools.partial(nn.Conv, self.features, (3, 3),
                             padding=((1, 1), (1, 1)), use_bias=False,
                             dtype=self.dtype,
                             kernel_init=kaiming_normal_fan_in)
    y = conv(strides=self.strides, name="conv1")(x)
    y = nn.relu(batch_norm(train, self.dtype, name="bn1")(y))
    y = materialize(y) if train else y
    y = conv(name="conv2")(y)
    y = batch_norm(train, self.dtype, name="bn2")(y)
    if self.strides != 1 or x.shape[-1] != self.features:
      x = shortcut_option_a(x, self.features, self.strides)
    out = nn.relu(y + x)
    # Stored once in training so the backward pass does not re-derive it (see
    # ltjax.models.materialize): 1.5x the CIFAR ResNet-32 train step on CPU.
    return materialize(out) if train else out


def _unit_columns_init(key: jax.Array, shape: Sequence[int],
                       dtype: Dtype = jnp.float32) -> jax.Array:
  # LDAM: uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5), i.e. every output
  # column rescaled to unit L2 norm.
  w = jax.random.uniform(key, shape, dtype, -1.0, 1.0)
  return w / jnp.linalg.norm(w, axis=0, keepdims=True)


def _l2_normalize(x: jax.Array, axis: int) -> jax.Array:
  # Same eps handling as torch.nn.functional.normalize.
  norm = jnp.linalg.norm(x, axis=axis, keepdims=True)
  return x / jnp.maximum(norm, 1e-12)


class NormedLinear(nn.Module):
  """LDAM's cosine classifier: normalize(x) @ normalize(W, axis=0).

  Attributes:
    features: number of outputs.
  """
  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    w = self.param("kernel", _unit_columns_init, (x.shape[-1], self.features))
    x = x.astype(jnp.float32)
    return _l2_normalize(x, axis=-1) @ _l2_normalize(w, axis=0)


class CifarResNet(nn.Module):
  """CIFAR ResNet with BasicBlocks and option A shortcuts.

  Attributes:
    num_classes: number of output logits.
    num_blocks: BasicBlocks per stage; (5, 5, 5) is ResNet-32, (3, 3, 3)
      ResNet-20, (9, 9, 9) ResNet-56.
    widths: channels of each stage; the stem has `widths[0]` channels.
    normed_classifier: use LDAM's NormedLinear (cosine logits in [-1, 1])
      instead of a plain linear layer.
    dtype: computation dtype; params and logits stay float32.
  """
  num_classes: int
  num_blocks: Sequence[int] = (5, 5, 5)
  widths: Sequence[int] = (16, 32, 64)
  normed_classifier: bool = False
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array,
               train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Returns `(logits, features)` for NHWC images `x`.

    Args:
      x: (B, H, W, C) normalised float images.
      train: use batch statistics and update `batch_stats` if True.

    Returns:
      float32 logits (B, num_classes) and a dict with "pooled" (B, D) float32
      classifier inputs and "feature_map" (B, h, w, D) in `dtype`.
    """
    if len(self.num_blocks) != len(self.widths):
      raise ValueError(f"num_blocks {self.num_blocks} and widths "
                       f"{self.widths} differ in length")
    x = jnp.asarray(x, self.dtype)
    x = nn.Conv(self.widths[0], (3, 3), padding=((1, 1), (1, 1)),
                use_bias=False, dtype=self.dtype,
                kernel_init=kaiming_normal_fan_in, name="conv1")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="bn1")(x))

    for i, (num_blocks, width) in enumerate(zip(self.num_blocks, self.widths)):
      for j in range(num_blocks):
        # Stage strides are (1, 2, 2, ...): only later stages downsample.
        x = BasicBlock(width, strides=2 if i > 0 and j == 0 else 1,
                       dtype=self.dtype, name=f"layer{i + 1}_{j}")(x, train)

    feature_map = x
    pooled = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
    if self.normed_classifier:
      logits = NormedLinear(self.num_classes, name="head")(pooled)
    else:
      logits = nn.Dense(
          self.num_classes,
          kernel_init=kaiming_normal_fan_in,
          bias_init=torch_linear_bias_init(pooled.shape[-1]),
          name="head")(pooled)
    return logits.astype(jnp.float32), {"pooled": pooled,
                                        "feature_map": feature_map}


def cifar_resnet32(num_classes: int, **kwargs: Any) -> CifarResNet:
  """ResNet-32 of LDAM-DRW / RIDE."""
  return CifarResNet(num_classes=num_classes, num_blocks=(5, 5, 5), **kwargs)


def cifar_resnet_tiny(num_classes: int, **kwargs: Any) -> CifarResNet:
  """A one-block-per-stage, narrow CIFAR ResNet for fast tests."""
  return CifarResNet(num_classes=num_classes, num_blocks=(1, 1, 1),
                     widths=(4, 8, 16), **kwargs)
