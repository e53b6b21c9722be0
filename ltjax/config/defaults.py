"""Every config key with its default: the shared sections here, each method's sections and
loss keys from its room's record (`ltjax.core.plugins`).

Each key is declared next to its default with its rule (`ltjax.core.rules`: type, range,
choices), which `config.validate` checks before any data loads.

Every experiment file under `configs/` starts from `default_config()` (through a recipe) and
overrides fields, so the resolved config always holds every key the stages read, and a locked
config turns a mistyped override (`--config.dataset.imbalanse_factor=50`) into an error naming
the key.
"""

from __future__ import annotations

import dataclasses

import ml_collections

from ltjax import losses
from ltjax import models
from ltjax.core import plugins
from ltjax.core import rules
from ltjax.core.rules import Key
from ltjax.data.augment_spec import AugmentSpec
from ltjax.data import samplers
from ltjax.data.paths import data_dir  # pylint: disable=unused-import  (ltjax.config.data_dir)

DATASETS = ("digits_lt", "cifar10_lt", "cifar100_lt", "image_folder")
SOURCES = ("digits", "files", "tfds", "image_folder")
# How a population's members run inside the step (`ltjax.train.population`).
EXECUTIONS = ("auto", "vmap", "loop")
# The stage the framework runs itself; every other `config.stage` is a registered room's.
TRAIN_STAGE = "train"


def stage_names() -> list[str]:
  """Every valid `config.stage`: "train" and the registered rooms' stages."""
  return [TRAIN_STAGE, *(s for r in plugins.records() for s in r.stages)]


def declared_keys() -> dict:
  """Every config key as `rules.Key(default, rule)`, sections as nested dicts: the shared
  sections (dataset, sampler, augment, model, loss, optimizer, train, population, debug) are
  declared here; each registered method room adds its own sections and its keys of
  `config.loss` (`plugins.MethodRecord.sections` / `loss_settings`)."""
  if not plugins.records():
    raise RuntimeError("no method rooms are registered, so the config would lack their "
                       "sections: `import ltjax.methods` first (the command-line entry "
                       "points and the tests do)")
  keys = {
      # Training seed (init, sampler order, augmentation); the subset seed is separate.
      "seed": Key(0, rules.SEED),
      "dataset": _dataset(),
      "sampler": Key("instance", rules.Choice(lambda: sorted(samplers.SAMPLER_POWERS))),
      # On-device augmentation, mixing and label smoothing: the fields of AugmentSpec
      # (ltjax/data/augment_spec.py, which documents each key and declares its rule).
      "augment": rules.keys_of(AugmentSpec, exclude=("image_size",)),
      "model": _model(),
      "loss": _loss(),
      # "train" (a full training run) or a stage a method room registers (e.g. "decoupled":
      # stage 2 on a finished run's feature cache, "dlsa": DLSA on frozen features).
      "stage": Key(TRAIN_STAGE, rules.Choice(stage_names)),
      "optimizer": _optimizer(),
      "train": _train(),
      "population": _population(),
      "debug": _debug(),
  }
  for section in plugins.sections():
    declared = section.defaults()
    if not isinstance(declared, dict):
      raise TypeError(f"section {section.name!r}: Section.defaults must return a dict of "
                      "ltjax.core.rules.Key(default, rule), so that every key has a rule; got "
                      f"{type(declared).__name__}")
    keys[section.name] = declared
  return keys


def default_config() -> ml_collections.ConfigDict:
  """Defaults: the LDAM/RIDE CIFAR-LT cross-entropy recipe (protocol.md), every key of every
  registered section (`declared_keys`)."""
  return ml_collections.ConfigDict(rules.defaults(declared_keys()))


def key_rules() -> dict:
  """{dotted key: rule} of every config key (`config.validate` checks each)."""
  return rules.flatten(declared_keys())


