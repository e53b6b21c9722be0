"""The full set of config keys with their defaults, and checks of their values.

Every experiment file under `configs/` starts from `default_config()` and overrides fields, so
the resolved config always holds every key the trainer reads, and a locked config turns a
mistyped override (`--config.dataset.imbalanse_factor=50`) into an error naming the key.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import ml_collections

from ltjax import losses
from ltjax import models
from ltjax.data import samplers

DATASETS = ("digits_lt", "cifar10_lt", "cifar100_lt", "image_folder")
SOURCES = ("digits", "files", "tfds", "image_folder")


def default_config() -> ml_collections.ConfigDict:
  """Defaults: the LDAM/RIDE CIFAR-LT cross-entropy recipe (protocol.md)."""
  c = ml_collections.ConfigDict()
  c.seed = 0  # training seed (init, sampler order, augmentation); the subset seed is separate

  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = "cifar100_lt"  # one of DATASETS
  c.dataset.source = "files"  # one of SOURCES
  # Where local files live; "" means $LTJAX_DATA_DIR, else ./data.
  c.dataset.data_dir = ""
  c.dataset.imbalance_factor = 100.0
  c.dataset.profile = "exp"
  c.dataset.subset_seed = 0
  c.dataset.val_per_class = 20
  c.dataset.val_mode = "unused"  # "unused" | "reserve" | "none" (ltjax.data.validation)
  c.dataset.val_seed = 1
  # Digits only: n_max of the LT train split and the balanced test images per class.
  c.dataset.n_max = 120
  c.dataset.test_per_class = 40
  # Image folders only (ImageNet-LT, Places-LT, iNaturalist lists: `relative/path label`).
  c.dataset.train_list = ""
  c.dataset.val_list = ""
  c.dataset.test_list = ""
  c.dataset.num_classes = 0
  c.dataset.image_size = 224  # eval: resize the shorter side to 256/224 of this, centre crop
  # Train images: the host resizes and centre-crops to this side, then the device applies
  # `augment.kind` (random-resized-crop down to image_size); 0 means image_size.
  c.dataset.train_image_size = 0
  # Smoke / debugging: keep at most this many val/test images per class (0 = all).
  c.dataset.eval_per_class_limit = 0
  # digits_lt / CIFAR-LT: classes (by name) removed before the long-tail profile is drawn, so
  # the targets match a run whose aux.source='dataset_classes' moved them to the auxiliary set.
  c.dataset.exclude_classes = ()

  c.sampler = "instance"  # "instance" | "class_balanced" | "sqrt"
  c.augment = ml_collections.ConfigDict()
  # "pad_crop_flip" (CIFAR) or "random_resized_crop" (ImageNet-style, to dataset.image_size).
  c.augment.kind = "pad_crop_flip"
  c.augment.crop_padding = 4
  c.augment.flip = True
  # Random rotation in [-d, d] degrees after crop/flip (nearest, zero fill); RIDE's CIFAR uses 15.
  c.augment.rotation_degrees = 0.0
  # Mixup / CutMix (timm batch mode: one lambda per batch, partner = the flipped batch; CutMix
  # with probability cutmix_switch_prob when both are on) and label smoothing. They turn the
  # labels into soft targets, which the softmax-family losses take (ce, balanced_softmax,
  # logit_adjusted, neighbor_silencing).
  c.augment.mixup_alpha = 0.0
  c.augment.cutmix_alpha = 0.0
  c.augment.cutmix_switch_prob = 0.5
  c.augment.label_smoothing = 0.0
  # RandAugment (timm's rand-m{magnitude}-mstd{std}-inc1) after crop/flip; 0 ops = off.
  c.augment.randaugment_ops = 0
  c.augment.randaugment_magnitude = 9.0
  c.augment.randaugment_magnitude_std = 0.5

  c.model = ml_collections.ConfigDict()
  c.model.name = "cifar_resnet32"  # a key of ltjax.models.MODELS
  # LDAM's cosine classifier (CifarResNet only); its logits are scaled inside the LDAM loss.
  c.model.normed_classifier = False
  # Multi-expert (RIDE) models: number of experts, and the reduced expert widths of the paper.
  c.model.num_experts = 3
  c.model.reduced = True
  # A pretrained checkpoint for the backbone (ViTs: big_vision or timm .npz layouts, see
  # ltjax.models.vit_checkpoint); the head is re-initialised for this run's classes.
  c.model.pretrained = ""
  # Compute dtype: "bfloat16" runs convolutions / matmuls in bf16 while parameters, optimizer
  # state, BatchNorm statistics, logits and the loss stay float32 (master weights). bf16 needs
  # no loss scaling (float32's exponent range).
  c.model.dtype = "float32"

  c.loss = ml_collections.ConfigDict()
  c.loss.name = "ce"  # a key of ltjax.losses.LOSSES
  c.loss.focal_gamma = 1.0  # LDAM-DRW's focal runs use gamma = 1
  c.loss.ldam_max_margin = 0.5
  c.loss.ldam_scale = 30.0
  c.loss.la_tau = 1.0
  # Per-class loss weights: "none", "cb" (class-balanced from the start) or "drw"
  # (class-balanced from loss.drw_epoch on; Cao et al.).
  c.loss.reweight = "none"
  c.loss.cb_beta = 0.9999
  c.loss.drw_epoch = 160
  # RIDE (loss.name = "ride"): diversity factor lambda (negative), alpha, gamma.
  c.loss.ride_diversity_factor = -0.45
  c.loss.ride_base_temperature = 1.0
  c.loss.ride_reweight_factor = 0.05
  # Distillation (used when distill.teacher_workdir is set): weight and temperature of the KD
  # term, and the reference's multiplication of the whole loss by the number of experts.
  c.loss.distill_weight = 1.0
  c.loss.distill_temperature = 1.5
  c.loss.distill_times_experts = True
  # neighbor_silencing (category extrapolation): logit-adjusted softmax over targets +
  # auxiliary classes with tau = la_tau; which classes a sample silences is aux.silencing.

  # Auxiliary neighbour classes (category extrapolation, ltjax.granularity): off when source
  # is "". Needs loss.name = "neighbor_silencing". See ltjax/granularity/auxiliary.py.
  c.aux = ml_collections.ConfigDict()
  c.aux.source = ""  # "" | "arrays" | "image_folder" | "dataset_classes"
  c.aux.path = ""  # .npz (arrays) or a `path label` list file (image_folder), under data_dir
  c.aux.names_file = ""  # image_folder: auxiliary class names, one per line, in label order
  c.aux.classes = ()  # dataset_classes: names of the dataset's classes that become auxiliary
  c.aux.parents_file = ""  # JSON {aux name: [target names]}; empty = mine from the names
  c.aux.mining_k = 8  # mine_neighbors: at most k auxiliary neighbours per target (official 8)
  c.aux.min_similarity = 0.5  # cosine of MiniLM name embeddings (ltjax.granularity.mining)
  # "minilm": the class names' text embeddings (the `mining` extra); "pixel_prototypes": the
  # classes' mean images (for names without meaning, e.g. digits)
  c.aux.mining_embedder = "minilm"
  c.aux.shuffle_parents = False  # control: targets' neighbour rows permuted (a derangement)
  c.aux.shuffle_seed = 0
  c.aux.cap = 50  # images per auxiliary class and epoch, redrawn every epoch
  c.aux.cap_replace = False  # draw the cap with replacement (the official iNaturalist code)
  c.aux.limit_per_class = 0  # keep only the first n images of each auxiliary class (0 = all)
  c.aux.silencing = "neighbors_and_aux"  # "none" | "neighbors" | "neighbors_and_aux"
  # Image-level filter (ltjax.granularity.filtering): keep an auxiliary image when its cosine
  # similarity to a parent's prototype lies in [filter_low, filter_high]. Features from a
  # finished run's model (filter_workdir) or a user's .npz (filter_features); off when both
  # are empty. Defaults: the paper's DINOv2 thresholds (secondary sources).
  c.aux.filter_workdir = ""
  c.aux.filter_features = ""
  c.aux.filter_low = 0.7
  c.aux.filter_high = 0.98

  c.distill = ml_collections.ConfigDict()
  c.distill.teacher_workdir = ""  # a finished run (e.g. a 6-expert RIDE) used as teacher
  c.distill.teacher_train_bn = True  # the reference never puts its teacher in eval mode

  # "train" (a full training run), "decoupled" (stage 2 on a finished run's feature cache) or
  # "dlsa" (DLSA on frozen features, `ltjax.dlsa`).
  c.stage = "train"
  c.decoupled = ml_collections.ConfigDict()
  c.decoupled.method = "crt"  # "crt" | "lws" | "tau_norm" | "ncm" | "posthoc" | "ride_router"
  c.decoupled.stage1_workdir = ""  # the finished stage-1 run whose features/ it reads
  c.decoupled.sampler = "class_balanced"
  c.decoupled.num_epochs = 10
  c.decoupled.batch_size = 512
  c.decoupled.learning_rate = 0.2  # cosine to 0, SGD momentum 0.9 (decoupling recipe)
  c.decoupled.weight_decay = 5e-4
  c.decoupled.nesterov = False
  # RIDE routing (method "ride_router"): top-k logit values fed to the routers, the BCE weight
  # of positives (more experts used as it grows), the decision threshold.
  c.decoupled.router_top_k = 30
  c.decoupled.router_pos_weight = 100.0
  c.decoupled.router_threshold = 0.5
  # tau-norm / post-hoc adjustment strength grid, searched on the validation split.
  c.decoupled.tau_grid = tuple(round(0.1 * i, 1) for i in range(21))

  # DLSA (stage "dlsa"); defaults = the reference's ImageNet-LT CE config (dlsa.md §5).
  c.dlsa = ml_collections.ConfigDict()
  c.dlsa.features = ""  # a stage-1 workdir, or a folder of train/val/test npz or h5 features
  c.dlsa.val_holdout_fraction = 0.1  # per class, from train, when the features have no val
  c.dlsa.max_depth = 1
  c.dlsa.proportion = 0.3  # share of each stage's remaining train samples its filter keeps
  c.dlsa.cac_input = "x"  # "x": the reference code (z := x); "u": the flow latent (paper)
  c.dlsa.head = "linear"  # or "cosine" (s = cosine_scale)
  c.dlsa.head_loss = "bsm"  # "bsm" (Balanced Softmax) or "ce"
  c.dlsa.head_sampler = "instance"  # or "class_balanced"
  c.dlsa.head_epochs = 150
  c.dlsa.head_batch_size = 128
  c.dlsa.head_learning_rate = 1e-2
  c.dlsa.head_eval_every = 5
  c.dlsa.cosine_scale = 16.0
  c.dlsa.absent_classes = "mask"  # or "reference" (log(1e-6) prior, classes stay predictable)
  c.dlsa.regular_prior = "full"  # the regular classifier's BSM counts: "full" or "subset"
  c.dlsa.select_on = "val"  # "test" only to reproduce the reference; results.json says so
  c.dlsa.min_stage_samples = 16
  c.dlsa.flow = ml_collections.ConfigDict()
  c.dlsa.flow.kind = "maf"  # "maf" (the reference) or "coupling"
  c.dlsa.flow.num_blocks = 2
  c.dlsa.flow.hidden = 0  # 0 = the feature dimension (the reference)
  c.dlsa.flow.num_clusters = 500
  c.dlsa.flow.center_std = 0.05
  c.dlsa.flow.batch_size = 1024
  c.dlsa.flow.num_epochs = 50
  c.dlsa.flow.learning_rate = 0.2
  c.dlsa.flow.lambda_lh = 2.0
  c.dlsa.flow.lambda_pur = 0.02
  c.dlsa.flow.lambda_bal = 1.0
  c.dlsa.flow.weight_q = 2.0
  c.dlsa.flow.ema_momentum = 0.7
  c.dlsa.flow.nll_class_scaling = False  # x C/1000: the reference's per-anchor NLL scale
  c.dlsa.flow.nan_policy = "rollback"  # or "skip"
  c.dlsa.flow.min_purity = 0.7
  c.dlsa.flow.min_size = 10
  c.dlsa.flow.max_cluster_fraction = 5000 / 115846  # the reference's 5000 on ImageNet-LT
  c.dlsa.flow.eval_chunk = 4096

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "sgd"  # "sgd" (torch.optim.SGD semantics) | "adamw" (torch AdamW)
  c.optimizer.b1 = 0.9  # adamw
  c.optimizer.b2 = 0.999  # adamw; the category-extrapolation recipe uses 0.99
  # ViTs: layer-wise lr decay (BEiT / MAE): block i of L gets lr * decay ** (L + 1 - (i + 1)),
  # the embeddings decay ** (L + 1), the final norm and head the full lr. 1.0 = off.
  c.optimizer.layer_decay = 1.0
  c.optimizer.learning_rate = 0.1  # for train.batch_size; scale linearly if you change it
  c.optimizer.momentum = 0.9
  c.optimizer.nesterov = False
  c.optimizer.weight_decay = 2e-4
  c.optimizer.schedule = "multistep"  # "multistep" | "cosine" | "constant"
  c.optimizer.warmup_epochs = 5
  # The LDAM/RIDE references raise the lr once per epoch during warm-up; False = per step.
  c.optimizer.warmup_per_epoch = True
  c.optimizer.decay_epochs = (160, 180)
  c.optimizer.decay_factors = (0.01, 0.0001)  # lr = base * factor from that epoch on

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 128  # global, over all devices and hosts
  c.train.num_epochs = 200
  c.train.steps_per_epoch_limit = 0  # smoke / debugging: cap the steps of each epoch (0 = all)
  c.train.log_every_steps = 50
  c.train.eval_every_epochs = 1
  c.train.checkpoint_every_epochs = 10
  c.train.keep_checkpoints = 2
  c.train.eval_batch_size = 500
  # Which weights are tested at the end: "best_val" (selected on the held-out validation
  # split) or "last". Test is evaluated once, after selection.
  c.train.select = "best_val"
  # Write penultimate features and logits of train / val / test (selected weights) to
  # <workdir>/features/ for decoupled stage-2 methods.
  c.train.cache_features = True
  # In-memory datasets (CIFAR, digits) live on the device as uint8 and each step gathers its
  # batch from indices inside the jitted computation: "auto" (when the split fits in
  # device_data_max_megabytes), "on" or "off" (host gather + copy every step).
  c.train.data_on_device = "auto"
  c.train.device_data_max_megabytes = 2048
  # Steps per dispatch (lax.scan over K batches; needs the data on the device). Fewer Python
  # round trips for small models; logging / eval / checkpoints are unchanged.
  c.train.steps_per_dispatch = 1
  # Image folders: grain worker processes decoding batches ahead of the step (-1 = auto:
  # min(8, cores) for files, none for in-memory arrays; 0 = decode in the training process).
  c.train.loader_workers = -1
  # Resuming a checkpoint written under a different result-affecting config is refused (the
  # differing keys are named); True accepts it and records old and new values in results.json.
  c.train.allow_config_change = False

  c.debug = ml_collections.ConfigDict()
  # Fault injection for the resume test: SIGKILL the process right after this global step.
  c.debug.kill_at_step = -1
  # ... or SIGKILL right after the checkpoint of this step was handed to the asynchronous
  # writer (a kill while the files are being written).
  c.debug.kill_during_save_at_step = -1
  return c


# Keys that cannot change a run's numbers: how often it logs or how it feeds the same batches
# (the device / host / scanned paths give identical batches, tests/test_train.py), where files
# live, fault injection. Every other key of the sections the trainer reads is part of the
# resume fingerprint.
NON_RESULT_KEYS = (
    "dataset.data_dir", "train.log_every_steps", "train.eval_batch_size",
    "train.checkpoint_every_epochs", "train.keep_checkpoints", "train.cache_features",
    "train.data_on_device", "train.device_data_max_megabytes", "train.steps_per_dispatch",
    "train.loader_workers", "train.allow_config_change", "debug.kill_at_step",
    "debug.kill_during_save_at_step",
)
# Sections the training stage never reads (the later stages' own settings).
_OTHER_STAGE_SECTIONS = ("stage", "decoupled", "dlsa")


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
  out = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      out.update(_flatten(value, name + "."))
    else:
      out[name] = value
  return out


def result_fingerprint(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """{dotted key: value} of every config value that can change a training run's result, in
  JSON form (tuples as lists), stored with each checkpoint."""
  flat = _flatten(json.loads(json.dumps(config.to_dict())))
  return {k: v for k, v in sorted(flat.items())
          if k not in NON_RESULT_KEYS and k.split(".")[0] not in _OTHER_STAGE_SECTIONS}


def fingerprint_changes(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, dict]:
  """{key: {"old": saved value, "new": current value}} for every key that differs (a key that
  exists on one side only has None on the other)."""
  return {k: {"old": saved.get(k), "new": current.get(k)}
          for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)}


def data_dir(config: ml_collections.ConfigDict) -> str:
  """The resolved local data directory."""
  return config.dataset.data_dir or os.environ.get("LTJAX_DATA_DIR", "data")


def _choice(value, allowed, key):
  if value not in allowed:
    raise ValueError(f"config.{key}={value!r} is not valid; choose one of {list(allowed)}")


def _positive(value, key, allow_zero=False):
  """A finite number > 0 (>= 0 with allow_zero), else a ValueError naming the key."""
  ok = isinstance(value, (int, float)) and math.isfinite(value) and (
      value >= 0 if allow_zero else value > 0)
  if not ok:
    bound = ">= 0" if allow_zero else "> 0"
    raise ValueError(f"config.{key} must be a finite number {bound}, got {value!r}")


def _validate_names(config: ml_collections.ConfigDict) -> None:
  """Names checked against the registries that define them, before any data is loaded."""
  _choice(config.model.name, sorted(models.MODELS), "model.name")
  _choice(config.loss.name, sorted(losses.ALL_LOSSES), "loss.name")
  _choice(config.sampler, sorted(samplers.SAMPLER_POWERS), "sampler")
  multi_expert = models.is_multi_expert(config.model.name)
  if config.loss.name in losses.MULTI_EXPERT_LOSSES and not multi_expert:
    raise ValueError(f"loss.name={config.loss.name!r} trains each expert of a multi-expert "
                     f"model, but model.name={config.model.name!r} has one head; use a "
                     f"multi-expert model ({', '.join(models.multi_expert_names())}) or "
                     "another loss")
  if config.model.normed_classifier and not models.has_field(config.model.name,
                                                             "normed_classifier"):
    raise ValueError(f"model.normed_classifier=True: model {config.model.name!r} has no "
                     "cosine classifier; set it False or use one of "
                     f"{models.models_with_field('normed_classifier')}")
  if config.loss.name == "ldam" and not config.model.normed_classifier:
    raise ValueError("loss.name='ldam' scales cosine logits by loss.ldam_scale, so it needs "
                     "LDAM's normalised classifier: set model.normed_classifier=True")


def _validate_numbers(config: ml_collections.ConfigDict) -> None:
  """Numbers that would give a meaningless run rather than an error."""
  o = config.optimizer
  _positive(o.learning_rate, "optimizer.learning_rate")
  _positive(o.weight_decay, "optimizer.weight_decay", allow_zero=True)
  _positive(o.warmup_epochs, "optimizer.warmup_epochs", allow_zero=True)
  if not 0 <= o.momentum < 1:
    raise ValueError(f"config.optimizer.momentum must lie in [0, 1), got {o.momentum}")
  if list(o.decay_epochs) != sorted(o.decay_epochs):
    raise ValueError(f"config.optimizer.decay_epochs must increase, got {o.decay_epochs}")
  for f in o.decay_factors:
    _positive(f, "optimizer.decay_factors")
  lc = config.loss
  _positive(lc.focal_gamma, "loss.focal_gamma", allow_zero=True)
  _positive(lc.ldam_max_margin, "loss.ldam_max_margin")
  _positive(lc.ldam_scale, "loss.ldam_scale")
  _positive(lc.drw_epoch, "loss.drw_epoch", allow_zero=True)
  if not 0 <= lc.cb_beta < 1:
    raise ValueError(f"config.loss.cb_beta must lie in [0, 1), got {lc.cb_beta}")
  if not math.isfinite(lc.la_tau):
    raise ValueError(f"config.loss.la_tau must be finite, got {lc.la_tau}")
  _positive(config.dataset.val_per_class, "dataset.val_per_class", allow_zero=True)
  d = config.decoupled
  for key in ("num_epochs", "batch_size", "learning_rate"):
    _positive(d[key], f"decoupled.{key}")
  _positive(d.weight_decay, "decoupled.weight_decay", allow_zero=True)
  for key in ("head_epochs", "head_batch_size", "head_learning_rate", "max_depth"):
    _positive(config.dlsa[key], f"dlsa.{key}")
  if not 0 < config.dlsa.proportion <= 1:
    raise ValueError(f"config.dlsa.proportion must lie in (0, 1], got {config.dlsa.proportion}")
  for key in ("num_epochs", "batch_size", "learning_rate", "num_clusters"):
    _positive(config.dlsa.flow[key], f"dlsa.flow.{key}")


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key and the fix for an invalid config value."""
  _validate_names(config)
  _validate_numbers(config)
  _choice(config.dataset.name, DATASETS, "dataset.name")
  _choice(config.dataset.source, SOURCES, "dataset.source")
  _choice(config.dataset.profile, ("exp", "step"), "dataset.profile")
  _choice(config.dataset.val_mode, ("unused", "reserve", "none"), "dataset.val_mode")
  _choice(config.optimizer.schedule, ("multistep", "cosine", "constant"), "optimizer.schedule")
  _choice(config.augment.kind, ("pad_crop_flip", "random_resized_crop"), "augment.kind")
  _choice(config.train.select, ("best_val", "last"), "train.select")
  _choice(config.train.data_on_device, ("auto", "on", "off"), "train.data_on_device")
  _choice(config.model.dtype, ("float32", "bfloat16"), "model.dtype")
  if not 0 <= config.augment.rotation_degrees <= 180:
    raise ValueError("config.augment.rotation_degrees must lie in [0, 180], got "
                     f"{config.augment.rotation_degrees}")
  if config.dataset.exclude_classes and config.aux.source == "dataset_classes":
    raise ValueError("set either dataset.exclude_classes or aux.classes with "
                     "aux.source='dataset_classes', not both")
  if config.dataset.imbalance_factor < 1:
    raise ValueError("config.dataset.imbalance_factor must be >= 1 (n_max / n_min), got "
                     f"{config.dataset.imbalance_factor}")
  if len(config.optimizer.decay_epochs) != len(config.optimizer.decay_factors):
    raise ValueError("config.optimizer.decay_epochs and decay_factors must have equal length")
  for key in ("batch_size", "num_epochs", "eval_batch_size", "checkpoint_every_epochs",
              "eval_every_epochs", "log_every_steps", "steps_per_dispatch"):
    if config.train[key] <= 0:
      raise ValueError(f"config.train.{key} must be positive, got {config.train[key]}")
  _choice(config.stage, ("train", "decoupled", "dlsa"), "stage")
  _choice(config.optimizer.name, ("sgd", "adamw"), "optimizer.name")
  if not 0 < config.optimizer.layer_decay <= 1:
    raise ValueError("config.optimizer.layer_decay must lie in (0, 1] (1 = off), got "
                     f"{config.optimizer.layer_decay}")
  if config.augment.randaugment_ops < 0 or not 0 <= config.augment.randaugment_magnitude <= 10:
    raise ValueError("config.augment.randaugment_ops must be >= 0 and randaugment_magnitude "
                     "in [0, 10] (timm's levels)")
  _validate_soft_targets(config)
  _validate_aux(config)
  _choice(config.loss.reweight, losses.REWEIGHTS, "loss.reweight")
  # stage2 imports this module (its recipes), so its registry is read at call time.
  from ltjax import stage2  # pylint: disable=g-import-not-at-top
  _choice(config.decoupled.method, list(stage2.METHODS), "decoupled.method")
  if not config.decoupled.tau_grid:
    raise ValueError("config.decoupled.tau_grid is empty: give the strengths to search on "
                     "validation, e.g. (0.0, 0.5, 1.0)")
  if not 0 <= config.decoupled.router_threshold <= 1:
    raise ValueError("config.decoupled.router_threshold is a probability: it must lie in "
                     f"[0, 1], got {config.decoupled.router_threshold}")
  if config.stage == "decoupled" and not config.decoupled.stage1_workdir:
    raise ValueError("config.stage='decoupled' needs config.decoupled.stage1_workdir: the "
                     "workdir of a finished stage-1 run (it holds features/)")
  if config.dataset.source == "image_folder" and not config.dataset.train_list:
    raise ValueError("dataset.source='image_folder' needs config.dataset.train_list (and "
                     "val_list / test_list) pointing at `relative/path label` list files")


