"""ltjax: long-tailed image recognition in JAX/Flax, as pure functions that compose.

    import ltjax.methods          # registers the installed method rooms (for configs)
    from ltjax import data
    from ltjax import models
    from ltjax import losses
    from ltjax.core import metrics

builds a long-tailed subset, a model, a loss and an evaluation without the trainer;
`ltjax.train.train_and_evaluate(config, workdir)` is the full job behind `python -m ltjax.main`.
Importing `ltjax` itself loads only its XLA CPU defaults; each subpackage loads on import.
"""

# Before anything creates a JAX backend: ltjax's XLA CPU defaults (see ltjax/core/xla_cpu.py;
# LTJAX_XLA_DEFAULTS=0 or your own XLA_FLAGS override them).
from ltjax.core import xla_cpu

xla_cpu.apply_defaults()

__version__ = "0.1.0"
