"""Category extrapolation with a ViT-B on the paper's benchmarks (for users who have the data,
the auxiliary folders and the backbone checkpoints: --config.dataset.data_dir=/data/...).

Per backbone two rows: the recipe without auxiliary data (`aux.source=""`: the BalCE baseline
of the same launch settings) and with it. The ImageNet-LT numbers are the paper's as secondary
summaries give them, unverified against the PDF (the shared granularity.md §5); iNaturalist
2018 and Places-LT numbers are not recoverable there, except LiVT's own ViT-B/16 baseline on
iNaturalist (LiVT README), which the "scratch" baseline is.
"""

from ltjax.reproduce.spec import Published
from ltjax.reproduce.spec import Row
from ltjax.reproduce.spec import Table

_PAPER = "Gran_LT paper, ImageNet-LT table, via secondary summaries (unverified against the PDF)"
_LIVT = "LiVT README, ViT-B/16 at 224 on iNaturalist 2018"
_BASELINE = (("aux.source", ""),)
# Not the paper's: a tenth of the epochs, one warm-up epoch.
_SHORT = (("train.num_epochs", 10), ("optimizer.warmup_epochs", 1))


def _rows(dataset: str, published: dict) -> tuple[Row, ...]:
  rows = []
  for init in ("scratch", "dinov2", "clip"):
    config = f"configs/granularity/{dataset}_vit_{init}.py"
    rows.append(Row(f"{init}_baseline", config, overrides=_BASELINE,
                    published=published.get(f"{init}_baseline"),
                    note="the same recipe without auxiliary data (BalCE)"))
    rows.append(Row(f"{init}_extrapolation", config, published=published.get(init)))
  return tuple(rows)


IMAGENET_LT = Table(
    name="extrapolation_imagenet_lt",
    title="Category extrapolation, ViT-B, ImageNet-LT",
    data_note="ImageNet-LT lists (Liu et al.) + the auxiliary folder ImageNet_LT_aux_*",
    rows=_rows("imagenet_lt", {
        "scratch_baseline": Published(60.9, _PAPER, many=72.9, medium=56.8, few=41.4),
        "scratch": Published(68.2, _PAPER, many=74.5, medium=66.2, few=57.4),
        "dinov2_baseline": Published(79.6, _PAPER), "dinov2": Published(82.0, _PAPER),
        "clip_baseline": Published(74.0, _PAPER), "clip": Published(77.3, _PAPER),
    }),
    short=_SHORT,
)

INAT2018 = Table(
    name="extrapolation_inat2018",
    title="Category extrapolation, ViT-B, iNaturalist 2018",
    data_note="iNaturalist 2018 lists (val = test, as the official code) + iNaturalist18_aux_*",
    rows=_rows("inat2018", {
        "scratch_baseline": Published(76.1, _LIVT, many=78.9, medium=76.5, few=74.8)}),
    short=_SHORT,
)

PLACES_LT = Table(
    name="extrapolation_places_lt",
    title="Category extrapolation, ViT-B, Places-LT",
    data_note="Places-LT lists (Liu et al.) + the auxiliary folder Places_LT_aux_*",
    rows=_rows("places_lt", {}),
    short=_SHORT,
)