SOFT_TARGET_LOSSES = ("ce", "balanced_softmax", "logit_adjusted", "neighbor_silencing")


def _validate_soft_targets(config: ml_collections.ConfigDict) -> None:
  a = config.augment
  if min(a.mixup_alpha, a.cutmix_alpha, a.label_smoothing) < 0 or a.label_smoothing >= 1:
    raise ValueError("config.augment.mixup_alpha / cutmix_alpha must be >= 0 and "
                     "label_smoothing in [0, 1)")
  mixing = a.mixup_alpha > 0 or a.cutmix_alpha > 0 or a.label_smoothing > 0
  if mixing and config.loss.name not in SOFT_TARGET_LOSSES:
    raise ValueError(f"mixup / cutmix / label smoothing give soft targets, which loss "
                     f"{config.loss.name!r} does not take; use one of {SOFT_TARGET_LOSSES} or "
                     "turn them off")
  if mixing and config.loss.reweight != "none":
    raise ValueError("loss.reweight weights examples by their hard label; it cannot be "
                     "combined with mixup / cutmix / label smoothing")


def _validate_aux(config: ml_collections.ConfigDict) -> None:
  ac = config.aux
  _choice(ac.source, ("", "arrays", "image_folder", "dataset_classes"), "aux.source")
  _choice(ac.silencing, ("none", "neighbors", "neighbors_and_aux"), "aux.silencing")
  _choice(ac.mining_embedder, ("minilm", "pixel_prototypes"), "aux.mining_embedder")
  if not ac.source:
    return
  if config.loss.name != "neighbor_silencing":
    raise ValueError("auxiliary classes (aux.source set) train with "
                     "loss.name='neighbor_silencing' (aux.silencing='none' for no silencing), "
                     f"not {config.loss.name!r}")
  if ac.cap < 1:
    raise ValueError(f"config.aux.cap must be >= 1, got {ac.cap}")
  if config.sampler != "instance":
    raise ValueError("with auxiliary classes the sampler is 'instance' (the official code "
                     "samples uniformly; the prior balances): set sampler='instance'")
  if ac.source == "dataset_classes" and not ac.classes:
    raise ValueError("aux.source='dataset_classes' needs aux.classes: the names of the "
                     "dataset's classes that become auxiliary")
  if ac.source in ("arrays", "image_folder") and not ac.path:
    raise ValueError(f"aux.source={ac.source!r} needs aux.path")
  if ac.source == "image_folder" and not ac.names_file:
    raise ValueError("aux.source='image_folder' needs aux.names_file (one name per line)")


