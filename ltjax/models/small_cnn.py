"""A small CNN for the 8x8 grayscale digits (the CPU-sized benchmark).

conv3x3(w) -> BN -> ReLU -> conv3x3/2(2w) -> BN -> ReLU -> global average pool
-> Dense(4w) -> ReLU -> Dense(num_classes). "pooled" is the ReLU'd hidden
layer, i.e. the input of the final classifier, so that classifier re-training
and feature-based methods see the same vector on every model.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from ltjax.models.resnet import batch_norm
from ltjax.models.resnet import conv_kernel_init_fan_out
from ltjax.models.resnet import Dtype
from ltjax.models.resnet import torch_linear_bias_init
from ltjax.models.resnet import torch_linear_kernel_init
from ltjax.models.resnet_cifar import NormedLinear


class SmallCNN(nn.Module):
  """Two-conv network for tiny images.

  Attributes:
    num_classes: number of output logits.
    width: channels of the first conv; the second has 2x, the hidden layer 4x.
    dtype: computation dtype; params and logits stay float32.
  """
  num_classes: int
  width: int = 32
  normed_classifier: bool = False  # LDAM's cosine classifier, as CifarResNet's option
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array,
               train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Returns `(logits, features)` for NHWC images `x`.

    Args:
      x: (B, H, W, C) normalised float images.
      train: use batch statistics and update `batch_stats` if True.

    Returns:
      float32 logits (B, num_classes) and a dict with "pooled" (B, 4 * width)
      float32 classifier inputs and "feature_map" (B, h, w, 2 * width).
    """
    conv = functools.partial(nn.Conv, kernel_size=(3, 3),
                             padding=((1, 1), (1, 1)), use_bias=False,
                             dtype=self.dtype,
                             kernel_init=conv_kernel_init_fan_out)
    x = jnp.asarray(x, self.dtype)
    x = conv(self.width, name="conv1")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="bn1")(x))
    # A strided conv rather than max-pooling: 8x8 inputs have little spatial
    # extent to spare, and the stride keeps the second conv cheap.
    x = conv(2 * self.width, strides=2, name="conv2")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="bn2")(x))
    feature_map = x

    x = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
    hidden = nn.Dense(4 * self.width, dtype=self.dtype,
                      kernel_init=torch_linear_kernel_init,
                      bias_init=torch_linear_bias_init(x.shape[-1]),
                      name="hidden")(x)
    pooled = nn.relu(hidden).astype(jnp.float32)
    if self.normed_classifier:
      logits = NormedLinear(self.num_classes, name="head")(pooled)
    else:
      logits = nn.Dense(self.num_classes,
                        kernel_init=torch_linear_kernel_init,
                        bias_init=torch_linear_bias_init(pooled.shape[-1]),
                        name="head")(pooled)
    return logits.astype(jnp.float32), {"pooled": pooled,
                                        "feature_map": feature_map}
