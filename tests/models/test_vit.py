"""ViT backbone: shapes, the ViT-B/16 parameter count, the zero-initialised head, MAE's global
pool and stochastic depth."""

import jax
import jax.numpy as jnp
import numpy as np

from ltjax import models


def test_vit_b16_has_the_published_parameter_count():
  model = models.build_model("vit_b16", 1000)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 224, 224, 3))))
  count = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"]))
  assert count == 86_567_656  # timm's vit_base_patch16_224


def test_vit_tiny_shapes_and_zero_head():
  model = models.build_model("vit_tiny", 7)
  x = jnp.asarray(np.random.RandomState(0).randn(2, 16, 16, 3), jnp.float32)
  variables = model.init(jax.random.key(0), x)
  logits, feats = model.apply(variables, x)
  assert logits.shape == (2, 7) and feats["pooled"].shape == (2, 32)
  assert feats["tokens"].shape == (2, 1 + 16, 32)
  np.testing.assert_array_equal(logits, 0.0)  # zero-initialised head
  # The [CLS] output depends on the image: different images, different pooled features.
  assert not np.allclose(feats["pooled"][0], feats["pooled"][1])


def test_vit_variants_layer_scale_pre_norm_mean_pool_and_head_norm():
  from ltjax.models import vit  # pylint: disable=g-import-not-at-top
  x = jnp.asarray(np.random.RandomState(1).randn(3, 16, 16, 3), jnp.float32)
  base = dict(num_classes=5, patch_size=4, width=32, depth=2, num_heads=2, mlp_dim=64)
  plain = vit.ViT(**base).init(jax.random.key(0), x)["params"]
  dino = vit.ViT(**base, layer_scale=1e-5, pool="mean", head_norm=True)
  variables = dino.init(jax.random.key(0), x)
  np.testing.assert_allclose(variables["params"]["block0"]["ls1"], 1e-5)
  assert "mean" in variables["batch_stats"]["head_norm"]
  # With LayerScale 1e-5 the blocks barely change the tokens: features ~ patch-embedding path.
  logits, feats = dino.apply(variables, x, train=True, mutable=["batch_stats"])[0]
  assert logits.shape == (3, 5) and feats["pooled"].shape == (3, 32)
  np.testing.assert_allclose(feats["pooled"].mean(0), 0.0, atol=1e-4)  # batch-normalised
  _, f2 = vit.ViT(**base, pool="mean").apply({"params": plain}, x)
  np.testing.assert_allclose(f2["pooled"], f2["tokens"][:, 1:].mean(1), rtol=1e-5)
  clip = vit.ViT(**base, pre_norm=True, act="quick_gelu")
  cv = clip.init(jax.random.key(0), x)["params"]
  assert "norm_pre" in cv and "norm_pre" not in plain
  np.testing.assert_allclose(vit.quick_gelu(jnp.array([0.0, 1.0])),
                             [0.0, 1.0 / (1.0 + np.exp(-1.702))], rtol=1e-6)


def test_dinov2_and_clip_sizes_follow_from_vit_b16():
  # ViT-B/16 at 224: 86,567,656. DINOv2 B/14: 14x14 patches (-138,240 kernel weights), a 16x16
  # grid (+60 position tokens of 768) and LayerScale (+12 x 2 x 768). CLIP: + norm_pre (2 x 768).
  expect = {"vit_b14_dinov2": 86_567_656 - 138_240 + 60 * 768 + 12 * 2 * 768,
            "vit_b16_clip": 86_567_656 + 2 * 768}
  for name, count in expect.items():
    model = models.build_model(name, 1000)
    shapes = jax.eval_shape(lambda m=model: m.init(jax.random.key(0),
                                                   jnp.zeros((1, 224, 224, 3))))
    assert sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes["params"])) == count, name


def test_mae_global_pool_is_fc_norm_of_the_patch_token_mean():
  from ltjax.models import vit  # pylint: disable=g-import-not-at-top
  x = jnp.asarray(np.random.RandomState(2).randn(3, 16, 16, 3), jnp.float32)
  base = dict(num_classes=5, patch_size=4, width=32, depth=2, num_heads=2, mlp_dim=64)
  model = vit.ViT(**base, pool="mean_fc_norm")
  params = model.init(jax.random.key(0), x)["params"]
  assert "fc_norm" in params and "norm" not in params  # MAE deletes the final norm
  params["fc_norm"]["scale"] = params["fc_norm"]["scale"] * 2.0
  params["fc_norm"]["bias"] = params["fc_norm"]["bias"] + 0.5
  _, feats = model.apply({"params": params}, x)
  mean = np.asarray(feats["tokens"][:, 1:].mean(1))  # the last block's tokens, no final norm
  want = (mean - mean.mean(-1, keepdims=True)) / np.sqrt(mean.var(-1, keepdims=True) + 1e-6)
  np.testing.assert_allclose(feats["pooled"], 2.0 * want + 0.5, rtol=1e-4, atol=1e-4)
  # ViT-B/16 with MAE's head: fc_norm replaces the final norm, the count is unchanged.
  shapes = jax.eval_shape(lambda: models.build_model("vit_b16_mae", 1000).init(
      jax.random.key(0), jnp.zeros((1, 224, 224, 3))))
  assert sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes["params"])) == 86_567_656


def test_drop_path_statistics_and_eval_identity():
  from ltjax.models import vit  # pylint: disable=g-import-not-at-top
  # Each sample's branch is kept with probability 1 - rate and rescaled: mean preserved.
  y = jnp.ones((20000, 3, 4))
  out = np.asarray(vit.drop_path(y, 0.25, jax.random.key(0)))
  kept = out[:, 0, 0] > 0
  assert abs(kept.mean() - 0.75) < 0.01
  np.testing.assert_allclose(out[kept], 1.0 / 0.75, rtol=1e-6)
  assert (out == out[:, :1, :1]).all()  # one draw per sample, shared by its tokens
  assert abs(out.mean() - 1.0) < 0.02
  x = jnp.asarray(np.random.RandomState(3).randn(4, 16, 16, 3), jnp.float32)
  base = dict(num_classes=5, patch_size=4, width=32, depth=3, num_heads=2, mlp_dim=64)
  plain, dropped = vit.ViT(**base), vit.ViT(**base, drop_path=0.5)
  variables = plain.init(jax.random.key(0), x)
  # Evaluation ignores drop_path; training draws from the "dropout" rng.
  np.testing.assert_allclose(dropped.apply(variables, x)[1]["pooled"],
                             plain.apply(variables, x)[1]["pooled"], rtol=1e-6)
  a = dropped.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)})[1]
  b = dropped.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})[1]
  assert not np.allclose(a["pooled"], b["pooled"])
  # Rates rise linearly over the blocks from 0 (timm's linspace): the first block never drops.
  np.testing.assert_allclose(vit.block_drop_rates(0.1, 12), np.linspace(0, 0.1, 12))
  block0 = vit.EncoderBlock(2, 64, drop_path=0.0)
  tokens = jnp.ones((2, 5, 32))
  bv = block0.init(jax.random.key(0), tokens)
  np.testing.assert_allclose(block0.apply(bv, tokens, train=True),
                             block0.apply(bv, tokens, train=False), rtol=1e-6)
