"""Vision Transformer (Dosovitskiy et al.) as a Linen backbone: ViT-B/16 and a tiny test variant.

Layout as big_vision / timm ViT: a conv patch embedding, a learned [CLS] token and learned
position embeddings, pre-LayerNorm encoder blocks (multi-head self-attention, GELU MLP), a final
LayerNorm, and a zero-initialised linear head on the [CLS] token. `features["pooled"]` is that
token after the final LayerNorm (the head's input), as every ltjax model returns. Variants:
mean pooling (DINOv2's head), MAE's global pool (mean of the patch tokens, then a fresh
`fc_norm` LayerNorm instead of the final one), and stochastic depth (`drop_path`, timm's rule).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from ltjax.models.resnet import Dtype


def quick_gelu(x: jax.Array) -> jax.Array:
  """CLIP's GELU approximation x * sigmoid(1.702 x) (its checkpoints were trained with it)."""
  return x * jax.nn.sigmoid(1.702 * x)


ACTIVATIONS = {"gelu": lambda x: nn.gelu(x, approximate=False), "quick_gelu": quick_gelu}
POOLS = ("cls", "mean", "mean_fc_norm")


def drop_path(x: jax.Array, rate: float, rng: jax.Array) -> jax.Array:
  """Stochastic depth (timm's DropPath): each sample's residual branch is zeroed with
  probability `rate` and the kept ones are scaled by 1 / (1 - rate)."""
  keep = 1.0 - rate
  mask = jax.random.bernoulli(rng, keep, (x.shape[0],) + (1,) * (x.ndim - 1))
  return jnp.where(mask, x / jnp.asarray(keep, x.dtype), jnp.zeros_like(x))


def block_drop_rates(rate: float, depth: int) -> list[float]:
  """Stochastic depth per block: 0 for the first rising linearly to `rate` for the last
  (timm's `torch.linspace(0, drop_path_rate, depth)`)."""
  return [rate * i / max(depth - 1, 1) for i in range(depth)]


class EncoderBlock(nn.Module):
  """x + ls1 * MHSA(LN(x)), then x + ls2 * MLP(LN(x)).

  `layer_scale` > 0 adds DINOv2's per-channel LayerScale (ls1, ls2 initialised to that value);
  `act` is the MLP's activation ("gelu" exact, or CLIP's "quick_gelu"); `drop_path` > 0 drops
  each residual branch per sample in training (two independent draws, as timm's Block), with
  the "dropout" rng.
  """
  num_heads: int
  mlp_dim: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  layer_scale: float = 0.0
  act: str = "gelu"
  drop_path: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    y = nn.LayerNorm(dtype=self.dtype, name="norm1")(x)
    y = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, dtype=self.dtype,
                                        dropout_rate=self.dropout, deterministic=not train,
                                        name="attn")(y, y)
    x = x + self._drop(nn.Dropout(self.dropout, deterministic=not train)(
        self._scale("ls1", y)), train)
    y = nn.LayerNorm(dtype=self.dtype, name="norm2")(x)
    y = nn.Dense(self.mlp_dim, dtype=self.dtype, name="mlp_fc1")(y)
    y = ACTIVATIONS[self.act](y)
    y = nn.Dense(x.shape[-1], dtype=self.dtype, name="mlp_fc2")(y)
    return x + self._drop(nn.Dropout(self.dropout, deterministic=not train)(
        self._scale("ls2", y)), train)

  def _drop(self, y: jax.Array, train: bool) -> jax.Array:
    if not train or self.drop_path <= 0:
      return y
    return drop_path(y, self.drop_path, self.make_rng("dropout"))

  def _scale(self, name: str, y: jax.Array) -> jax.Array:
    if self.layer_scale <= 0:
      return y
    gamma = self.param(name, nn.initializers.constant(self.layer_scale), (y.shape[-1],))
    return y * gamma.astype(y.dtype)[None, None, :]


