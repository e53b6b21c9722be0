"""DLSA recipes (dlsa.md §5): the reference's settings, their scaling to small features, smoke."""

from __future__ import annotations

import ml_collections

from ltjax.config.defaults import default_config


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
