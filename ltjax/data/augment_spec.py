"""`AugmentSpec`: the train step's augmentation as plain values, and the `config.augment` keys."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class AugmentSpec:
  """Everything the train step does to a uint8 batch before the model (plain values). Its
  fields, except `image_size`, are the `config.augment` keys with their defaults
  (`default_config` builds the section from them).

  Attributes:
    kind: "pad_crop_flip" (CIFAR) or "random_resized_crop" (ImageNet-style, to image_size).
    crop_padding, flip: pad-and-crop padding, horizontal flips.
    image_size: the random-resized-crop output side (from the data, not the config).
    rotation_degrees: random rotation in [-d, d] degrees after crop / flip (nearest, zero
      fill); RIDE's CIFAR uses 15.
    randaugment_ops, randaugment_magnitude, randaugment_magnitude_std: RandAugment (timm's
      rand-m{magnitude}-mstd{std}-inc1) after the crop, fill = the normalisation mean; 0 ops
      = off.
    mixup_alpha, cutmix_alpha, cutmix_switch_prob, label_smoothing: Mixup / CutMix (timm
      batch mode: one lambda per batch, partner = the flipped batch; CutMix with probability
      cutmix_switch_prob when both are on) and label smoothing. When any is on, the batch is
      mixed (`mixing.mix_batch`) and the objective gets soft targets, which the
      softmax-family losses take.
  """

  kind: str = "pad_crop_flip"
  crop_padding: int = 4
  flip: bool = True
  image_size: int = 224
  rotation_degrees: float = 0.0
  randaugment_ops: int = 0
  randaugment_magnitude: float = 9.0
  randaugment_magnitude_std: float = 0.5
  mixup_alpha: float = 0.0
  cutmix_alpha: float = 0.0
  cutmix_switch_prob: float = 0.5
  label_smoothing: float = 0.0

  @classmethod
  def config_keys(cls) -> dict[str, Any]:
    """{key: default} of the `config.augment` section."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.name != "image_size"}

  @classmethod
  def from_config(cls, augment_config, image_size: int) -> "AugmentSpec":
    """From `config.augment` and the training image side."""
    return cls(image_size=image_size,
               **{k: augment_config[k] for k in cls.config_keys()})

  @property
  def mixing(self) -> bool:
    """Whether the step gives the objective soft targets."""
    return self.mixup_alpha > 0 or self.cutmix_alpha > 0 or self.label_smoothing > 0