def _dataset() -> dict:
  return {
      "name": Key("cifar100_lt", rules.Choice(DATASETS)),
      "source": Key("files", rules.Choice(SOURCES)),
      # Where local files live; "" means $LTJAX_DATA_DIR, else ./data.
      "data_dir": Key("", rules.Text()),
      "imbalance_factor": Key(100.0, rules.Number(lo=1)),  # n_max / n_min
      "profile": Key("exp", rules.Choice(("exp", "step"))),
      "subset_seed": Key(0, rules.SEED),
      "val_per_class": Key(20, rules.NON_NEGATIVE_INT),
      # "unused" | "reserve" | "none" (ltjax.data.validation)
      "val_mode": Key("unused", rules.Choice(("unused", "reserve", "none"))),
      "val_seed": Key(1, rules.SEED),
      # Digits only: n_max of the LT train split and the balanced test images per class.
      "n_max": Key(120, rules.COUNT),
      "test_per_class": Key(40, rules.COUNT),
      # Image folders only (ImageNet-LT, Places-LT, iNaturalist lists: `relative/path label`).
      "train_list": Key("", rules.Text()),
      "val_list": Key("", rules.Text()),
      "test_list": Key("", rules.Text()),
      "num_classes": Key(0, rules.NON_NEGATIVE_INT),  # 0: from the lists' labels
      # Eval: resize the shorter side to 256/224 of this, centre crop.
      "image_size": Key(224, rules.COUNT),
      # Train images: the host resizes and centre-crops to this side, then the device applies
      # `augment.kind` (random-resized-crop down to image_size); 0 means image_size.
      "train_image_size": Key(0, rules.NON_NEGATIVE_INT),
      # Smoke / debugging: keep at most this many val/test images per class (0 = all).
      "eval_per_class_limit": Key(0, rules.NON_NEGATIVE_INT),
      # digits_lt / CIFAR-LT: classes (by name) removed before the long-tail profile is
      # drawn, so the targets match a run whose method held them out
      # (aux.source='dataset_classes').
      "exclude_classes": Key((), rules.Items(rules.Text(nonempty=True))),
  }


def _model() -> dict:
  return {
      "name": Key("cifar_resnet32", rules.Choice(lambda: sorted(models.MODELS))),
      # LDAM's cosine classifier (CifarResNet only); its logits are scaled inside the LDAM
      # loss.
      "normed_classifier": Key(False, rules.Flag()),
      # Multi-expert models (RIDE's family): number of experts, and the paper's reduced widths.
      "num_experts": Key(3, rules.COUNT),
      "reduced": Key(True, rules.Flag()),
      # A pretrained checkpoint for the backbone (ViTs: big_vision or timm .npz layouts, see
      # ltjax.models.vit_checkpoint); the head is re-initialised for this run's classes.
      "pretrained": Key("", rules.Text()),
      # ViTs: stochastic depth's largest rate (timm's drop_path_rate: block i of L drops its
      # residual branches with rate * i / (L - 1), per sample, training only). 0 = off.
      "drop_path": Key(0.0, rules.Number(lo=0, hi=1, hi_open=True)),
      # Compute dtype: "bfloat16" runs convolutions / matmuls in bf16 while parameters,
      # optimizer state, BatchNorm statistics, logits and the loss stay float32 (master
      # weights). bf16 needs no loss scaling (float32's exponent range).
      "dtype": Key("float32", rules.Choice(("float32", "bfloat16"))),
  }


def _loss() -> dict:
  """The shared loss keys (`losses.LossSpec`, which documents each) and every registered
  room's own (`MethodRecord.loss_settings`)."""
  keys = rules.keys_of(losses.LossSpec)
  for record in plugins.records():
    for settings in record.loss_settings:
      keys.update(rules.keys_of(settings))
  return keys


def _optimizer() -> dict:
  return {
      # "sgd" (torch.optim.SGD semantics) | "adamw" (torch AdamW)
      "name": Key("sgd", rules.Choice(("sgd", "adamw"))),
      "b1": Key(0.9, rules.UNIT_OPEN),  # adamw
      "b2": Key(0.999, rules.UNIT_OPEN),  # adamw; the category-extrapolation recipe uses 0.99
      # ViTs: layer-wise lr decay (BEiT / MAE): block i of L gets lr * decay ** (L + 1 -
      # (i + 1)), the embeddings decay ** (L + 1), the final norm and head the full lr.
      # 1.0 = off.
      "layer_decay": Key(1.0, rules.Number(lo=0, hi=1, lo_open=True)),
      # For train.batch_size; scale linearly if you change it.
      "learning_rate": Key(0.1, rules.POSITIVE),
      "momentum": Key(0.9, rules.UNIT_OPEN),
      "nesterov": Key(False, rules.Flag()),
      "weight_decay": Key(2e-4, rules.NON_NEGATIVE),
      "schedule": Key("multistep", rules.Choice(("multistep", "cosine", "constant"))),
      "warmup_epochs": Key(5, rules.NON_NEGATIVE_INT),
      # The LDAM/RIDE references raise the lr once per epoch during warm-up; False = per step.
      "warmup_per_epoch": Key(True, rules.Flag()),
      "decay_epochs": Key((160, 180), rules.Items(rules.NON_NEGATIVE_INT, increasing=True)),
      # lr = base * factor from that epoch on
      "decay_factors": Key((0.01, 0.0001), rules.Items(rules.POSITIVE)),
      # "cosine" ends at this lr (MAE's min_lr).
      "min_lr": Key(0.0, rules.NON_NEGATIVE),
      # Only the head ("head", "fc_norm") trains for the first epochs of the warm-up, at lr
      # x head_warmup_lr_scale; the rest then starts its own optimizer state and warm-up
      # (the category-extrapolation code's clswarm / clswarm_scale). 0 = off.
      "head_warmup_epochs": Key(0, rules.NON_NEGATIVE_INT),
      "head_warmup_lr_scale": Key(1.0, rules.POSITIVE),
  }


