"""Category extrapolation ("Granularity Matters" / "Learning from Neighbors"): auxiliary
neighbour classes trained beside the targets, silenced by the neighbour-silencing loss
(`ltjax.losses.neighbor_silencing_loss`, `ltjax.losses.silencing_mask`). Target classes are
0 .. T-1, auxiliary classes T .. C-1."""

from ltjax.granularity.mining import mine_neighbors
from ltjax.granularity.mining import neighbors_from_parents
from ltjax.granularity.mining import parents_from_neighbors
from ltjax.granularity.mining import similarity_matrix
from ltjax.granularity.sampling import capped_counts
from ltjax.granularity.sampling import capped_epoch_indices

__all__ = ["capped_counts", "capped_epoch_indices", "mine_neighbors", "neighbors_from_parents",
           "parents_from_neighbors", "similarity_matrix"]