def cifar_lt_recipe(name: str) -> ml_collections.ConfigDict:
  """The LDAM-DRW CIFAR-LT recipe (protocol.md) for "cifar10_lt" or "cifar100_lt", IF 100:
  ResNet-32, 200 epochs, batch 128, SGD momentum 0.9, lr 0.1 with a 5-epoch per-epoch warm-up,
  x0.01 from epoch 160 and x0.0001 from 180, weight decay 2e-4, pad-4 crop + flip."""
  c = default_config()
  c.dataset.name = name
  c.dataset.source = "files"  # or "tfds" (a prepared TFDS cifar10 / cifar100)
  c.dataset.imbalance_factor = 100.0
  c.dataset.val_per_class = 100 if name == "cifar10_lt" else 20
  c.model.name = "cifar_resnet32"
  return c


def digits_lt_recipe() -> ml_collections.ConfigDict:
  """The embedded default: digits-LT (IF 20), a small CNN, 60 epochs of cosine SGD; runs in
  well under a minute on 2 CPU cores."""
  c = default_config()
  c.dataset.name = "digits_lt"
  c.dataset.source = "digits"
  c.dataset.imbalance_factor = 20.0
  c.dataset.n_max = 120
  c.dataset.test_per_class = 40
  c.dataset.val_per_class = 10
  c.model.name = "small_cnn"
  c.augment.crop_padding = 1  # digits are 8x8: a 1-pixel shift; never flip a digit
  c.augment.flip = False
  c.optimizer.learning_rate = 0.05
  c.optimizer.weight_decay = 5e-4
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_epochs = 2
  c.loss.drw_epoch = 48  # 80% of training, as 160 of 200 in the CIFAR recipe
  c.train.batch_size = 32
  c.train.num_epochs = 60
  c.train.log_every_steps = 50
  c.train.checkpoint_every_epochs = 5
  return c


