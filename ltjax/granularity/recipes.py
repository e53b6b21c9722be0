"""Category-extrapolation recipes: the offline (a)-(d) comparison and the ViT fine-tuning
recipes of granularity.md §5."""

from __future__ import annotations

import ml_collections

from ltjax.config.defaults import default_config
from ltjax.core import rules

DEMO_VARIANTS = ("targets", "aux_plain", "aux_silenced", "aux_shuffled")


def split_variant_arg(arg: str | None, default: str) -> tuple[str, str | None]:
  """A demonstration config's argument "variant[,smoke]" (or just "smoke") -> (variant,
  config_arg's argument)."""
  parts = [p for p in (arg or "").split(",") if p]
  extra = "smoke" if "smoke" in parts else None
  rest = [p for p in parts if p != "smoke"]
  if len(rest) > 1:
    raise ValueError(f"config argument {arg!r}: give one variant of {list(DEMO_VARIANTS)}, "
                     "optionally with ',smoke'")
  return (rest[0] if rest else default), extra


def extrapolation_demo(c: ml_collections.ConfigDict, aux_classes: tuple[str, ...],
                       variant: str) -> ml_collections.ConfigDict:
  """The offline category-extrapolation comparison (granularity.md §8) on a dataset config.

  Every variant trains the same target images with the logit-adjusted softmax (tau 1):
  "targets" (a) over the target classes only; "aux_plain" (b) + the auxiliary classes, nothing
  silenced; "aux_silenced" (c) + the auxiliary classes with the official silencing; and
  "aux_shuffled" (d) as (c) with the neighbour table's rows permuted among the targets.
  """
  rules.Choice(DEMO_VARIANTS).check(variant, "variant (the config argument)")
  c.loss.name = "neighbor_silencing"
  c.loss.la_tau = 1.0
  if variant == "targets":
    # The auxiliary classes still leave the label space in (a): the same targets everywhere.
    c.dataset.exclude_classes = tuple(aux_classes)
  else:
    c.aux.source = "dataset_classes"
    c.aux.classes = tuple(aux_classes)
  c.aux.silencing = "none" if variant == "aux_plain" else "neighbors_and_aux"
  c.aux.shuffle_parents = variant == "aux_shuffled"
  return c


# Category extrapolation with a ViT (granularity.md §5): per (dataset, init) the official
# scripts' batch, base lr (lr = blr * batch / 256), layer decay and mixing.
_EXTRAPOLATION = {
    # dataset: (list prefix, classes)
    "imagenet_lt": ("ImageNet_LT", 1000),
    "inat2018": ("iNaturalist18", 8142),
    "places_lt": ("Places_LT", 365),
}
_EXTRAPOLATION_INIT = {
    # (dataset, init): (model, batch, blr, layer_decay, mixup, cutmix, label_smoothing)
    ("imagenet_lt", "scratch"): ("vit_b16", 1024, 1e-3, 0.75, 0.8, 1.0, 0.1),
    ("imagenet_lt", "dinov2"): ("vit_b14_dinov2", 512, 8.75e-6, 0.75, 0.1, 0.1, 0.1),
    ("imagenet_lt", "clip"): ("vit_b16_clip", 512, 8.75e-6, 0.75, 0.1, 0.1, 0.1),
    ("inat2018", "scratch"): ("vit_b16", 4096, 2.5e-4, 0.65, 0.8, 1.0, 0.1),
    ("inat2018", "dinov2"): ("vit_b14_dinov2", 512, 3.5e-5, 0.65, 0.1, 0.1, 0.1),
    ("inat2018", "clip"): ("vit_b16_clip", 512, 3.5e-4, 0.65, 0.0, 0.0, 0.0),
    ("places_lt", "scratch"): ("vit_b16", 1024, 1e-3, 0.75, 0.8, 1.0, 0.1),
    ("places_lt", "dinov2"): ("vit_b14_dinov2", 512, 8.75e-6, 0.75, 0.1, 0.1, 0.1),
    ("places_lt", "clip"): ("vit_b16_clip", 512, 8.75e-6, 0.75, 0.1, 0.1, 0.1),
}


def extrapolation_vit_recipe(dataset: str, init: str) -> ml_collections.ConfigDict:
  """Category extrapolation fine-tuning of a ViT-B (granularity.md §5) on an image-folder LT
  dataset with an auxiliary image folder.

  Common: 100 epochs, AdamW betas (0.9, 0.99), weight decay 0.05, 10 warm-up epochs (per step)
  then cosine, layer-wise lr decay, label smoothing 0.1 (CLIP on iNat: 0), mixup / cutmix, the
  neighbour-silencing loss (tau 1, the official final silencing), 50 auxiliary images per
  class and epoch. Per (dataset, init) from the official scripts where released; Places-LT with
  a ViT has no released script, so it takes ImageNet-LT's values (our choice). Inputs, under
  dataset.data_dir: `<prefix>_{train,val,test}.txt` and the auxiliary set
  `<prefix>_aux_train.txt` (labels 0 .. M-1), `<prefix>_aux_names.txt`,
  `<prefix>_aux_parents.json` ({auxiliary name: [target names]}; target names are the class
  ids as strings unless the lists say otherwise), and for dinov2 / clip the backbone
  checkpoint `model.pretrained` (timm or big_vision .npz).
  """
  prefix, num_classes = _EXTRAPOLATION[dataset]
  model, batch, blr, layer_decay, mixup, cutmix, smoothing = _EXTRAPOLATION_INIT[(dataset,
                                                                                  init)]
  c = default_config()
  c.dataset.name = "image_folder"
  c.dataset.source = "image_folder"
  c.dataset.train_list = f"{prefix}_train.txt"
  c.dataset.val_list = "" if dataset == "inat2018" else f"{prefix}_val.txt"
  c.dataset.test_list = f"{prefix}_val.txt" if dataset == "inat2018" else f"{prefix}_test.txt"
  c.dataset.num_classes = num_classes
  c.dataset.image_size = 224
  c.dataset.train_image_size = 256
  c.augment.kind = "random_resized_crop"
  c.augment.mixup_alpha, c.augment.cutmix_alpha = mixup, cutmix
  c.augment.label_smoothing = smoothing
  c.augment.randaugment_ops = 2  # rand-m9-mstd0.5-inc1
  c.model.name = model
  if init != "scratch":
    c.model.pretrained = f"{init}_vitb_{'14' if init == 'dinov2' else '16'}.npz"
  c.loss.name = "neighbor_silencing"
  c.loss.la_tau = 1.0
  c.aux.source = "image_folder"
  c.aux.path = f"{prefix}_aux_train.txt"
  c.aux.names_file = f"{prefix}_aux_names.txt"
  c.aux.parents_file = f"{prefix}_aux_parents.json"
  c.aux.cap = 50
  c.aux.cap_replace = dataset == "inat2018"
  c.aux.silencing = "neighbors_and_aux"
  c.optimizer.name = "adamw"
  c.optimizer.b1, c.optimizer.b2 = 0.9, 0.99
  c.optimizer.weight_decay = 0.05
  c.optimizer.layer_decay = layer_decay
  c.optimizer.learning_rate = blr * batch / 256
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_epochs = 10
  c.optimizer.warmup_per_epoch = False
  c.train.batch_size = batch
  c.train.num_epochs = 100
  c.train.eval_batch_size = 1000
  c.train.checkpoint_every_epochs = 1
  c.train.log_every_steps = 100
  return c
