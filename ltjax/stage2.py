"""Decoupled stage 2: re-balance the classifier of a finished stage-1 run from its feature
cache, tune on validation, test once, and write results like a training run.

  python -m ltjax.main --config configs/cifar100_lt/crt.py --workdir runs/crt \
      --config.decoupled.stage1_workdir=runs/cifar100_ce
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ltjax import config as config_lib
from ltjax import decoupled
from ltjax import feature_cache
from ltjax import losses
from ltjax import metrics
from ltjax import models
from ltjax import results as results_lib
from ltjax import ride_router

TUNED_METHODS = ("tau_norm", "posthoc")


def _tune_on_val(logits_for_tau: Callable[[float, dict], jax.Array], val, class_counts,
                 grid) -> tuple[float, dict[str, float]]:
  """The grid value with the best validation top-1 (ties: the smallest value)."""
  scores = {}
  for tau in grid:
    scores[float(tau)] = metrics.evaluate_logits(logits_for_tau(tau, val), val["labels"],
                                                 class_counts)["top1"]
  best = max(scores.items(), key=lambda kv: (kv[1], -kv[0]))[0]
  return best, scores


def fit(config: ml_collections.ConfigDict, train, val, head) -> tuple[Callable, dict[str, Any]]:
  """Fits the configured method; returns (logits_fn(split arrays) -> logits, extra results)."""
  dc = config.decoupled
  counts = train["class_counts"]
  num_classes = len(counts)
  extra: dict[str, Any] = {}
  sgd = dict(seed=config.seed, sampler=dc.sampler, num_epochs=dc.num_epochs,
             batch_size=dc.batch_size, learning_rate=dc.learning_rate,
             weight_decay=dc.weight_decay)
  if dc.method in TUNED_METHODS and val is None:
    raise ValueError(f"decoupled.method={dc.method!r} tunes its strength on the validation "
                     "split, and the stage-1 run has none (dataset.val_mode='none'); ltjax "
                     "never tunes on test. Re-run stage 1 with a validation split.")
  if dc.method == "crt":
    params, curve = decoupled.crt(train["features"], train["labels"], num_classes, **sgd)
    extra["final_train_loss"] = float(curve[-1])
    return lambda d: d["features"] @ params["kernel"] + params["bias"][None, :], extra
  if dc.method == "lws":
    scales, curve = decoupled.lws(train["logits"], train["labels"], **sgd)
    extra.update(final_train_loss=float(curve[-1]), scales=np.asarray(scales).tolist())
    return lambda d: d["logits"] * scales[None, :], extra
  if dc.method == "ride_router":
    return _fit_router(config, train, extra)
  if dc.method == "ncm":
    centroids = decoupled.class_means(train["features"], train["labels"], num_classes)
    return lambda d: decoupled.ncm_logits(d["features"], centroids), extra
  if dc.method == "tau_norm":
    kernel = jnp.asarray(head["kernel"])
    logits_for = lambda tau, d: decoupled.tau_norm_logits(d["features"], kernel, tau)
  else:  # posthoc
    logits_for = lambda tau, d: losses.adjust_logits_posthoc(d["logits"], counts, tau)
  tau, scores = _tune_on_val(logits_for, val, counts, dc.tau_grid)
  logging.info("tuned tau on val: %.2f (val top-1 %.2f%%)", tau, 100 * scores[tau])
  extra["tuned"] = {"tau": tau, "val_top1_by_tau": scores, "selected_on": "val"}
  return lambda d: logits_for(tau, d), extra


def _fit_router(config, train, extra):
  """RIDE stage 2: routers on the frozen experts; logits_fn routes, extra gets the usage."""
  dc = config.decoupled
  if "expert_logits" not in train:
    raise ValueError("decoupled.method='ride_router' needs a multi-expert (RIDE) stage-1 run: "
                     f"{dc.stage1_workdir}/features/train.npz has no expert_logits")
  router, params, curve = ride_router.train_router(
      train["expert_logits"], train["expert_pooled"], train["labels"],
      top_k=dc.router_top_k, pos_weight=dc.router_pos_weight, seed=config.seed,
      num_epochs=dc.num_epochs, batch_size=dc.batch_size, learning_rate=dc.learning_rate,
      weight_decay=dc.weight_decay, sampler=dc.sampler)
  extra["final_train_loss"] = float(curve[-1])

  def routed(d):
    return ride_router.routed_predictions(router, params, d["expert_logits"],
                                          d["expert_pooled"], dc.router_threshold)

  extra["_routed"] = routed  # for the usage report; removed before results are written
  return lambda d: routed(d)[0], extra


def _router_report(source, extra, counts, test):
  """Test-split expert usage (shares, per bucket) and XLA-measured flops per image."""
  routed_logits, used = extra.pop("_routed")(test)
  labels = test["labels"]
  with open(os.path.join(source, "config.json"), encoding="utf-8") as f:
    model_config = ml_collections.ConfigDict(json.load(f)["model"])
  with open(os.path.join(source, "features", "meta.json"), encoding="utf-8") as f:
    image_shape = json.load(f)["image_shape"]
  num_experts = test["expert_logits"].shape[1]

  def build(k):
    model_config.num_experts = k
    return models.build_model(model_config.name, len(counts), **models.config_kwargs(model_config))

  flops = ride_router.flops_per_image(build, num_experts, image_shape)
  correct = np.asarray(jnp.argmax(routed_logits, -1)) == np.asarray(labels)
  extra["routing"] = ride_router.usage_summary(used, labels, counts, num_experts, flops,
                                               correct)
  extra["all_experts_test"] = metrics.evaluate_logits(test["logits"], test["labels"], counts)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs `config.decoupled.method` on the cache of `config.decoupled.stage1_workdir`."""
  config_lib.validate(config)
  source = config.decoupled.stage1_workdir
  train = feature_cache.load_split(source, "train")
  val = feature_cache.load_split(source, "val")
  test = feature_cache.load_split(source, "test")
  head = feature_cache.load_head(source)
  counts = train["class_counts"]
  logits_fn, extra = fit(config, train, val, head)
  split_results = {}
  if val is not None:
    split_results["val"] = metrics.evaluate_logits(logits_fn(val), val["labels"], counts)
  test_logits = np.asarray(logits_fn(test), np.float32)
  split_results["test"] = metrics.evaluate_logits(test_logits, test["labels"], counts)
  if config.decoupled.method == "ride_router":
    _router_report(source, extra, counts, test)
  out = {"config": config.to_dict(), "method": config.decoupled.method,
         "stage1_workdir": os.path.abspath(source), "class_counts": counts.tolist(),
         "split_sizes": {"train": len(train["labels"]),
                         "val": 0 if val is None else len(val["labels"]),
                         "test": len(test["labels"])},
         **extra, **split_results}
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    results_lib.write_json_atomically(os.path.join(workdir, "results.json"), out)
    probs = np.asarray(jax.nn.softmax(jnp.asarray(test_logits)))
    results_lib.write_predictions(workdir, test["labels"], probs.argmax(-1), probs.max(-1))
    results_lib.plot_per_class_accuracy(
        os.path.join(workdir, "per_class_accuracy.png"), counts,
        split_results["test"]["per_class"],
        f"{config.decoupled.method}: test top-1 {100 * split_results['test']['top1']:.1f}%")
    print(results_lib.format_table(split_results), flush=True)
  return out
