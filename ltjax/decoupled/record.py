"""Decoupled stage 2's method record: the `decoupled` section and the `stage = "decoupled"`
entry; its classic methods (cRT, LWS, tau-norm, NCM, post-hoc) are `stage.METHODS`' own
entries, other rooms add theirs through `MethodRecord.stage2_methods`."""

from ltjax.core import plugins
from ltjax.decoupled import config


def _stage():
  from ltjax.decoupled import stage  # pylint: disable=g-import-not-at-top  (loaded on use)
  return stage.run


RECORD = plugins.MethodRecord(
    name="decoupled",
    sections=(plugins.Section("decoupled", config.section, config.validate, stage_only=True,
                              smoke=config.smoke),),
    stages={"decoupled": _stage},
    run_inputs=(plugins.RunInput("builds_on", "decoupled.stage1_workdir", stage="decoupled"),),
)
