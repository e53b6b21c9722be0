"""Per-sample silencing masks from a neighbour table (granularity.md §2, mask variants).

The mask is part of the neighbour-silencing objective and lives beside it in
`ltjax.losses.neighbor_silencing`; it is re-exported here, where category extrapolation's users
look for it.
"""

from ltjax.losses.neighbor_silencing import silencing_mask
from ltjax.losses.neighbor_silencing import VARIANTS

__all__ = ["silencing_mask", "VARIANTS"]
