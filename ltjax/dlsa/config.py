"""`config.dlsa`: DLSA's section of the config, with its defaults and rules."""

from __future__ import annotations

import dataclasses

import ml_collections

from ltjax.core import rules
from ltjax.core.rules import Key
from ltjax.dlsa import flow_training
from ltjax.dlsa import pipeline


def section() -> dict:
  """The `dlsa` section (read when `stage = "dlsa"`): the pipeline's options are the fields of
  `pipeline.DLSAConfig` and `flow_training.FlowConfig` (which document them and declare their
  rules), with their defaults, the reference's ImageNet-LT CE config (dlsa.md §5)."""
  flow = rules.keys_of(flow_training.FlowConfig)
  # hidden: 0 in the config means the feature dimension (FlowConfig's None).
  flow["hidden"] = Key(0, rules.NON_NEGATIVE_INT)
  return {
      # A stage-1 workdir, or a folder of train/val/test npz or h5 features.
      "features": Key("", rules.Text()),
      # Per class, from train, when the features have no val.
      "val_holdout_fraction": Key(0.1, rules.UNIT_OPEN),
      **rules.keys_of(pipeline.DLSAConfig, exclude=("flow",)),
      "flow": flow,
  }


def pipeline_config(c: ml_collections.ConfigDict) -> pipeline.DLSAConfig:
  """The pipeline options (plain values) from `config.dlsa`."""
  flow = {f.name: c.flow[f.name] for f in dataclasses.fields(flow_training.FlowConfig)}
  flow["hidden"] = flow["hidden"] or None
  return pipeline.DLSAConfig(
      flow=flow_training.FlowConfig(**flow),
      **{f.name: c[f.name] for f in dataclasses.fields(pipeline.DLSAConfig) if f.name != "flow"})
