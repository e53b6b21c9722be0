"""ltjax: long-tailed image recognition in JAX/Flax, as pure functions that compose.

    from ltjax import data
    from ltjax import models
    from ltjax import losses
    from ltjax.core import metrics

builds a long-tailed subset, a model, a loss and an evaluation without the trainer;
`ltjax.train.train_and_evaluate(config, workdir)` is the full job behind `python -m ltjax.main`.
"""

# Before anything creates a JAX backend: ltjax's XLA CPU defaults (see ltjax/core/xla_cpu.py;
# LTJAX_XLA_DEFAULTS=0 or your own XLA_FLAGS override them).
from ltjax.core import xla_cpu

xla_cpu.apply_defaults()

from ltjax import data  # pylint: disable=g-import-not-at-top,g-bad-import-order
from ltjax import losses
from ltjax import metrics
from ltjax import models

__version__ = "0.1.0"

# Modules that moved into the layout's rooms, still importable under their old names
# (`from ltjax import optim, steps` keeps working in notebooks and user code).
_MOVED_MODULES = {
    "checkpoint": "ltjax.core.checkpoint", "evaluate": "ltjax.core.evaluate",
    "metric_log": "ltjax.core.metric_log", "optim": "ltjax.core.optim",
    "sharding": "ltjax.core.sharding", "xla_cpu": "ltjax.core.xla_cpu",
    "steps": "ltjax.train.steps", "feature_cache": "ltjax.runs.feature_cache",
    "plots": "ltjax.runs.plots", "results": "ltjax.runs.results",
    "distill": "ltjax.ride.distill", "ride_router": "ltjax.ride.router",
    "stage2": "ltjax.decoupled.stage",
}


def __getattr__(name):
  if name in _MOVED_MODULES:
    import importlib  # pylint: disable=g-import-not-at-top
    return importlib.import_module(_MOVED_MODULES[name])
  raise AttributeError(f"module 'ltjax' has no attribute {name!r}")
