"""RIDE multi-expert backbones (Wang et al., ICLR 2021): shared early stages, per-expert later
stages and cosine classifiers, driven by one stacked set of expert parameters (`nn.scan`).

- CIFAR (ResNet-32): conv1 + layer1 (16 ch) shared; each expert owns layer2 and layer3
  (24 / 48 channels "reduced", 32 / 64 full) and a NormedLinear head; logits = s * cos, s = 30.
- ImageNet / iNaturalist (ResNet-50, ResNeXt-50): stem + layer1 + layer2 shared; each expert
  owns layer3 and layer4 (planes 192 / 384 reduced, 256 / 512 full).
The model output is the mean of the experts' (scaled) logits; `features` holds
`expert_logits` (E, B, C), `expert_pooled` (E, B, D) and `pooled` (B, E * D).
Every expert's parameters carry a leading expert axis of size E (one copy of the shared ones).

The experts run under a fully unrolled `nn.scan` over that axis: one expert after the other,
each with its own slice of the stacked parameters, as plain convolutions. Both alternatives
were far slower on XLA's CPU backend (experiments/bench.py, RIDE-3 train step, batch 128,
2 cores, 2 timed steps on a busy machine): `nn.vmap` (batched, grouped convolutions) 4.6 img/s
and a rolled scan (convolutions inside a while loop) 2.1 img/s, against 41 img/s unrolled in
the same conditions (69 img/s on an idle machine, experiments/results/bench_cpu.md). The
parameter layout is the same in all three.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ltjax.models.resnet import batch_norm
from ltjax.models.resnet import Bottleneck
from ltjax.models.resnet import conv_kernel_init_fan_out
from ltjax.models.resnet import Dtype
from ltjax.models.resnet_cifar import BasicBlock
from ltjax.models.resnet_cifar import kaiming_normal_fan_in
from ltjax.models.resnet_cifar import NormedLinear


class _CifarExpert(nn.Module):
  """One expert: BasicBlock stages (each starting with stride 2) and a cosine head."""
  num_classes: int
  num_blocks: Sequence[int]
  widths: Sequence[int]
  scale: float
  train: bool
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, shared, unused):
    """(shared features, None) -> (shared features, (logits, pooled)): a scan step."""
    del unused
    x = shared
    for i, (blocks, width) in enumerate(zip(self.num_blocks, self.widths)):
      for j in range(blocks):
        x = BasicBlock(width, strides=2 if j == 0 else 1, dtype=self.dtype,
                       name=f"layer{i + 2}_{j}")(x, self.train)
    pooled = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
    return shared, (self.scale * NormedLinear(self.num_classes, name="head")(pooled), pooled)


class _ImageNetExpert(nn.Module):
  """One expert: Bottleneck stages layer3 / layer4 (stride 2 each) and a cosine head."""
  num_classes: int
  stage_sizes: Sequence[int]
  planes: Sequence[int]
  groups: int
  width_per_group: int
  scale: float
  train: bool
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, shared, unused):
    """(shared features, None) -> (shared features, (logits, pooled)): a scan step."""
    del unused
    x = shared
    for i, (blocks, planes) in enumerate(zip(self.stage_sizes, self.planes)):
      for j in range(blocks):
        x = Bottleneck(planes=planes, strides=2 if j == 0 else 1, groups=self.groups,
                       width_per_group=self.width_per_group, dtype=self.dtype,
                       name=f"layer{i + 3}_{j}")(x, self.train)
    pooled = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
    return shared, (self.scale * NormedLinear(self.num_classes, name="head")(pooled), pooled)


def _run_experts(expert_cls, num_experts: int, x, **kwargs):
  """Applies `num_experts` independently initialised copies of an expert to the shared x;
  returns the stacked (E, ...) logits and pooled features."""
  experts = nn.scan(expert_cls, variable_axes={"params": 0, "batch_stats": 0},
                    split_rngs={"params": True}, length=num_experts, unroll=num_experts)
  _, outputs = experts(name="experts", **kwargs)(x, None)
  return outputs


def _outputs(expert_logits, expert_pooled):
  num_experts, batch = expert_pooled.shape[:2]
  pooled = jnp.transpose(expert_pooled, (1, 0, 2)).reshape(batch, -1)
  return jnp.mean(expert_logits, axis=0), {"expert_logits": expert_logits,
                                           "expert_pooled": expert_pooled, "pooled": pooled}


class RideCifarResNet(nn.Module):
  """RIDE ResNet-32 for CIFAR (32x32 inputs).

  Attributes:
    num_classes: number of classes.
    num_experts: E.
    num_blocks: BasicBlocks per stage (5, 5, 5) for ResNet-32; the first is shared.
    stem_width: channels of conv1 and the shared layer1 (16).
    expert_widths: channels of each expert's layer2 / layer3: (24, 48) reduced (the RIDE
      configs), (32, 64) full.
    scale: s multiplying the cosine logits (30).
  """
  num_classes: int
  num_experts: int = 3
  num_blocks: Sequence[int] = (5, 5, 5)
  stem_width: int = 16
  expert_widths: Sequence[int] = (24, 48)
  scale: float = 30.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False):
    x = jnp.asarray(x, self.dtype)
    x = nn.Conv(self.stem_width, (3, 3), padding=((1, 1), (1, 1)), use_bias=False,
                dtype=self.dtype, kernel_init=kaiming_normal_fan_in, name="conv1")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="bn1")(x))
    for j in range(self.num_blocks[0]):
      x = BasicBlock(self.stem_width, dtype=self.dtype, name=f"layer1_{j}")(x, train)
    return _outputs(*_run_experts(
        _CifarExpert, self.num_experts, x, num_classes=self.num_classes,
        num_blocks=tuple(self.num_blocks[1:]), widths=tuple(self.expert_widths),
        scale=self.scale, train=train, dtype=self.dtype))


class RideResNet(nn.Module):
  """RIDE ResNet-50 / ResNeXt-50 for ImageNet-sized inputs.

  Attributes:
    stage_sizes: Bottlenecks per stage; stages 1-2 shared, 3-4 per expert.
    expert_planes: planes of layer3 / layer4: (192, 384) reduced, (256, 512) full.
    groups, width_per_group: ResNeXt cardinality (32, 4) or ResNet (1, 64).
    num_filters: stem width (64; smaller only for test variants).
  """
  num_classes: int
  num_experts: int = 3
  stage_sizes: Sequence[int] = (3, 4, 6, 3)
  expert_planes: Sequence[int] = (192, 384)
  groups: int = 1
  width_per_group: int = 64
  num_filters: int = 64
  scale: float = 30.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False):
    x = jnp.asarray(x, self.dtype)
    x = nn.Conv(self.num_filters, (7, 7), strides=2, padding=((3, 3), (3, 3)), use_bias=False,
                dtype=self.dtype, kernel_init=conv_kernel_init_fan_out, name="conv1")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="bn1")(x))
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for i in range(2):
      for j in range(self.stage_sizes[i]):
        x = Bottleneck(planes=self.num_filters * 2**i, strides=2 if i > 0 and j == 0 else 1,
                       groups=self.groups, width_per_group=self.width_per_group,
                       dtype=self.dtype, name=f"layer{i + 1}_{j}")(x, train)
    return _outputs(*_run_experts(
        _ImageNetExpert, self.num_experts, x, num_classes=self.num_classes,
        stage_sizes=tuple(self.stage_sizes[2:]), planes=tuple(self.expert_planes),
        groups=self.groups, width_per_group=self.width_per_group, scale=self.scale,
        train=train, dtype=self.dtype))


def ride_cifar_resnet32(num_classes: int, num_experts: int = 3, reduced: bool = True,
                        **kwargs: Any) -> RideCifarResNet:
  """RIDE ResNet-32 (reduced widths 24 / 48 as every RIDE CIFAR config)."""
  return RideCifarResNet(num_classes=num_classes, num_experts=num_experts,
                         expert_widths=(24, 48) if reduced else (32, 64), **kwargs)


def ride_cifar_tiny(num_classes: int, num_experts: int = 3, **kwargs: Any) -> RideCifarResNet:
  """Test-sized RIDE: one block per stage, widths 4 / 6 / 8."""
  return RideCifarResNet(num_classes=num_classes, num_experts=num_experts, num_blocks=(1, 1, 1),
                         stem_width=4, expert_widths=(6, 8), **kwargs)


def ride_resnext50(num_classes: int, num_experts: int = 3, reduced: bool = True,
                   **kwargs: Any) -> RideResNet:
  return RideResNet(num_classes=num_classes, num_experts=num_experts, groups=32,
                    width_per_group=4, expert_planes=(192, 384) if reduced else (256, 512),
                    **kwargs)


def ride_resnet50(num_classes: int, num_experts: int = 3, reduced: bool = True,
                  **kwargs: Any) -> RideResNet:
  return RideResNet(num_classes=num_classes, num_experts=num_experts,
                    expert_planes=(192, 384) if reduced else (256, 512), **kwargs)


def ride_resnet_tiny(num_classes: int, num_experts: int = 3, **kwargs: Any) -> RideResNet:
  """Test-sized ImageNet RIDE: one block per stage, stem 8, expert planes 12 / 16."""
  return RideResNet(num_classes=num_classes, num_experts=num_experts, stage_sizes=(1, 1, 1, 1),
                    num_filters=8, expert_planes=(12, 16), **kwargs)
