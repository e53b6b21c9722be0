"""Every config key with its default: the shared sections here, each method's sections and
loss keys from its room's record (`ltjax.core.plugins`).

Every experiment file under `configs/` starts from `default_config()` (through a recipe) and
overrides fields, so the resolved config always holds every key the stages read, and a locked
config turns a mistyped override (`--config.dataset.imbalanse_factor=50`) into an error naming
the key.
"""

from __future__ import annotations

import dataclasses

import ml_collections

from ltjax import losses
from ltjax.core import plugins
from ltjax.data.augment_spec import AugmentSpec
from ltjax.data.paths import data_dir  # pylint: disable=unused-import  (ltjax.config.data_dir)

DATASETS = ("digits_lt", "cifar10_lt", "cifar100_lt", "image_folder")
SOURCES = ("digits", "files", "tfds", "image_folder")


def default_config() -> ml_collections.ConfigDict:
  """Defaults: the LDAM/RIDE CIFAR-LT cross-entropy recipe (protocol.md).

  The shared sections (dataset, sampler, augment, model, loss, optimizer, train, population,
  debug) are defined here; each registered method room adds its own sections and its keys of
  `config.loss` (`plugins.MethodRecord.sections` / `loss_settings`).
  """
  if not plugins.records():
    raise RuntimeError("no method rooms are registered, so the config would lack their "
                       "sections: `import ltjax.methods` first (the command-line entry "
                       "points and the tests do)")
  c = ml_collections.ConfigDict()
  c.seed = 0  # training seed (init, sampler order, augmentation); the subset seed is separate
  c.dataset = _dataset()
  c.sampler = "instance"  # "instance" | "class_balanced" | "sqrt"
  # On-device augmentation, mixing and label smoothing: the fields of AugmentSpec
  # (ltjax/data/augment_spec.py, which documents each key).
  c.augment = ml_collections.ConfigDict(AugmentSpec.config_keys())
  c.model = _model()
  c.loss = _loss()
  # "train" (a full training run) or a stage a method room registers (e.g. "decoupled": stage
  # 2 on a finished run's feature cache, "dlsa": DLSA on frozen features).
  c.stage = "train"
  c.optimizer = _optimizer()
  c.train = _train()
  c.population = _population()
  c.debug = _debug()
  for section in plugins.sections():
    c[section.name] = section.defaults()
  return c


def _dataset() -> ml_collections.ConfigDict:
  d = ml_collections.ConfigDict()
  d.name = "cifar100_lt"  # one of DATASETS
  d.source = "files"  # one of SOURCES
  # Where local files live; "" means $LTJAX_DATA_DIR, else ./data.
  d.data_dir = ""
  d.imbalance_factor = 100.0
  d.profile = "exp"
  d.subset_seed = 0
  d.val_per_class = 20
  d.val_mode = "unused"  # "unused" | "reserve" | "none" (ltjax.data.validation)
  d.val_seed = 1
  # Digits only: n_max of the LT train split and the balanced test images per class.
  d.n_max = 120
  d.test_per_class = 40
  # Image folders only (ImageNet-LT, Places-LT, iNaturalist lists: `relative/path label`).
  d.train_list = ""
  d.val_list = ""
  d.test_list = ""
  d.num_classes = 0
  d.image_size = 224  # eval: resize the shorter side to 256/224 of this, centre crop
  # Train images: the host resizes and centre-crops to this side, then the device applies
  # `augment.kind` (random-resized-crop down to image_size); 0 means image_size.
  d.train_image_size = 0
  # Smoke / debugging: keep at most this many val/test images per class (0 = all).
  d.eval_per_class_limit = 0
  # digits_lt / CIFAR-LT: classes (by name) removed before the long-tail profile is drawn, so
  # the targets match a run whose method held them out (aux.source='dataset_classes').
  d.exclude_classes = ()
  return d


def _model() -> ml_collections.ConfigDict:
  m = ml_collections.ConfigDict()
  m.name = "cifar_resnet32"  # a key of ltjax.models.MODELS
  # LDAM's cosine classifier (CifarResNet only); its logits are scaled inside the LDAM loss.
  m.normed_classifier = False
  # Multi-expert models (RIDE's family): number of experts, and the paper's reduced widths.
  m.num_experts = 3
  m.reduced = True
  # A pretrained checkpoint for the backbone (ViTs: big_vision or timm .npz layouts, see
  # ltjax.models.vit_checkpoint); the head is re-initialised for this run's classes.
  m.pretrained = ""
  # Compute dtype: "bfloat16" runs convolutions / matmuls in bf16 while parameters, optimizer
  # state, BatchNorm statistics, logits and the loss stay float32 (master weights). bf16 needs
  # no loss scaling (float32's exponent range).
  m.dtype = "float32"
  return m


