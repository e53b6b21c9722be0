"""The category-extrapolation demonstration (granularity.md §8) as tables: five long-tailed
target classes and five auxiliary ones, variants (a) targets only, (b) + auxiliary classes,
(c) + auxiliary classes with silencing (`neighbors_and_aux`, the iNaturalist scripts'), (d) as
(c) with shuffled parents, and (c') as (c) with the `neighbors` variant of the official
ImageNet-LT / Places-LT scripts. The reference numbers are ltjax's own 3-seed measurements
(experiments/results/extrapolation_cpu.md)."""

from ltjax.reproduce.spec import Published
from ltjax.reproduce.spec import Row
from ltjax.reproduce.spec import Table

_SOURCE = "ltjax, 3 seeds, experiments/results/extrapolation_cpu.md"
_VARIANTS = (("targets", "(a) targets only"), ("aux_plain", "(b) + auxiliary, no silencing"),
             ("aux_silenced", "(c) + auxiliary, silencing"),
             ("aux_shuffled", "(d) + auxiliary, shuffled parents"))


_NEIGHBORS = ("aux_neighbors", "(c') + auxiliary, silencing as the ImageNet-LT / Places-LT "
              "scripts (neighbors)")


def _rows(config, measured, neighbors=None):
  """The four variants with their measured numbers, then (c') with its own when measured."""
  rows = [Row(variant, config, arg=variant, note=label, tolerance=3.0,
              published=Published(top1=m[0], many=m[1], medium=m[2], few=m[3], source=_SOURCE))
          for (variant, label), m in zip(_VARIANTS, measured)]
  published = None if neighbors is None else Published(
      top1=neighbors[0], many=neighbors[1], medium=neighbors[2], few=neighbors[3],
      source=_SOURCE)
  rows.append(Row(_NEIGHBORS[0], config, arg=_NEIGHBORS[0], note=_NEIGHBORS[1], tolerance=3.0,
                  published=published))
  return tuple(rows)


DIGITS = Table(
    name="extrapolation_digits",
    title="Category extrapolation on digits-LT: targets 0-4, auxiliary 5-9 (small CNN)",
    data_note="scikit-learn's 8x8 digits, embedded: no download; table from pixel prototypes",
    rows=_rows("configs/granularity/digits_lt_5plus5.py",
               ((94.33, 100.0, 97.08, 88.75), (97.67, 99.17, 99.58, 95.0),
                (97.50, 100.0, 98.75, 95.0), (94.00, 100.0, 99.17, 85.83)),
               neighbors=(98.33, 99.17, 99.58, 96.67)),
    short=(("train.num_epochs", 10),),
)

CIFAR10 = Table(
    name="extrapolation_cifar10",
    title="Category extrapolation on CIFAR-10: 5 long-tailed targets + 5 auxiliary classes",
    data_note="CIFAR-10 files under dataset.data_dir (--config.dataset.data_dir=...); table "
              "from MiniLM name embeddings (the `mining` extra)",
    rows=_rows("configs/granularity/cifar10_lt_5plus5.py",
               ((54.22, 62.73, 20.17, None), (56.36, 64.83, 22.47, None),
                (55.39, 65.18, 16.23, None), (56.14, 64.23, 23.77, None)),
               neighbors=(56.39, 65.08, 21.67, None)),
    short=(("train.num_epochs", 5),),
)
