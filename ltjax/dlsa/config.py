"""`config.dlsa`: DLSA's section of the config, with its defaults."""

from __future__ import annotations

import dataclasses

import ml_collections

from ltjax.config import checks
from ltjax.dlsa import flow_training
from ltjax.dlsa import pipeline


def section() -> ml_collections.ConfigDict:
  """The `dlsa` section (read when `stage = "dlsa"`): the pipeline's options are the fields of
  `pipeline.DLSAConfig` and `flow_training.FlowConfig` (which document them), with their
  defaults, the reference's ImageNet-LT CE config (dlsa.md §5)."""
  c = ml_collections.ConfigDict()
  c.features = ""  # a stage-1 workdir, or a folder of train/val/test npz or h5 features
  c.val_holdout_fraction = 0.1  # per class, from train, when the features have no val
  for f in dataclasses.fields(pipeline.DLSAConfig):
    if f.name != "flow":
      c[f.name] = f.default
  # hidden: 0 in the config means the feature dimension (FlowConfig's None).
  c.flow = ml_collections.ConfigDict({f.name: 0 if f.name == "hidden" else f.default
                                      for f in dataclasses.fields(flow_training.FlowConfig)})
  return c


def pipeline_config(c: ml_collections.ConfigDict) -> pipeline.DLSAConfig:
  """The pipeline options (plain values) from `config.dlsa`."""
  flow = {f.name: c.flow[f.name] for f in dataclasses.fields(flow_training.FlowConfig)}
  flow["hidden"] = flow["hidden"] or None
  return pipeline.DLSAConfig(
      flow=flow_training.FlowConfig(**flow),
      **{f.name: c[f.name] for f in dataclasses.fields(pipeline.DLSAConfig) if f.name != "flow"})


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key for a meaningless `config.dlsa` number."""
  for key in ("head_epochs", "head_batch_size", "head_learning_rate", "max_depth"):
    checks.positive(config.dlsa[key], f"dlsa.{key}")
  if not 0 < config.dlsa.proportion <= 1:
    raise ValueError(f"config.dlsa.proportion must lie in (0, 1], got {config.dlsa.proportion}")
  for key in ("num_epochs", "batch_size", "learning_rate", "num_clusters"):
    checks.positive(config.dlsa.flow[key], f"dlsa.flow.{key}")
