"""Backbones and a name -> constructor registry.

Every model is a Flax Linen module whose `__call__(x, train=False)` maps
normalised NHWC float images to `(logits, features)`: float32 logits and a dict
with at least "pooled", the (B, D) input of the classifier. The classifier is the
submodule named "head" (a Dense, or LDAM's NormedLinear with kernel only), so decoupled
stage-2 methods can read its weights from any model.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from ltjax.models import resnet
from ltjax.models import resnet_cifar
from ltjax.models import ride
from ltjax.models import small_cnn
from ltjax.models import vit
from ltjax.models.resnet import ResNet
from ltjax.models.resnet_cifar import CifarResNet
from ltjax.models.small_cnn import SmallCNN

# name -> callable(num_classes, **kwargs) returning an unbound module.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "cifar_resnet32": resnet_cifar.cifar_resnet32,
    "cifar_resnet_tiny": resnet_cifar.cifar_resnet_tiny,
    "small_cnn": small_cnn.SmallCNN,
    "resnet50": resnet.resnet50,
    "resnext50_32x4d": resnet.resnext50_32x4d,
    "resnet_tiny": resnet.resnet_tiny,
    "ride_cifar_resnet32": ride.ride_cifar_resnet32,
    "ride_cifar_tiny": ride.ride_cifar_tiny,
    "ride_resnet50": ride.ride_resnet50,
    "ride_resnext50": ride.ride_resnext50,
    "ride_resnet_tiny": ride.ride_resnet_tiny,
    "vit_b16": vit.vit_b16,
    "vit_b16_mae": vit.vit_b16_mae,
    "vit_b14_dinov2": vit.vit_b14_dinov2,
    "vit_b16_clip": vit.vit_b16_clip,
    "vit_tiny": vit.vit_tiny,
}


def build_model(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
  """Builds a registered model.

  Args:
    name: a key of `MODELS`.
    num_classes: number of output logits.
    **kwargs: extra module fields, e.g. `dtype` or `normed_classifier`.

  Returns:
    The (unbound) Flax module.

  Raises:
    ValueError: if `name` is not registered.
  """
  if name not in MODELS:
    raise ValueError(
        f"Unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
  return MODELS[name](num_classes=num_classes, **kwargs)


def has_field(name: str, field: str) -> bool:
  """Whether registered model `name` has the module field `field` (e.g. "normed_classifier")."""
  return hasattr(build_model(name, num_classes=2), field)


def models_with_field(field: str) -> list[str]:
  """The registered models that have module field `field`."""
  return [name for name in sorted(MODELS) if has_field(name, field)]


def is_multi_expert(name: str) -> bool:
  """Whether model `name` is a multi-expert (RIDE) model: it has a number of experts and
  returns each expert's logits in features["expert_logits"]."""
  return has_field(name, "num_experts")


def multi_expert_names() -> list[str]:
  """The registered multi-expert models."""
  return models_with_field("num_experts")


def config_kwargs(model_config) -> dict[str, Any]:
  """Module fields set by `config.model` beyond its name (only those that differ from the
  defaults, so models without such a field still build)."""
  kwargs = {}
  if model_config.get("dtype", "float32") != "float32":
    kwargs["dtype"] = jnp.dtype(model_config.dtype)
  if is_multi_expert(model_config.name):
    kwargs["num_experts"] = model_config.num_experts
    if not model_config.name.endswith("_tiny"):
      kwargs["reduced"] = model_config.reduced
  elif model_config.normed_classifier:
    kwargs["normed_classifier"] = True
  if model_config.get("drop_path", 0.0) > 0:
    kwargs["drop_path"] = float(model_config.drop_path)
  return kwargs


__all__ = ["MODELS", "build_model", "config_kwargs", "has_field", "is_multi_expert",
           "models_with_field", "multi_expert_names", "CifarResNet", "ResNet", "SmallCNN"]
