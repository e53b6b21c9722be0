"""Every config key with its default: the shared sections here, each method's section from the
method's own room.

Every experiment file under `configs/` starts from `default_config()` (through a recipe) and
overrides fields, so the resolved config always holds every key the stages read, and a locked
config turns a mistyped override (`--config.dataset.imbalanse_factor=50`) into an error naming
the key.
"""

from __future__ import annotations

import os

import ml_collections

from ltjax.decoupled import config as decoupled_config
from ltjax.dlsa import config as dlsa_config
from ltjax.granularity import config as granularity_config
from ltjax.ride import config as ride_config

DATASETS = ("digits_lt", "cifar10_lt", "cifar100_lt", "image_folder")
SOURCES = ("digits", "files", "tfds", "image_folder")


def default_config() -> ml_collections.ConfigDict:
  """Defaults: the LDAM/RIDE CIFAR-LT cross-entropy recipe (protocol.md).

  The shared sections (dataset, sampler, augment, model, loss, optimizer, train, debug) are
  defined here; each method's own section comes from its room (`ltjax.<method>.config`).
  """
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
  c.loss.name = "ce"  # a key of ltjax.losses.OBJECTIVES
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
  c.aux = granularity_config.section()  # category extrapolation (ltjax.granularity)
  c.distill = ride_config.section()  # RIDE distillation (ltjax.ride)

  # "train" (a full training run), "decoupled" (stage 2 on a finished run's feature cache) or
  # "dlsa" (DLSA on frozen features, `ltjax.dlsa`).
  c.stage = "train"
  c.decoupled = decoupled_config.section()  # ltjax.decoupled
  c.dlsa = dlsa_config.section()  # ltjax.dlsa

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

  # Population training (ltjax.train.population): the cross product of these seeds and the
  # swept values ('loss.la_tau=0.5,1.0;optimizer.weight_decay=1e-4,5e-4') trains as one
  # compiled program, each member written to <workdir>/members/<name>/ like a single run.
  # Empty seeds and sweep: a single run with config.seed.
  c.population = ml_collections.ConfigDict()
  c.population.seeds = ()  # e.g. --config.population.seeds=0,1,2
  c.population.sweep = ""
  # How the members run inside the step: "vmap" (members that differ only by seed share one
  # vmapped step), "loop" (each member's own step, one after another in the same program) or
  # "auto" (loop on CPU, where XLA turns vmapped convolutions into slow grouped ones; vmap
  # elsewhere).
  c.population.execution = "auto"
  # Devices along the `member` mesh axis (members split over them; the rest of the devices
  # split each member's batch along `data`). 1 = every device holds every member.
  c.population.member_devices = 1

  c.debug = ml_collections.ConfigDict()
  # Fault injection for the resume test: SIGKILL the process right after this global step.
  c.debug.kill_at_step = -1
  # ... or SIGKILL right after the checkpoint of this step was handed to the asynchronous
  # writer (a kill while the files are being written).
  c.debug.kill_during_save_at_step = -1
  return c


def data_dir(config: ml_collections.ConfigDict) -> str:
  """The resolved local data directory."""
  return config.dataset.data_dir or os.environ.get("LTJAX_DATA_DIR", "data")
