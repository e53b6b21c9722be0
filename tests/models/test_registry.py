"""Tests for the model registry and the shared (logits, features) contract."""

import jax
import jax.numpy as jnp
import pytest

from ltjax import models

_INPUT_SHAPES = {
    "cifar_resnet32": (2, 32, 32, 3),
    "cifar_resnet_tiny": (2, 32, 32, 3),
    "small_cnn": (2, 8, 8, 1),
    "resnet50": (2, 64, 64, 3),
    "resnext50_32x4d": (2, 64, 64, 3),
    "resnet_tiny": (2, 32, 32, 3),
    "ride_cifar_tiny": (2, 32, 32, 3),
    "ride_resnet_tiny": (2, 32, 32, 3),
}
# Full-size RIDE variants: checked with eval_shape in tests/models/test_ride.py.
_FULL_SIZE_RIDE = {"ride_cifar_resnet32", "ride_resnet50", "ride_resnext50"}
# ViTs (LayerNorm; batch_stats only with the DINOv2 head norm): checked in tests/models/test_vit.py.
_VIT = {"vit_b16", "vit_b16_mae", "vit_b14_dinov2", "vit_b16_clip", "vit_tiny"}


def test_registry_names():
  assert set(models.MODELS) == set(_INPUT_SHAPES) | _FULL_SIZE_RIDE | _VIT


@pytest.mark.parametrize("name", sorted(_INPUT_SHAPES))
def test_every_model_follows_the_contract(name):
  model = models.build_model(name, num_classes=5)
  x = jnp.zeros(_INPUT_SHAPES[name])

  def forward():
    variables = model.init(jax.random.key(0), x)
    return variables, model.apply(variables, x, train=True,
                                  mutable=["batch_stats"])

  # eval_shape: shapes only, so even ResNet-50 costs just a trace.
  variables, ((logits, features), updates) = jax.eval_shape(forward)
  assert set(variables) == {"params", "batch_stats"}
  assert set(updates) == {"batch_stats"}
  assert logits.shape == (2, 5) and logits.dtype == jnp.float32
  assert features["pooled"].ndim == 2 and features["pooled"].shape[0] == 2
  assert model.dtype == jnp.float32


def test_kwargs_are_forwarded():
  model = models.build_model("cifar_resnet32", 100, dtype=jnp.bfloat16,
                             normed_classifier=True)
  assert isinstance(model, models.CifarResNet)
  assert model.dtype == jnp.bfloat16 and model.normed_classifier
  assert model.num_classes == 100 and tuple(model.num_blocks) == (5, 5, 5)
  assert isinstance(models.build_model("resnext50_32x4d", 3), models.ResNet)
  assert isinstance(models.build_model("small_cnn", 3), models.SmallCNN)


def test_unknown_name_lists_known_names():
  with pytest.raises(ValueError, match="unknown_net") as excinfo:
    models.build_model("unknown_net", 10)
  for name in models.MODELS:
    assert name in str(excinfo.value)
