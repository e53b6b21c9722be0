"""Category extrapolation ("Granularity Matters" / "Learning from Neighbors"): which classes a
sample silences. Target classes are 0 .. T-1, auxiliary classes T .. C-1."""

from ltjax.granularity.masks import silencing_mask
from ltjax.granularity.masks import VARIANTS

__all__ = ["silencing_mask", "VARIANTS"]
