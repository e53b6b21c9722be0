"""Category extrapolation ("Granularity Matters" / "Learning from Neighbors"): which classes a
sample silences. Target classes are 0 .. T-1, auxiliary classes T .. C-1."""

from ltjax.granularity.masks import silencing_mask
from ltjax.granularity.masks import VARIANTS
from ltjax.granularity.sampling import capped_counts
from ltjax.granularity.sampling import capped_epoch_indices

__all__ = ["capped_counts", "capped_epoch_indices", "silencing_mask", "VARIANTS"]
