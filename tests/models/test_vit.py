"""ViT backbone: shapes, the ViT-B/16 parameter count, the zero-initialised head."""

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
