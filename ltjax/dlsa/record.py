"""DLSA's method record: the `dlsa` section and the `stage = "dlsa"` entry (DLSA on a
finished run's frozen features)."""

from ltjax.core import plugins
from ltjax.dlsa import config


def _stage():
  from ltjax.dlsa import stage  # pylint: disable=g-import-not-at-top  (loaded on use)
  return stage.run


RECORD = plugins.MethodRecord(
    name="dlsa",
    sections=(plugins.Section("dlsa", config.section, stage_only=True),),
    stages={"dlsa": _stage},
    run_inputs=(plugins.RunInput("builds_on", "dlsa.features", stage="dlsa"),),
)
