"""Category-extrapolation recipes: the offline (a)-(d) comparison and the ViT fine-tuning
recipes of granularity.md §5."""

from __future__ import annotations

import dataclasses

import ml_collections

from ltjax.config.defaults import default_config
from ltjax.core import rules

DEMO_VARIANTS = ("targets", "aux_plain", "aux_silenced", "aux_shuffled", "aux_neighbors")


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
  "aux_shuffled" (d) as (c) with the neighbour table's rows permuted among the targets;
  "aux_neighbors" (c') as (c) with the `neighbors` variant, which the official ImageNet-LT and
  Places-LT launch scripts use (the ResNet-from-scratch ones, the closest setting to these small
  CNNs, included); (c) is the `neighbors_and_aux` of the iNaturalist scripts.
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
  c.aux.silencing = {"aux_plain": "none", "aux_neighbors": "neighbors"}.get(
      variant, "neighbors_and_aux")
  c.aux.shuffle_parents = variant == "aux_shuffled"
  return c


# Category extrapolation with a ViT (granularity.md §5): per (dataset, init) the official launch
# script that trains with auxiliary data (Gran_LT `script/`, `aug_data = "yes"`), its active run;
# lr = blr * batch / 256. The README's category-extrapolation table lists each row beside its
# script and what ltjax does not reproduce.
_EXTRAPOLATION = {
    # dataset: (list prefix, classes)
    "imagenet_lt": ("ImageNet_LT", 1000),
    "inat2018": ("iNaturalist18", 8142),
    "places_lt": ("Places_LT", 365),
}


@dataclasses.dataclass(frozen=True)
class OfficialRun:
  """One official launch script's settings, as `extrapolation_vit_recipe` applies them."""

  script: str
  model: str
  batch: int  # the effective batch: per GPU x GPUs x accum_iter
  blr: float
  weight_decay: float
  layer_decay: float  # ltjax's value; `official_layer_decay` when the script differs
  epochs: int
  warmup_epochs: int
  mixup: float
  cutmix: float
  label_smoothing: float
  tau: float
  silencing: str  # "neighbors" = no_fm_remove_normal_neg, "neighbors_and_aux" = ..._back
  official_layer_decay: float | None = None


OFFICIAL_RUNS = {
    ("imagenet_lt", "scratch"): OfficialRun(
        "scratch/finetune_scratch_imagenet_aug.py", "vit_b16", 1024, 1e-3, 0.05, 0.75, 100, 10,
        0.8, 1.0, 0.1, 1.0, "neighbors"),
    ("imagenet_lt", "dinov2"): OfficialRun(
        "imaganetlt_exp/finetune_dinov2_imagenet_aug.py", "vit_b14_dinov2", 512, 8.75e-6, 0.05,
        0.75, 100, 10, 0.1, 0.1, 0.1, 1.0, "neighbors_and_aux"),
    ("imagenet_lt", "clip"): OfficialRun(
        "imaganetlt_exp/finetune_clip_imagenet_aug.py", "vit_b16_clip", 512, 5e-6, 0.05, 0.75,
        100, 10, 0.3, 0.3, 0.1, 1.0, "neighbors", official_layer_decay=0.0),
    ("inat2018", "scratch"): OfficialRun(
        "iNat18_exp/finetune_scratch_inat18_aug.py", "vit_b16", 4096, 2.5e-4, 0.05, 0.65, 100,
        10, 0.8, 1.0, 0.1, 1.0, "neighbors_and_aux"),
    ("inat2018", "dinov2"): OfficialRun(
        "iNat18_exp/finetune_dinov2_inat18_aug_1.py", "vit_b14_dinov2", 512, 3.5e-5, 0.05, 0.65,
        100, 10, 0.1, 0.1, 0.1, 1.0, "neighbors_and_aux"),
    # mixup = cutmix = 1e-4 is not "off" in timm: lambda ~ Beta(1e-4, 1e-4) is 0 or 1 to 1e-4
    # in nearly every batch, so half the batches train on the flipped partner's image and label
    # while the silencing mask keeps the pre-mix label's row. ltjax runs the same 1e-4 (its
    # Beta sampler draws the same 0-or-1 lambdas, and its mask reads the pre-mix label too).
    ("inat2018", "clip"): OfficialRun(
        "iNat18_exp/finetune_clip_inat18_aug.py", "vit_b16_clip", 512, 3.5e-4, 0.05, 0.65, 100,
        10, 1e-4, 1e-4, 0.0, 1.0, "neighbors_and_aux", official_layer_decay=0.0),
    ("places_lt", "scratch"): OfficialRun(
        "places_exp/finetune_scratch_placeLT_aug.py", "vit_b16", 1024, 1e-3, 0.05, 0.75, 30, 5,
        0.8, 1.0, 0.1, 1.05, "neighbors"),
    ("places_lt", "dinov2"): OfficialRun(
        "places_exp/finetune_dinov2_placeLT_aug.py", "vit_b14_dinov2", 512, 1.75e-5, 0.1, 0.75,
        50, 5, 0.2, 0.2, 0.1, 1.05, "neighbors"),
    ("places_lt", "clip"): OfficialRun(
        "places_exp/finetune_clip_placeLT_aug.py", "vit_b16_clip", 512, 1e-5, 0.05, 0.75, 50, 5,
        0.01, 0.01, 0.1, 1.05, "neighbors"),
}


def extrapolation_vit_recipe(dataset: str, init: str) -> ml_collections.ConfigDict:
  """Category extrapolation fine-tuning of a ViT-B (granularity.md §5) on an image-folder LT
  dataset with an auxiliary image folder, as the official launch script `OFFICIAL_RUNS[(dataset,
  init)].script` trains it.

  Common: AdamW betas (0.9, 0.99), warm-up per step then cosine to 0, layer-wise lr decay,
  RandAugment rand-m9-mstd0.5, mixup / cutmix with label smoothing, the neighbour-silencing loss
  (tau and variant per script), 50 auxiliary images per epoch for each auxiliary class of more
  than 100 images (the official cap rule, `ltjax.granularity.sampling`). Per script: batch,
  lr, weight decay, layer decay, epochs, warm-up, mixing, smoothing, tau, silencing. Inputs,
  under dataset.data_dir: `<prefix>_{train,val,test}.txt` and the auxiliary set
  `<prefix>_aux_train.txt` (labels 0 .. M-1), `<prefix>_aux_names.txt`,
  `<prefix>_aux_parents.json` ({auxiliary name: [target names]}; target names are the class
  ids as strings unless the lists say otherwise), and for dinov2 / clip the backbone
  checkpoint `model.pretrained` (timm or big_vision .npz).
  """
  prefix, num_classes = _EXTRAPOLATION[dataset]
  run = OFFICIAL_RUNS[(dataset, init)]
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
  c.augment.mixup_alpha, c.augment.cutmix_alpha = run.mixup, run.cutmix
  c.augment.label_smoothing = run.label_smoothing
  c.augment.randaugment_ops = 2  # rand-m9-mstd0.5-inc1
  c.model.name = run.model
  if init != "scratch":
    c.model.pretrained = f"{init}_vitb_{'14' if init == 'dinov2' else '16'}.npz"
  c.loss.name = "neighbor_silencing"
  c.loss.la_tau = run.tau
  c.aux.source = "image_folder"
  c.aux.path = f"{prefix}_aux_train.txt"
  c.aux.names_file = f"{prefix}_aux_names.txt"
  c.aux.parents_file = f"{prefix}_aux_parents.json"
  c.aux.cap, c.aux.keep_all_up_to = 50, 100
  c.aux.cap_replace = dataset == "inat2018"
  c.aux.silencing = run.silencing
  c.optimizer.name = "adamw"
  c.optimizer.b1, c.optimizer.b2 = 0.9, 0.99
  c.optimizer.weight_decay = run.weight_decay
  c.optimizer.layer_decay = run.layer_decay
  c.optimizer.learning_rate = run.blr * run.batch / 256
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_epochs = run.warmup_epochs
  c.optimizer.warmup_per_epoch = False
  c.train.batch_size = run.batch
  c.train.num_epochs = run.epochs
  c.train.eval_batch_size = 1000
  c.train.checkpoint_every_epochs = 1
  c.train.log_every_steps = 100
  return c
