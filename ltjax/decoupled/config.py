"""`config.decoupled`: decoupled stage 2's section of the config, with its defaults."""

from __future__ import annotations

import ml_collections

from ltjax.config import checks
from ltjax.decoupled import stage


def section() -> ml_collections.ConfigDict:
  """The `decoupled` section (read when `stage = "decoupled"`)."""
  c = ml_collections.ConfigDict()
  c.method = "crt"  # "crt" | "lws" | "tau_norm" | "ncm" | "posthoc" | "ride_router"
  c.stage1_workdir = ""  # the finished stage-1 run whose features/ it reads
  c.sampler = "class_balanced"
  c.num_epochs = 10
  c.batch_size = 512
  c.learning_rate = 0.2  # cosine to 0, SGD momentum 0.9 (decoupling recipe)
  c.weight_decay = 5e-4
  c.nesterov = False
  # RIDE routing (method "ride_router"): top-k logit values fed to the routers, the BCE weight
  # of positives (more experts used as it grows), the decision threshold.
  c.router_top_k = 30
  c.router_pos_weight = 100.0
  c.router_threshold = 0.5
  # tau-norm / post-hoc adjustment strength grid, searched on the validation split.
  c.tau_grid = tuple(round(0.1 * i, 1) for i in range(21))
  return c


def smoke(config: ml_collections.ConfigDict) -> None:
  """A `:smoke` stage 2: two short epochs."""
  config.decoupled.num_epochs = 2
  config.decoupled.batch_size = 32


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key and the fix for a bad `config.decoupled`."""
  checks.choice(config.decoupled.method, list(stage.METHODS), "decoupled.method")
  if not config.decoupled.tau_grid:
    raise ValueError("config.decoupled.tau_grid is empty: give the strengths to search on "
                     "validation, e.g. (0.0, 0.5, 1.0)")
  if not 0 <= config.decoupled.router_threshold <= 1:
    raise ValueError("config.decoupled.router_threshold is a probability: it must lie in "
                     f"[0, 1], got {config.decoupled.router_threshold}")
  d = config.decoupled
  for key in ("num_epochs", "batch_size", "learning_rate"):
    checks.positive(d[key], f"decoupled.{key}")
  checks.positive(d.weight_decay, "decoupled.weight_decay", allow_zero=True)
  if config.stage == "decoupled" and not config.decoupled.stage1_workdir:
    raise ValueError("config.stage='decoupled' needs config.decoupled.stage1_workdir: the "
                     "workdir of a finished stage-1 run (it holds features/)")