def ride_cifar_recipe(name: str, num_experts: int) -> ml_collections.ConfigDict:
  """RIDE on CIFAR-LT (ride.md): reduced-width RIDE ResNet-32, the RIDE loss (lambda -0.45,
  gamma 0.05, LDAM margins, DRW and per-class temperature from epoch 160), SGD Nesterov, lr 0.1,
  weight decay 5e-4, batch 128, 200 epochs, 5-epoch warm-up, x0.01 at 160 and 180, and the
  reference's extra RandomRotation(15) after pad-crop-flip."""
  c = cifar_lt_recipe(name)
  c.model.name = "ride_cifar_resnet32"
  c.model.num_experts = num_experts
  c.model.reduced = True
  c.loss.name = "ride"
  c.loss.drw_epoch = 160
  c.loss.ride_diversity_factor = -0.45
  c.loss.ride_reweight_factor = 0.05
  c.optimizer.nesterov = True
  c.optimizer.weight_decay = 5e-4
  c.augment.rotation_degrees = 15.0
  return c


def ride_imagenet_recipe(num_experts: int, model_name: str = "ride_resnext50",
                         inat: bool = False) -> ml_collections.ConfigDict:
  """RIDE on ImageNet-LT (or iNaturalist 2018 with inat=True): shared stem/layer1/layer2,
  reduced experts, lambda -0.2, gamma 0.02 (iNat 0.015), DRW at 80, SGD Nesterov lr 0.1
  (iNat 0.2), weight decay 2e-4, batch 256 (iNat 512), 100 epochs, warm-up 5, x0.1 at 60 and
  80. RandomResizedCrop 224 + flip on device (ColorJitter not applied)."""
  c = default_config()
  c.dataset.name = "image_folder"
  c.dataset.source = "image_folder"
  prefix = "iNaturalist18" if inat else "ImageNet_LT"
  c.dataset.train_list = f"{prefix}_train.txt"
  # iNaturalist has no published validation split: its official val list is the test set.
  c.dataset.val_list = "" if inat else f"{prefix}_val.txt"
  c.dataset.test_list = f"{prefix}_val.txt" if inat else f"{prefix}_test.txt"
  c.dataset.num_classes = 8142 if inat else 1000
  c.dataset.image_size = 224
  c.dataset.train_image_size = 256
  c.augment.kind = "random_resized_crop"
  c.model.name = model_name
  c.model.num_experts = num_experts
  c.loss.name = "ride"
  c.loss.drw_epoch = 80
  c.loss.ride_diversity_factor = -0.2
  c.loss.ride_reweight_factor = 0.015 if inat else 0.02
  c.optimizer.learning_rate = 0.2 if inat else 0.1
  c.optimizer.nesterov = True
  c.optimizer.weight_decay = 2e-4
  c.optimizer.decay_epochs = (60, 80)
  c.optimizer.decay_factors = (0.1, 0.01)
  c.train.batch_size = 512 if inat else 256
  c.train.num_epochs = 100
  c.train.eval_batch_size = 1000
  c.train.checkpoint_every_epochs = 1
  c.train.log_every_steps = 100
  return c


