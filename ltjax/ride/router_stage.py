"""RIDE stage 2 as a decoupled method: routers trained on the frozen experts' cached outputs,
and the report of how many experts the test images used and what they cost."""

from __future__ import annotations

import json
import os
from typing import Any

import jax.numpy as jnp
import numpy as np

from ltjax import models
from ltjax.core import metrics
from ltjax.decoupled.method import Method
from ltjax.ride import router as router_lib
from ltjax.runs import finished


def fit_router(config, train, val, head):
  """RIDE stage 2: routers on the frozen experts; logits_fn routes, extra gets the usage."""
  del val, head
  dc = config.decoupled
  module, params, curve = router_lib.train_router(
      train["expert_logits"], train["expert_pooled"], train["labels"],
      top_k=dc.router_top_k, pos_weight=dc.router_pos_weight, seed=config.seed,
      num_epochs=dc.num_epochs, batch_size=dc.batch_size, learning_rate=dc.learning_rate,
      weight_decay=dc.weight_decay, sampler=dc.sampler, nesterov=dc.nesterov)
  extra: dict[str, Any] = {"final_train_loss": float(curve[-1])}

  def routed(d):
    return router_lib.routed_predictions(module, params, d["expert_logits"],
                                         d["expert_pooled"], dc.router_threshold)

  extra["_routed"] = routed  # for the usage report; removed before results are written
  return lambda d: routed(d)[0], extra


def router_report(source, extra, counts, test):
  """Test-split expert usage (shares, per bucket) and XLA-measured flops per image."""
  routed_logits, used = extra.pop("_routed")(test)
  labels = test["labels"]
  model_config = finished.load(source, "decoupled.stage1_workdir").config.model
  with open(os.path.join(source, "features", "meta.json"), encoding="utf-8") as f:
    image_shape = json.load(f)["image_shape"]
  num_experts = test["expert_logits"].shape[1]

  def build(k):
    model_config.num_experts = k
    return models.build_model(model_config.name, len(counts), **models.config_kwargs(model_config))

  flops = router_lib.flops_per_image(build, num_experts, image_shape)
  correct = np.asarray(jnp.argmax(routed_logits, -1)) == np.asarray(labels)
  extra["routing"] = router_lib.usage_summary(used, labels, counts, num_experts, flops,
                                              correct)
  extra["all_experts_test"] = metrics.evaluate_logits(test["logits"], test["labels"], counts)


# The `decoupled.method = "ride_router"` entry.
ROUTER = Method(fit_router, needs_experts=True, report=router_report)
