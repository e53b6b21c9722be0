"""`config.decoupled`: decoupled stage 2's section of the config, with its defaults and rules."""

from __future__ import annotations

import ml_collections

from ltjax.core import rules
from ltjax.core.rules import Key
from ltjax.data import samplers
from ltjax.decoupled import stage


def section() -> dict:
  """The `decoupled` section (read when `stage = "decoupled"`)."""
  return {
      # "crt" | "lws" | "tau_norm" | "ncm" | "posthoc" | "ride_router" | a room's entry
      "method": Key("crt", rules.Choice(lambda: list(stage.METHODS))),
      # The finished stage-1 run whose features/ it reads.
      "stage1_workdir": Key("", rules.Text()),
      "sampler": Key("class_balanced",
                     rules.Choice(lambda: sorted(samplers.SAMPLER_POWERS))),
      "num_epochs": Key(10, rules.COUNT),
      "batch_size": Key(512, rules.COUNT),
      # Cosine to 0, SGD momentum 0.9 (decoupling recipe).
      "learning_rate": Key(0.2, rules.POSITIVE),
      "weight_decay": Key(5e-4, rules.NON_NEGATIVE),
      "nesterov": Key(False, rules.Flag()),
      # RIDE routing (method "ride_router"): top-k logit values fed to the routers, the BCE
      # weight of positives (more experts used as it grows), the decision threshold (a
      # probability).
      "router_top_k": Key(30, rules.COUNT),
      "router_pos_weight": Key(100.0, rules.POSITIVE),
      "router_threshold": Key(0.5, rules.UNIT),
      # tau-norm / post-hoc adjustment strength grid, searched on the validation split.
      "tau_grid": Key(tuple(round(0.1 * i, 1) for i in range(21)),
                      rules.Items(rules.REAL, min_len=1)),
  }


def smoke(config: ml_collections.ConfigDict) -> None:
  """A `:smoke` stage 2: two short epochs."""
  config.decoupled.num_epochs = 2
  config.decoupled.batch_size = 32


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key and the fix for a decoupled stage without its input
  (each key's own rule is checked before)."""
  if config.stage == "decoupled" and not config.decoupled.stage1_workdir:
    raise ValueError("config.stage='decoupled' needs config.decoupled.stage1_workdir: the "
                     "workdir of a finished stage-1 run (it holds features/)")