def ride_router_stage(c: ml_collections.ConfigDict,
                      stage1_workdir: str) -> ml_collections.ConfigDict:
  """RIDE stage 2 (expert assignment): routers on the frozen experts, 5 epochs, batch 512,
  class-balanced sampling, SGD Nesterov lr 0.01 cosine, weight decay 5e-4, pos_weight 100."""
  decoupled_stage(c, "ride_router", stage1_workdir)
  c.decoupled.num_epochs = 5
  c.decoupled.batch_size = 512
  c.decoupled.learning_rate = 0.01
  c.decoupled.weight_decay = 5e-4
  c.decoupled.nesterov = True
  c.decoupled.router_pos_weight = 100.0
  return c


def decoupled_stage(c: ml_collections.ConfigDict, method: str,
                    stage1_workdir: str) -> ml_collections.ConfigDict:
  """Turns a config into a decoupled stage-2 run of `method` over `stage1_workdir`."""
  c.stage = "decoupled"
  c.decoupled.method = method
  c.decoupled.stage1_workdir = stage1_workdir
  if method == "lws":
    c.decoupled.num_epochs = 5  # the reference's LWS schedule
  return c


def config_arg(c: ml_collections.ConfigDict, arg: str | None,
               smoke_model: str) -> ml_collections.ConfigDict:
  """Applies a config file's `:arg` ("smoke" or nothing)."""
  if arg == "smoke":
    shrink_for_smoke(c, smoke_model)
    if c.dataset.name == "digits_lt":
      c.dataset.eval_per_class_limit = 0  # digits eval is tiny already
    if c.model.name.startswith("ride_"):
      c.model.name = "ride_resnet_tiny" if "resnet" in c.model.name or "resnext" in \
          c.model.name else "ride_cifar_tiny"
    if c.dataset.source == "image_folder":
      c.dataset.image_size, c.dataset.train_image_size = 32, 40
    c.model.pretrained = ""  # smoke models are tiny: no pretrained backbone fits them
  elif arg:
    raise ValueError(f"unknown config argument {arg!r}; use 'smoke' or nothing")
  return c


