"""ltjax: long-tailed image recognition in JAX/Flax, as pure functions that compose.

    from ltjax import data, models, losses, metrics

builds a long-tailed subset, a model, a loss and an evaluation without the trainer;
`ltjax.train.train_and_evaluate(config, workdir)` is the full job behind `python -m ltjax.main`.
"""

from ltjax import data
from ltjax import losses
from ltjax import metrics
from ltjax import models

__version__ = "0.1.0"
