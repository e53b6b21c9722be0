"""`AugmentSpec`: the train step's augmentation as plain values, and the `config.augment` keys."""

from __future__ import annotations

import dataclasses
from typing import Any

from ltjax.core import rules


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

  kind: str = rules.field("pad_crop_flip", rules.Choice(("pad_crop_flip",
                                                         "random_resized_crop")))
  crop_padding: int = rules.field(4, rules.NON_NEGATIVE_INT)
  flip: bool = rules.field(True, rules.Flag())
  image_size: int = rules.field(224, rules.COUNT)
  rotation_degrees: float = rules.field(0.0, rules.Number(lo=0, hi=180))
  randaugment_ops: int = rules.field(0, rules.NON_NEGATIVE_INT)
  randaugment_magnitude: float = rules.field(9.0, rules.Number(lo=0, hi=10))  # timm's levels
  randaugment_magnitude_std: float = rules.field(0.5, rules.NON_NEGATIVE)
  mixup_alpha: float = rules.field(0.0, rules.NON_NEGATIVE)
  cutmix_alpha: float = rules.field(0.0, rules.NON_NEGATIVE)
  cutmix_switch_prob: float = rules.field(0.5, rules.UNIT)
  label_smoothing: float = rules.field(0.0, rules.UNIT_OPEN)

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
