"""`config.dlsa`: DLSA's section of the config, with its defaults."""

from __future__ import annotations

import ml_collections

from ltjax.config import checks


def section() -> ml_collections.ConfigDict:
  """The `dlsa` section (read when `stage = "dlsa"`)."""
  c = ml_collections.ConfigDict()
  # DLSA (stage "dlsa"); defaults = the reference's ImageNet-LT CE config (dlsa.md §5).
  c.features = ""  # a stage-1 workdir, or a folder of train/val/test npz or h5 features
  c.val_holdout_fraction = 0.1  # per class, from train, when the features have no val
  c.max_depth = 1
  c.proportion = 0.3  # share of each stage's remaining train samples its filter keeps
  c.cac_input = "x"  # "x": the reference code (z := x); "u": the flow latent (paper)
  c.head = "linear"  # or "cosine" (s = cosine_scale)
  c.head_loss = "bsm"  # "bsm" (Balanced Softmax) or "ce"
  c.head_sampler = "instance"  # or "class_balanced"
  c.head_epochs = 150
  c.head_batch_size = 128
  c.head_learning_rate = 1e-2
  c.head_eval_every = 5
  c.head_last_batch = "keep"  # or "drop": the n % batch samples left at each epoch's end
  c.cosine_scale = 16.0
  c.absent_classes = "mask"  # or "reference" (log(1e-6) prior, classes stay predictable)
  c.regular_prior = "full"  # the regular classifier's BSM counts: "full" or "subset"
  c.select_on = "val"  # "test" only to reproduce the reference; results.json says so
  c.min_stage_samples = 16
  c.flow = ml_collections.ConfigDict()
  c.flow.kind = "maf"  # "maf" (the reference) or "coupling"
  c.flow.num_blocks = 2
  c.flow.hidden = 0  # 0 = the feature dimension (the reference)
  c.flow.num_clusters = 500
  c.flow.center_std = 0.05
  c.flow.batch_size = 1024
  c.flow.num_epochs = 50
  c.flow.learning_rate = 0.2
  c.flow.lambda_lh = 2.0
  c.flow.lambda_pur = 0.02
  c.flow.lambda_bal = 1.0
  c.flow.weight_q = 2.0
  c.flow.ema_momentum = 0.7
  c.flow.nll_class_scaling = False  # x C/1000: the reference's per-anchor NLL scale
  c.flow.nan_policy = "rollback"  # or "skip"
  c.flow.last_batch = "keep"  # or "drop" (keep: an epoch is N pairs, as the reference)
  c.flow.min_purity = 0.7
  c.flow.min_size = 10
  c.flow.max_cluster_fraction = 5000 / 115846  # the reference's 5000 on ImageNet-LT
  c.flow.eval_chunk = 4096
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key for a meaningless `config.dlsa` number."""
  for key in ("head_epochs", "head_batch_size", "head_learning_rate", "max_depth"):
    checks.positive(config.dlsa[key], f"dlsa.{key}")
  if not 0 < config.dlsa.proportion <= 1:
    raise ValueError(f"config.dlsa.proportion must lie in (0, 1], got {config.dlsa.proportion}")
  for key in ("num_epochs", "batch_size", "learning_rate", "num_clusters"):
    checks.positive(config.dlsa.flow[key], f"dlsa.flow.{key}")