def shrink_for_smoke(c: ml_collections.ConfigDict, model_name: str) -> ml_collections.ConfigDict:
  """Shrinks a config so the whole run takes seconds on CPU (same code paths, tiny sizes)."""
  c.model.name = model_name
  c.train.num_epochs = 2
  c.train.steps_per_epoch_limit = 3
  c.train.batch_size = 16
  c.train.eval_batch_size = 64
  c.train.log_every_steps = 1
  c.train.checkpoint_every_epochs = 1
  c.optimizer.warmup_epochs = 1
  c.optimizer.decay_epochs = (1,)
  c.optimizer.decay_factors = (0.1,)
  c.dataset.eval_per_class_limit = 3
  c.loss.drw_epoch = 1  # so DRW switches on within the smoke run
  c.decoupled.num_epochs = 2
  c.decoupled.batch_size = 32
  return c


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
  _choice(variant, DEMO_VARIANTS, "variant (the config argument)")
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


def dlsa_recipe(features: str = "", *, max_depth: int = 1, flow_batch_size: int = 1024,
                flow_epochs: int = 50, lambdas: tuple[float, float, float] = (2.0, 1.0, 0.02),
                head_learning_rate: float = 1e-2) -> ml_collections.ConfigDict:
  """DLSA on frozen features (dlsa.md §5): `lambdas` = (lh, balance, purity)."""
  c = default_config()
  c.stage = "dlsa"
  c.dlsa.features = features
  c.dlsa.max_depth = max_depth
  c.dlsa.flow.batch_size = flow_batch_size
  c.dlsa.flow.num_epochs = flow_epochs
  c.dlsa.flow.lambda_lh, c.dlsa.flow.lambda_bal, c.dlsa.flow.lambda_pur = lambdas
  c.dlsa.head_learning_rate = head_learning_rate
  return c


