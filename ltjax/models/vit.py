"""Vision Transformer (Dosovitskiy et al.) as a Linen backbone: ViT-B/16 and a tiny test variant.

Layout as big_vision / timm ViT: a conv patch embedding, a learned [CLS] token and learned
position embeddings, pre-LayerNorm encoder blocks (multi-head self-attention, GELU MLP), a final
LayerNorm, and a zero-initialised linear head on the [CLS] token. `features["pooled"]` is that
token after the final LayerNorm (the head's input), as every ltjax model returns.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from ltjax.models.resnet import Dtype


class EncoderBlock(nn.Module):
  """x + MHSA(LN(x)), then x + MLP(LN(x)); GELU MLP of width mlp_dim."""
  num_heads: int
  mlp_dim: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    y = nn.LayerNorm(dtype=self.dtype, name="norm1")(x)
    y = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, dtype=self.dtype,
                                        dropout_rate=self.dropout, deterministic=not train,
                                        name="attn")(y, y)
    x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
    y = nn.LayerNorm(dtype=self.dtype, name="norm2")(x)
    y = nn.Dense(self.mlp_dim, dtype=self.dtype, name="mlp_fc1")(y)
    y = nn.gelu(y, approximate=False)
    y = nn.Dense(x.shape[-1], dtype=self.dtype, name="mlp_fc2")(y)
    return x + nn.Dropout(self.dropout, deterministic=not train)(y)


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
  """
  num_classes: int
  patch_size: int = 16
  width: int = 768
  depth: int = 12
  num_heads: int = 12
  mlp_dim: int = 3072
  dropout: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array,
               train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
    p = self.patch_size
    x = nn.Conv(self.width, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype,
                name="patch_embed")(x.astype(self.dtype))
    b, h, w, c = x.shape
    x = x.reshape(b, h * w, c)
    cls = self.param("cls_token", nn.initializers.zeros, (1, 1, c))
    x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, c)).astype(x.dtype), x], axis=1)
    pos = self.param("pos_embed", nn.initializers.normal(stddev=0.02), (1, h * w + 1, c))
    x = x + pos.astype(x.dtype)
    for i in range(self.depth):
      x = EncoderBlock(self.num_heads, self.mlp_dim, self.dropout, self.dtype,
                       name=f"block{i}")(x, train)
    x = nn.LayerNorm(dtype=self.dtype, name="norm")(x)
    pooled = x[:, 0].astype(jnp.float32)
    logits = nn.Dense(self.num_classes, kernel_init=nn.initializers.zeros, name="head")(pooled)
    return logits, {"pooled": pooled, "tokens": x}


def vit_b16(num_classes: int, **kwargs) -> ViT:
  """ViT-B/16: 12 blocks of width 768, 12 heads, MLP 3072 (86.6 M params at 1000 classes)."""
  return ViT(num_classes=num_classes, **kwargs)


def vit_tiny(num_classes: int, **kwargs) -> ViT:
  """A test-sized ViT: patches of 4, 2 blocks of width 32, 2 heads."""
  return ViT(num_classes=num_classes, patch_size=4, width=32, depth=2, num_heads=2, mlp_dim=64,
             **kwargs)
