"""Category extrapolation's method record: the `aux` section, the `neighbor_silencing`
objective, and the hooks that add the auxiliary classes to the data and give the trainer their
capped prior, per-epoch pool and neighbour table."""

from ltjax.core import plugins
from ltjax.granularity import attach
from ltjax.granularity import auxiliary_splits
from ltjax.granularity import config
from ltjax.granularity import objective

RECORD = plugins.MethodRecord(
    name="granularity",
    # The auxiliary classes are part of the data every member of a population shares.
    sections=(plugins.Section("aux", config.section, config.validate, shared=True),),
    objectives={"neighbor_silencing": objective.OBJECTIVE},
    hooks=plugins.TrainingHooks(held_out_classes=attach.held_out_classes,
                                add_data=auxiliary_splits.add_auxiliary,
                                attach=attach.attach),
)