def _loss() -> ml_collections.ConfigDict:
  """The shared loss keys (`losses.LossSpec`, which documents each) and every registered
  room's own (`MethodRecord.loss_settings`)."""
  keys = {f.name: f.default for f in dataclasses.fields(losses.LossSpec)}
  for record in plugins.records():
    for settings in record.loss_settings:
      keys.update({f.name: f.default for f in dataclasses.fields(settings)})
  return ml_collections.ConfigDict(keys)


def _optimizer() -> ml_collections.ConfigDict:
  o = ml_collections.ConfigDict()
  o.name = "sgd"  # "sgd" (torch.optim.SGD semantics) | "adamw" (torch AdamW)
  o.b1 = 0.9  # adamw
  o.b2 = 0.999  # adamw; the category-extrapolation recipe uses 0.99
  # ViTs: layer-wise lr decay (BEiT / MAE): block i of L gets lr * decay ** (L + 1 - (i + 1)),
  # the embeddings decay ** (L + 1), the final norm and head the full lr. 1.0 = off.
  o.layer_decay = 1.0
  o.learning_rate = 0.1  # for train.batch_size; scale linearly if you change it
  o.momentum = 0.9
  o.nesterov = False
  o.weight_decay = 2e-4
  o.schedule = "multistep"  # "multistep" | "cosine" | "constant"
  o.warmup_epochs = 5
  # The LDAM/RIDE references raise the lr once per epoch during warm-up; False = per step.
  o.warmup_per_epoch = True
  o.decay_epochs = (160, 180)
  o.decay_factors = (0.01, 0.0001)  # lr = base * factor from that epoch on
  return o


def _train() -> ml_collections.ConfigDict:
  t = ml_collections.ConfigDict()
  t.batch_size = 128  # global, over all devices and hosts
  t.num_epochs = 200
  t.steps_per_epoch_limit = 0  # smoke / debugging: cap the steps of each epoch (0 = all)
  t.log_every_steps = 50
  t.eval_every_epochs = 1
  t.checkpoint_every_epochs = 10
  t.keep_checkpoints = 2
  t.eval_batch_size = 500
  # Which weights are tested at the end: "best_val" (selected on the held-out validation
  # split) or "last". Test is evaluated once, after selection.
  t.select = "best_val"
  # Write penultimate features and logits of train / val / test (selected weights) to
  # <workdir>/features/ for decoupled stage-2 methods.
  t.cache_features = True
  # In-memory datasets (CIFAR, digits) live on the device as uint8 and each step gathers its
  # batch from indices inside the jitted computation: "auto" (when the split fits in
  # device_data_max_megabytes), "on" or "off" (host gather + copy every step).
  t.data_on_device = "auto"
  t.device_data_max_megabytes = 2048
  # Steps per dispatch (lax.scan over K batches; needs the data on the device). Fewer Python
  # round trips for small models; logging / eval / checkpoints are unchanged.
  t.steps_per_dispatch = 1
  # Image folders: grain worker processes decoding batches ahead of the step (-1 = auto:
  # min(8, cores) for files, none for in-memory arrays; 0 = decode in the training process).
  t.loader_workers = -1
  # Resuming a checkpoint written under a different result-affecting config is refused (the
  # differing keys are named); True accepts it and records old and new values in results.json.
  t.allow_config_change = False
  return t


def _population() -> ml_collections.ConfigDict:
  # Population training (ltjax.train.population): the cross product of these seeds and the
  # swept values ('loss.la_tau=0.5,1.0;optimizer.weight_decay=1e-4,5e-4') trains as one
  # compiled program, each member written to <workdir>/members/<name>/ like a single run.
  # Empty seeds and sweep: a single run with config.seed.
  p = ml_collections.ConfigDict()
  p.seeds = ()  # e.g. --config.population.seeds=0,1,2
  p.sweep = ""
  # How the members run inside the step: "vmap" (members that differ only by seed share one
  # vmapped step), "loop" (each member's own step, one after another in the same program) or
  # "auto" (loop on CPU, where XLA turns vmapped convolutions into slow grouped ones; vmap
  # elsewhere).
  p.execution = "auto"
  # Devices along the `member` mesh axis (members split over them; the rest of the devices
  # split each member's batch along `data`). 1 = every device holds every member.
  p.member_devices = 1
  return p


def _debug() -> ml_collections.ConfigDict:
  d = ml_collections.ConfigDict()
  # Fault injection for the resume test: SIGKILL the process right after this global step.
  d.kill_at_step = -1
  # ... or SIGKILL right after the checkpoint of this step was handed to the asynchronous
  # writer (a kill while the files are being written).
  d.kill_during_save_at_step = -1
  return d
