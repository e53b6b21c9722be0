"""DLSA's variants on digits-LT, each on the same seed's cross-entropy features: depth, flow
kind, and what the cluster-aided classifier sees. No reference numbers: the earlier ltjax
measurements (experiments/results/dlsa_cpu.md) predate keeping the partial last batch."""

from ltjax.reproduce.spec import Row
from ltjax.reproduce.spec import Table

_DLSA = "configs/dlsa/digits_lt_ce.py"

DIGITS = Table(
    name="dlsa_digits",
    title="DLSA variants on digits-LT (IF 20), small-CNN features",
    data_note="scikit-learn's 8x8 digits, embedded: no download",
    rows=(
        Row("ce", "configs/digits_lt/ce.py", note="stage 1: the features"),
        Row("dlsa-depth1-maf-x", _DLSA, builds_on="ce",
            overrides=(("dlsa.max_depth", 1), ("dlsa.flow.kind", "maf"),
                       ("dlsa.cac_input", "x"))),
        Row("dlsa-depth3-maf-x", _DLSA, builds_on="ce",
            overrides=(("dlsa.max_depth", 3), ("dlsa.flow.kind", "maf"),
                       ("dlsa.cac_input", "x"))),
        Row("dlsa-depth1-coupling-x", _DLSA, builds_on="ce",
            overrides=(("dlsa.max_depth", 1), ("dlsa.flow.kind", "coupling"),
                       ("dlsa.cac_input", "x"))),
        Row("dlsa-depth1-maf-u", _DLSA, builds_on="ce",
            overrides=(("dlsa.max_depth", 1), ("dlsa.flow.kind", "maf"),
                       ("dlsa.cac_input", "u"))),
    ),
    short=(("train.num_epochs", 10),),
)
