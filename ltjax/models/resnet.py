"""ImageNet ResNet-50 and ResNeXt-50 (32x4d) in the torchvision layout.

The layout follows torchvision's `resnet.py` ("ResNet v1.5"): the stride of a
downsampling bottleneck sits on its 3x3 conv, the stem is a 7x7/2 conv followed
by a 3x3/2 max-pool with padding 1, and the projection shortcut is a strided
1x1 conv + BatchNorm. Parameter counts therefore match torchvision exactly,
which is what the long-tailed ImageNet-LT / iNaturalist baselines use.

The small init helpers at the top are shared with the other model files.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ltjax.models.materialize import materialize

Dtype = Any
Initializer = Callable[..., jax.Array]

# torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu"). Torch draws
# from an untruncated normal, hence "normal" rather than "truncated_normal".
conv_kernel_init_fan_out = nn.initializers.variance_scaling(
    2.0, "fan_out", "normal")

# torch.nn.Linear's default weight init, kaiming_uniform_(a=sqrt(5)), reduces
# to U(-1/sqrt(fan_in), 1/sqrt(fan_in)), i.e. variance 1 / (3 fan_in).
torch_linear_kernel_init = nn.initializers.variance_scaling(
    1.0 / 3.0, "fan_in", "uniform")


def torch_linear_bias_init(fan_in: int) -> Initializer:
  """Returns torch.nn.Linear's default bias init, U(+-1/sqrt(fan_in)).

  Args:
    fan_in: number of input features of the layer. A Flax bias initializer
      only sees the bias shape, so the fan-in has to be bound here.

  Returns:
    A Flax initializer `(key, shape, dtype) -> array`.
  """
  bound = 1.0 / math.sqrt(fan_in)

  def init(key: jax.Array, shape: Sequence[int], dtype: Dtype = jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def batch_norm(train: bool, dtype: Dtype, **kwargs: Any) -> nn.BatchNorm:
  """BatchNorm with PyTorch's defaults (momentum 0.1 == Flax 0.9, eps 1e-5)."""
  return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                      epsilon=1e-5, dtype=dtype, **kwargs)


class Bottleneck(nn.Module):
  """torchvision Bottleneck: 1x1 -> 3x3 (strided, grouped) -> 1x1 (x4).

  Attributes:
    planes: base width of the block; the output has `4 * planes` channels.
    strides: stride of the 3x3 conv and of the projection shortcut.
    groups: number of groups of the 3x3 conv (32 for ResNeXt-50 32x4d).
    width_per_group: channels per group at `planes == 64`.
    dtype: computation dtype.
  """
  planes: int
  strides: int = 1
  groups: int = 1
  width_per_group: int = 64
  dtype: Dtype = jnp.float32

  expansion = 4

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    # Same formula as torchvision: int(planes * (base_width / 64.)) * groups.
    width = self.planes * self.width_per_group // 64 * self.groups
    out_channels = self.planes * self.expansion
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype,
                             kernel_init=conv_kernel_init_fan_out)

    y = conv(width, (1, 1), name="conv1")(x)
    y = nn.relu(batch_norm(train, self.dtype, name="bn1")(y))
    y = conv(width, (3, 3), strides=self.strides, padding=((1, 1), (1, 1)),
             feature_group_count=self.groups, name="conv2")(y)
    y = nn.relu(batch_norm(train, self.dtype, name="bn2")(y))
    y = conv(out_channels, (1, 1), name="conv3")(y)
    y = batch_norm(train, self.dtype, name="bn3")(y)

    if self.strides != 1 or x.shape[-1] != out_channels:
      x = conv(out_channels, (1, 1), strides=self.strides,
               name="downsample_conv")(x)
      x = batch_norm(train, self.dtype, name="downsample_bn")(x)
    out = nn.relu(y + x)
    # Stored once in training so the backward pass does not re-derive it (see
    # ltjax.models.materialize): 1.5x the CIFAR ResNet-32 train step on CPU.
    return materialize(out) if train else out


class ResNet(nn.Module):
  """Bottleneck ResNet / ResNeXt for ImageNet-sized inputs.

  Attributes:
    num_classes: number of output logits.
    stage_sizes: number of bottleneck blocks in each stage.
    groups: groups of every 3x3 conv (ResNeXt cardinality).
    width_per_group: channels per group in the first stage.
    num_filters: stem channels and `planes` of the first stage (doubling per
      stage); 64 in torchvision, smaller only for test variants.
    dtype: computation dtype; params and logits stay float32.
  """
  num_classes: int
  stage_sizes: Sequence[int] = (3, 4, 6, 3)
  groups: int = 1
  width_per_group: int = 64
  num_filters: int = 64
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
    x = jnp.asarray(x, self.dtype)
    x = nn.Conv(self.num_filters, (7, 7), strides=2, padding=((3, 3), (3, 3)),
                use_bias=False, dtype=self.dtype,
                kernel_init=conv_kernel_init_fan_out, name="conv1")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="bn1")(x))
    # Max-pooling pads with -inf, as torch's MaxPool2d(3, 2, padding=1).
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))

    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        x = Bottleneck(
            planes=self.num_filters * 2**i,
            strides=2 if i > 0 and j == 0 else 1,
            groups=self.groups,
            width_per_group=self.width_per_group,
            dtype=self.dtype,
            name=f"layer{i + 1}_{j}")(x, train)

    feature_map = x
    # Pool and classify in float32: the head is tiny and its precision matters
    # for the logit-adjusting losses of long-tailed recognition.
    pooled = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
    logits = nn.Dense(
        self.num_classes,
        kernel_init=torch_linear_kernel_init,
        bias_init=torch_linear_bias_init(pooled.shape[-1]),
        name="head")(pooled)
    return logits.astype(jnp.float32), {"pooled": pooled,
                                        "feature_map": feature_map}


def resnet50(num_classes: int, **kwargs: Any) -> ResNet:
  """ResNet-50 (25,557,032 parameters at 1000 classes, as torchvision)."""
  return ResNet(num_classes=num_classes, stage_sizes=(3, 4, 6, 3), **kwargs)


def resnext50_32x4d(num_classes: int, **kwargs: Any) -> ResNet:
  """ResNeXt-50 32x4d (25,028,904 parameters at 1000 classes)."""
  return ResNet(num_classes=num_classes, stage_sizes=(3, 4, 6, 3), groups=32,
                width_per_group=4, **kwargs)


def resnet_tiny(num_classes: int, **kwargs: Any) -> ResNet:
  """A one-block-per-stage, 8-filter ResNet for fast tests."""
  return ResNet(num_classes=num_classes, stage_sizes=(1, 1, 1, 1),
                num_filters=8, **kwargs)