def _train() -> dict:
  return {
      "batch_size": Key(128, rules.COUNT),  # global, over all devices and hosts
      "num_epochs": Key(200, rules.COUNT),
      # Smoke / debugging: cap the steps of each epoch (0 = all).
      "steps_per_epoch_limit": Key(0, rules.NON_NEGATIVE_INT),
      "log_every_steps": Key(50, rules.COUNT),
      "eval_every_epochs": Key(1, rules.COUNT),
      "checkpoint_every_epochs": Key(10, rules.COUNT),
      "keep_checkpoints": Key(2, rules.COUNT),
      "eval_batch_size": Key(500, rules.COUNT),
      # Which weights are tested at the end: "best_val" (selected on the held-out validation
      # split) or "last". Test is evaluated once, after selection.
      "select": Key("best_val", rules.Choice(("best_val", "last"))),
      # Write penultimate features and logits of train / val / test (selected weights) to
      # <workdir>/features/ for decoupled stage-2 methods.
      "cache_features": Key(True, rules.Flag()),
      # In-memory datasets (CIFAR, digits) live on the device as uint8 and each step gathers
      # its batch from indices inside the jitted computation: "auto" (when the split fits in
      # device_data_max_megabytes), "on" or "off" (host gather + copy every step).
      "data_on_device": Key("auto", rules.Choice(("auto", "on", "off"))),
      "device_data_max_megabytes": Key(2048, rules.NON_NEGATIVE_INT),
      # Steps per dispatch (lax.scan over K batches; needs the data on the device). Fewer
      # Python round trips for small models; logging / eval / checkpoints are unchanged.
      "steps_per_dispatch": Key(1, rules.COUNT),
      # Image folders: grain worker processes decoding batches ahead of the step (-1 = auto:
      # min(8, cores) for files, none for in-memory arrays; 0 = decode in the training
      # process).
      "loader_workers": Key(-1, rules.Number(lo=-1, integer=True)),
      # Resuming a checkpoint written under a different result-affecting config is refused
      # (the differing keys are named); True accepts it and records old and new values in
      # results.json.
      "allow_config_change": Key(False, rules.Flag()),
  }


def _population() -> dict:
  # Population training (ltjax.train.population): the cross product of these seeds and the
  # swept values ('loss.la_tau=0.5,1.0;optimizer.weight_decay=1e-4,5e-4') trains as one
  # compiled program, each member written to <workdir>/members/<name>/ like a single run.
  # Empty seeds and sweep: a single run with config.seed.
  return {
      "seeds": Key((), rules.Items(rules.SEED)),  # e.g. --config.population.seeds=0,1,2
      "sweep": Key("", rules.Text()),
      # How the members run inside the step: "vmap" (members that differ only by seed share
      # one vmapped step), "loop" (each member's own step, one after another in the same
      # program) or "auto" (loop on CPU, where XLA turns vmapped convolutions into slow
      # grouped ones; vmap elsewhere).
      "execution": Key("auto", rules.Choice(EXECUTIONS)),
      # Devices along the `member` mesh axis (members split over them; the rest of the
      # devices split each member's batch along `data`). 1 = every device holds every member.
      "member_devices": Key(1, rules.COUNT),
  }


def _debug() -> dict:
  return {
      # Fault injection for the resume test: SIGKILL the process right after this global
      # step (-1 = off) ...
      "kill_at_step": Key(-1, rules.Number(lo=-1, integer=True)),
      # ... or right after the checkpoint of this step was handed to the asynchronous writer
      # (a kill while the files are being written).
      "kill_during_save_at_step": Key(-1, rules.Number(lo=-1, integer=True)),
      # Set by a config file's `:smoke` (`config.shrink_for_smoke`): the run's printed results
      # carry SMOKE_CAVEAT. A label, not a setting: the shrunken keys are what change the run.
      "smoke": Key(False, rules.Flag()),
  }
