"""Training: `setup` (a config and its data -> model, optimizer, state, jitted steps),
`trainer` (the loop over a run object), `single_run` (one run), `population` and `members`
(seeds x swept settings as one compiled program), `monitor` (progress and divergence),
`resume` (what a checkpoint must match), `outputs` (what a finished run writes).
`train_and_evaluate(config, workdir)` is the whole job behind `python -m ltjax.main`.
"""

from ltjax.train import setup
from ltjax.train.monitor import TrainingDiverged
from ltjax.train.trainer import train_and_evaluate

__all__ = ["setup", "train_and_evaluate", "TrainingDiverged"]
