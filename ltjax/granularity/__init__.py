"""Category extrapolation ("Granularity Matters" / "Learning from Neighbors"): which classes a
sample silences. Target classes are 0 .. T-1, auxiliary classes T .. C-1."""

from ltjax.granularity.attach import attach
from ltjax.granularity.attach import Attachment
from ltjax.granularity.masks import silencing_mask
from ltjax.granularity.masks import VARIANTS
from ltjax.granularity.mining import mine_neighbors
from ltjax.granularity.mining import neighbors_from_parents
from ltjax.granularity.mining import parents_from_neighbors
from ltjax.granularity.mining import similarity_matrix
from ltjax.granularity.sampling import capped_counts
from ltjax.granularity.sampling import capped_epoch_indices

__all__ = ["attach", "Attachment", "capped_counts", "capped_epoch_indices", "mine_neighbors", "neighbors_from_parents",
           "parents_from_neighbors", "silencing_mask", "similarity_matrix", "VARIANTS"]
