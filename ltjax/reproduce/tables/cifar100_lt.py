"""CIFAR-100-LT, ResNet-32, 200 epochs (protocol.md and ride.md's published numbers at IF
100; the docs we hold give none at IF 50 / 10, so those rows say so)."""

from ltjax.reproduce.spec import Published
from ltjax.reproduce.spec import Row
from ltjax.reproduce.spec import Table

_LDAM = "LDAM-DRW paper (Cao et al. 2019)"
_ZOO = "RIDE MODEL_ZOO.md (frank-xwang/RIDE-LongTailRecognition)"


def _rows(published: dict[str, Published]) -> tuple[Row, ...]:
  p = published.get
  return (
      Row("ce", "configs/cifar100_lt/ce.py", published=p("ce")),
      Row("focal", "configs/cifar100_lt/focal.py", published=p("focal")),
      Row("cb_focal", "configs/cifar100_lt/cb_focal.py"),
      Row("ldam_drw", "configs/cifar100_lt/ldam_drw.py", published=p("ldam_drw")),
      Row("balanced_softmax", "configs/cifar100_lt/balanced_softmax.py",
          published=p("balanced_softmax")),
      Row("logit_adjusted", "configs/cifar100_lt/logit_adjusted.py",
          published=p("logit_adjusted")),
      Row("crt", "configs/cifar100_lt/crt.py", builds_on="ce", published=p("crt")),
      Row("tau_norm", "configs/cifar100_lt/tau_norm.py", builds_on="ce", published=p("tau_norm")),
      Row("lws", "configs/cifar100_lt/lws.py", builds_on="ce"),
      Row("ncm", "configs/cifar100_lt/ncm.py", builds_on="ce"),
      Row("posthoc", "configs/cifar100_lt/posthoc.py", builds_on="ce"),
      Row("ride_e2", "configs/cifar100_lt/ride_e2.py"),
      Row("ride_e3", "configs/cifar100_lt/ride_e3.py", published=p("ride_e3")),
      Row("ride_router", "configs/cifar100_lt/ride_router.py", builds_on="ride_e3",
          published=p("ride_router")),
      Row("ride_e4", "configs/cifar100_lt/ride_e4.py"),
      Row("ride_teacher_e6", "configs/cifar100_lt/ride_teacher_e6.py",
          published=p("ride_teacher_e6")),
      Row("ride_e4_distill", "configs/cifar100_lt/ride_e4_distill.py",
          teacher="ride_teacher_e6", published=p("ride_e4_distill"),
          note="published with routing"),
      Row("dlsa", "configs/dlsa/cifar100_lt_ce.py", builds_on="ce",
          note="DLSA on the CE features"),
  )


_DATA = "CIFAR-100-LT (Cao et al. subset, 10,847 images at IF 100)"

IF100 = Table(
    name="cifar100_lt", title="CIFAR-100-LT, IF 100, ResNet-32, 200 epochs", data_note=_DATA,
    rows=_rows({
        "ce": Published(38.3, _LDAM), "focal": Published(38.4, _LDAM),
        "ldam_drw": Published(42.0, _LDAM),
        "balanced_softmax": Published(45.1, "LADE / SADE tables (45.1 - 46.1)"),
        "logit_adjusted": Published(43.9, "SADE / OpenLT tables"),
        "crt": Published(40.3, "BagofTricks-LT runs"),
        "tau_norm": Published(41.0, "BagofTricks-LT runs"),
        "ride_e3": Published(48.0, "RIDE paper (with distillation and routing)"),
        "ride_router": Published(48.6, _ZOO, many=67.0, medium=49.9, few=25.7),
        "ride_teacher_e6": Published(50.2, _ZOO, many=69.3, medium=52.1, few=25.8),
        # MODEL_ZOO.md's "RIDE + Distill, 4 experts" row. shared/docs/protocol.md lists
        # 69.3 / 49.3 / 26.0 for it, which is not in the zoo (69.3 is the 6-expert teacher's
        # many); the zoo is the source.
        "ride_e4_distill": Published(49.4, _ZOO, many=67.7, medium=51.3, few=25.7)}),
    short=(("train.num_epochs", 20), ("optimizer.decay_epochs", (16, 18)),
           ("loss.drw_epoch", 16), ("optimizer.warmup_epochs", 1)))

IF50 = Table(name="cifar100_lt_if50", title="CIFAR-100-LT, IF 50, ResNet-32, 200 epochs",
             data_note=_DATA.replace("10,847 images at IF 100", "IF 50"),
             overrides=(("dataset.imbalance_factor", 50.0),), rows=_rows({}),
             short=IF100.short)
IF10 = Table(name="cifar100_lt_if10", title="CIFAR-100-LT, IF 10, ResNet-32, 200 epochs",
             data_note=_DATA.replace("10,847 images at IF 100", "IF 10"),
             overrides=(("dataset.imbalance_factor", 10.0),), rows=_rows({}),
             short=IF100.short)
