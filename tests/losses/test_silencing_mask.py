"""Silencing masks on a hand-built neighbour table."""

import numpy as np
import pytest

from ltjax import losses

# 3 targets (0, 1, 2), 3 auxiliary classes (3, 4, 5). Target 0 lists {3, 4}; target 1 lists
# {4}; target 2 has no neighbour. Auxiliary 4 has two parents (0 and 1); 5 has none.
NEIGHBORS = np.array([[3, 4], [4, -1], [-1, -1]])
LABELS = np.array([0, 1, 2, 3, 4, 5])


def _rows(mask):
  return [sorted(np.nonzero(r)[0].tolist()) for r in np.asarray(mask)]


def test_none_silences_nothing():
  assert not np.asarray(losses.silencing_mask(LABELS, NEIGHBORS, 6, "none")).any()


def test_neighbors_variant():
  rows = _rows(losses.silencing_mask(LABELS, NEIGHBORS, 6, "neighbors"))
  assert rows == [[3, 4], [4], [], [0], [0, 1], []]


def test_neighbors_and_aux_variant():
  rows = _rows(losses.silencing_mask(LABELS, NEIGHBORS, 6, "neighbors_and_aux"))
  # Auxiliary 5 is nobody's neighbour (a mined table can leave one): ltjax lets it silence the
  # other auxiliary classes like any auxiliary sample, on purpose (granularity.sampling).
  assert rows == [[3, 4], [4], [], [0, 4, 5], [0, 1, 3, 5], [3, 4]]


def test_unknown_variant_raises():
  with pytest.raises(ValueError, match="variant"):
    losses.silencing_mask(LABELS, NEIGHBORS, 6, "all")
