"""digits-LT (scikit-learn's digits, IF 20): every row kind on a CPU-sized dataset. The
reference numbers are ltjax's own full-schedule measurements, not a paper's."""

from ltjax.reproduce.spec import Published
from ltjax.reproduce.spec import Row
from ltjax.reproduce.spec import Table

_BASELINES = ("ltjax, 3 seeds, experiments/results/digits_lt_baselines.md")
# CB-focal and LDAM-DRW changed with the class-balanced weights fix (74a28f8): their numbers are
# the 3-seed full-schedule run after it.
_AFTER_CB_FIX = ("ltjax, 3 seeds, experiments/results/repro_digits_lt/table.md (after the "
                 "class-balanced weights fix)")
_EXTRAPOLATION = "ltjax, 3 seeds, experiments/results/extrapolation_cpu.md (variant c)"


def _ours(top1, many, medium, few, source=_BASELINES):
  return Published(top1=top1, many=many, medium=medium, few=few, source=source)


TABLE = Table(
    name="digits_lt",
    title="digits-LT (IF 20), small CNN / tiny RIDE, 60 epochs",
    data_note="scikit-learn's 8x8 digits, embedded: no download",
    rows=(
        Row("ce", "configs/digits_lt/ce.py", published=_ours(82.17, 100.0, 97.0, 59.17),
            tolerance=3.0),
        Row("focal", "configs/digits_lt/focal.py",
            published=_ours(82.67, 100.0, 96.83, 60.62), tolerance=3.0),
        Row("cb_focal", "configs/digits_lt/cb_focal.py",
            published=_ours(92.08, 100.0, 98.17, 82.50, _AFTER_CB_FIX), tolerance=4.0),
        Row("balanced_softmax", "configs/digits_lt/balanced_softmax.py",
            published=_ours(87.67, 100.0, 93.67, 77.08), tolerance=4.0),
        Row("logit_adjusted", "configs/digits_lt/logit_adjusted.py",
            published=_ours(87.67, 100.0, 93.67, 77.08), tolerance=4.0),
        Row("ldam_drw", "configs/digits_lt/ldam_drw.py",
            published=_ours(91.00, 100.0, 97.50, 80.62, _AFTER_CB_FIX), tolerance=3.0),
        Row("crt", "configs/digits_lt/crt.py", builds_on="ce",
            published=_ours(85.25, 100.0, 95.17, 69.17), tolerance=4.0),
        Row("tau_norm", "configs/digits_lt/tau_norm.py", builds_on="ce",
            published=_ours(87.50, 100.0, 94.50, 75.62), tolerance=4.0),
        Row("dlsa", "configs/dlsa/digits_lt_ce.py", builds_on="ce",
            note="DLSA on the CE features"),
        Row("ride_e3", "configs/digits_lt/ride_e3.py"),
        Row("ride_router", "configs/digits_lt/ride_router.py", builds_on="ride_e3",
            note="RIDE-3 + expert routing"),
        Row("ride_teacher_e6", "configs/digits_lt/ride_teacher_e6.py"),
        Row("ride_e3_distill", "configs/digits_lt/ride_e3_distill.py",
            teacher="ride_teacher_e6"),
        Row("extrapolation", "configs/granularity/digits_lt_5plus5.py", arg="aux_silenced",
            published=_ours(97.50, 100.0, 98.75, 95.0, _EXTRAPOLATION), tolerance=3.0,
            note="targets 0-4 + auxiliary 5-9, neighbour silencing"),
    ),
    short=(("train.num_epochs", 10), ("loss.drw_epoch", 8)),
)
