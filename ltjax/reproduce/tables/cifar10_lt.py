"""CIFAR-10-LT, ResNet-32, 200 epochs, at imbalance factor 100 / 50 / 10 (protocol.md's
published numbers with their sources; RIDE, NCM and DLSA were never published on it).

One rule picks each cell's reference: the exact number of the method's own paper (or of
LDAM-DRW's Table 2 quoting it) where protocol.md gives one; otherwise, or where the paper's
figure is only approximate (LDAM-DRW at IF 50, "~81.0"), the BagofTricks-LT re-run, a single
codebase for every method."""

from ltjax.reproduce.spec import Published
from ltjax.reproduce.spec import Row
from ltjax.reproduce.spec import Table

_LDAM = "LDAM-DRW paper, Table 2 (Cao et al. 2019)"
_CB = "Cui et al. 2019, as quoted by LDAM-DRW Table 2"
_BOT = "BagofTricks-LT trick gallery (zhangyongshun/BagofTricks-LT, re-run)"
_LA = "Menon et al. 2021 (logit adjustment), Table"


def _rows(published: dict[str, Published]) -> tuple[Row, ...]:
  """The rows in the order the GPU run takes them (the issue's priority order)."""
  p = published.get
  return (
      Row("ride_e3", "configs/cifar10_lt/ride_e3.py", note="RIDE reports CIFAR-100 only"),
      Row("ride_router", "configs/cifar10_lt/ride_router.py", builds_on="ride_e3"),
      Row("ce", "configs/cifar10_lt/ce.py", published=p("ce")),
      Row("ldam_drw", "configs/cifar10_lt/ldam_drw.py", published=p("ldam_drw")),
      Row("balanced_softmax", "configs/cifar10_lt/balanced_softmax.py",
          published=p("balanced_softmax")),
      Row("logit_adjusted", "configs/cifar10_lt/logit_adjusted.py",
          published=p("logit_adjusted")),
      Row("posthoc", "configs/cifar10_lt/posthoc.py", builds_on="ce", published=p("posthoc")),
      Row("crt", "configs/cifar10_lt/crt.py", builds_on="ce", published=p("crt")),
      Row("tau_norm", "configs/cifar10_lt/tau_norm.py", builds_on="ce", published=p("tau_norm")),
      Row("lws", "configs/cifar10_lt/lws.py", builds_on="ce", published=p("lws")),
      Row("ncm", "configs/cifar10_lt/ncm.py", builds_on="ce"),
      Row("focal", "configs/cifar10_lt/focal.py", published=p("focal")),
      Row("cb_focal", "configs/cifar10_lt/cb_focal.py", published=p("cb_focal")),
      Row("ride_e2", "configs/cifar10_lt/ride_e2.py"),
      Row("ride_e4", "configs/cifar10_lt/ride_e4.py"),
      Row("dlsa", "configs/dlsa/cifar10_lt_ce.py", builds_on="ce",
          note="DLSA on the CE features"),
  )


_DATA = ("CIFAR-10-LT (Cao et al. subset); with ../shared/data/cifar10.npz this is the "
         "JPEG-degraded copy, so the published numbers are a soft anchor")

IF100 = Table(
    name="cifar10_lt", title="CIFAR-10-LT, IF 100, ResNet-32, 200 epochs", data_note=_DATA,
    rows=_rows({
        "ce": Published(70.36, _LDAM), "ldam_drw": Published(77.03, _LDAM),
        "balanced_softmax": Published(77.54, _BOT), "logit_adjusted": Published(77.67, _LA),
        "posthoc": Published(77.40, _LA), "crt": Published(74.99, _BOT),
        "tau_norm": Published(72.70, _BOT), "lws": Published(72.63, _BOT),
        "focal": Published(71.56, _BOT), "cb_focal": Published(74.57, _CB)}),
    short=(("train.num_epochs", 20), ("optimizer.decay_epochs", (16, 18)),
           ("loss.drw_epoch", 16), ("optimizer.warmup_epochs", 1)))

IF50 = Table(
    name="cifar10_lt_if50", title="CIFAR-10-LT, IF 50, ResNet-32, 200 epochs", data_note=_DATA,
    overrides=(("dataset.imbalance_factor", 50.0),),
    rows=_rows({
        "ce": Published(74.81, _LDAM), "ldam_drw": Published(81.60, _BOT),
        "balanced_softmax": Published(81.11, _BOT), "crt": Published(80.17, _BOT),
        "tau_norm": Published(79.78, _BOT), "lws": Published(78.66, _BOT),
        "focal": Published(77.91, _BOT), "cb_focal": Published(79.3, _CB)}),
    short=IF100.short)

IF10 = Table(
    name="cifar10_lt_if10", title="CIFAR-10-LT, IF 10, ResNet-32, 200 epochs", data_note=_DATA,
    overrides=(("dataset.imbalance_factor", 10.0),),
    rows=_rows({"ce": Published(86.39, _LDAM), "ldam_drw": Published(88.16, _LDAM),
                "cb_focal": Published(87.10, _CB)}),
    short=IF100.short)