class ViT(nn.Module):
  """ViT classifier returning (logits, {"pooled", "tokens"}).

  Attributes:
    num_classes: outputs of the head.
    patch_size: side of the square patches.
    width: token dimension.
    depth: number of encoder blocks.
    num_heads: attention heads.
    mlp_dim: hidden width of the MLPs.
    dropout: dropout rate inside the blocks (train only).
    dtype: computation dtype; params and logits stay float32.
    layer_scale: DINOv2's LayerScale init value (0 = none).
    pre_norm: CLIP's LayerNorm ("norm_pre") on the tokens before the first block.
    act: MLP activation, "gelu" or "quick_gelu" (CLIP).
    pool: "cls" (the [CLS] token after the final norm), "mean" (the mean of the patch tokens
      after the final norm: the category-extrapolation code's DINOv2 head) or "mean_fc_norm"
      (MAE's global pool: the mean of the patch tokens of the last block, then a LayerNorm
      "fc_norm" in place of the final norm; fine-tuning initialises it afresh).
    head_norm: a BatchNorm without scale and bias before the head (that DINOv2 head's
      BatchNorm1d(affine=False)); needs `batch_stats`.
    drop_path: stochastic depth's largest rate: block i of L drops with rate
      drop_path * i / (L - 1) (timm's linspace), training only, with the "dropout" rng.
  """
  num_classes: int
  patch_size: int = 16
  width: int = 768
  depth: int = 12
  num_heads: int = 12
  mlp_dim: int = 3072
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  layer_scale: float = 0.0
  pre_norm: bool = False
  act: str = "gelu"
  pool: str = "cls"
  head_norm: bool = False
  drop_path: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array,
               train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
    if self.act not in ACTIVATIONS or self.pool not in POOLS:
      raise ValueError(f"ViT act must be one of {sorted(ACTIVATIONS)} and pool one of "
                       f"{POOLS}; got {self.act!r}, {self.pool!r}")
    p = self.patch_size
    x = nn.Conv(self.width, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype,
                name="patch_embed")(x.astype(self.dtype))
    b, h, w, c = x.shape
    x = x.reshape(b, h * w, c)
    cls = self.param("cls_token", nn.initializers.zeros, (1, 1, c))
    x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, c)).astype(x.dtype), x], axis=1)
    pos = self.param("pos_embed", nn.initializers.normal(stddev=0.02), (1, h * w + 1, c))
    x = x + pos.astype(x.dtype)
    if self.pre_norm:
      x = nn.LayerNorm(dtype=self.dtype, name="norm_pre")(x)
    for i, rate in enumerate(block_drop_rates(self.drop_path, self.depth)):
      x = EncoderBlock(self.num_heads, self.mlp_dim, self.dropout, self.dtype,
                       self.layer_scale, self.act, rate, name=f"block{i}")(x, train)
    if self.pool == "mean_fc_norm":
      pooled = nn.LayerNorm(dtype=self.dtype, name="fc_norm")(jnp.mean(x[:, 1:], axis=1))
    else:
      x = nn.LayerNorm(dtype=self.dtype, name="norm")(x)
      pooled = x[:, 0] if self.pool == "cls" else jnp.mean(x[:, 1:], axis=1)
    pooled = pooled.astype(jnp.float32)
    if self.head_norm:
      pooled = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-6,
                            use_scale=False, use_bias=False, name="head_norm")(pooled)
    logits = nn.Dense(self.num_classes, kernel_init=nn.initializers.zeros, name="head")(pooled)
    return logits, {"pooled": pooled, "tokens": x}


def vit_b16(num_classes: int, **kwargs) -> ViT:
  """ViT-B/16: 12 blocks of width 768, 12 heads, MLP 3072 (86.6 M params at 1000 classes)."""
  return ViT(num_classes=num_classes, **kwargs)


def vit_b16_mae(num_classes: int, **kwargs) -> ViT:
  """ViT-B/16 as MAE / LiVT fine-tune it (`global_pool`): the mean of the last block's patch
  tokens, a fresh LayerNorm `fc_norm`, a linear head; the pretrained encoder's final norm is
  not used. The category-extrapolation "scratch" recipes start it from an MAE / LiVT
  checkpoint."""
  return ViT(num_classes=num_classes, pool="mean_fc_norm", **kwargs)


def vit_b14_dinov2(num_classes: int, **kwargs) -> ViT:
  """ViT-B/14 as DINOv2 (LayerScale 1e-5) with the category-extrapolation code's DINOv2 head:
  mean-pooled patch tokens, a parameter-free BatchNorm, a linear head. Load the backbone from a
  timm-layout DINOv2 checkpoint (`model.pretrained`); its 37x37 position grid is resized."""
  return ViT(num_classes=num_classes, patch_size=14, layer_scale=1e-5, pool="mean",
             head_norm=True, **kwargs)


def vit_b16_clip(num_classes: int, **kwargs) -> ViT:
  """ViT-B/16 as CLIP's image tower (pre-norm, QuickGELU), [CLS] pooling and a linear head on
  the 768-d token. CLIP's 512-d projection and the text-initialised cosine head of the
  category-extrapolation code are not reproduced (they need CLIP's text tower)."""
  return ViT(num_classes=num_classes, pre_norm=True, act="quick_gelu", **kwargs)


def vit_tiny(num_classes: int, **kwargs) -> ViT:
  """A test-sized ViT: patches of 4, 2 blocks of width 32, 2 heads."""
  return ViT(num_classes=num_classes, patch_size=4, width=32, depth=2, num_heads=2, mlp_dim=64,
             **kwargs)