def dlsa_small_features(c: ml_collections.ConfigDict, num_clusters: int,
                        flow_batch_size: int) -> ml_collections.ConfigDict:
  """Scales DLSA to the 64-d features and ~10k training images of CIFAR-LT / digits-LT.

  K: about 100 training samples per component (ImageNet-LT's 500 components see ~230 each),
  so the purity rule (size > 10) can be met. Batch: ~50 flow steps per epoch as on ImageNet-LT.
  lr 0.05 and the per-class NLL scaling C/1000: the reference's lr 0.2 with 10-class weights
  (each anchor 100x heavier than on ImageNet-LT) diverges on these features (dlsa.md; the
  skip/rollback counters in results.json show what happened in a run). The largest-cluster cap
  stays relative: 10x a uniform cluster's share.
  """
  c.dlsa.flow.num_clusters = num_clusters
  c.dlsa.flow.batch_size = flow_batch_size
  c.dlsa.flow.learning_rate = 0.05
  c.dlsa.flow.nll_class_scaling = True
  c.dlsa.flow.max_cluster_fraction = min(1.0, 10.0 / num_clusters)
  c.dlsa.flow.num_epochs = 30
  return c


def dlsa_smoke(c: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
  """A DLSA config's `:smoke`: tiny flow and head schedules (same code paths)."""
  if arg == "smoke":
    c.dlsa.flow.num_epochs = 2
    c.dlsa.flow.num_clusters = 8
    c.dlsa.flow.batch_size = 64
    c.dlsa.flow.max_cluster_fraction = 1.0
    c.dlsa.head_epochs = 4
    c.dlsa.head_eval_every = 2
  elif arg:
    raise ValueError(f"unknown config argument {arg!r}; use 'smoke' or nothing")
  return c
