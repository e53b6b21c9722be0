"""Neighbour mining: the MiniLM embedder's rankings, the exact table from a fake embedder, and
the neighbours <-> parents conversions."""

import numpy as np
import pytest

from ltjax import granularity
from ltjax.granularity import mining

CIFAR_TARGETS = ["airplane", "automobile", "bird", "cat", "deer"]
CIFAR_AUX = ["dog", "frog", "horse", "ship", "truck"]


def test_minilm_ranks_related_names_above_unrelated_ones():
  sims = granularity.similarity_matrix(["truck", "cat"], ["pickup truck", "apple", "tiger cat",
                                                          "clock"])
  assert sims[0, 0] > sims[0, 1] + 0.3  # truck: pickup truck >> apple
  assert sims[1, 2] > sims[1, 3] + 0.3  # cat: tiger cat >> clock
  np.testing.assert_allclose(np.linalg.norm(mining.minilm_embedder()(["a", "b"]), axis=1), 1.0,
                             rtol=1e-5)


def test_cifar10_split_mines_the_plausible_pairs():
  table = granularity.mine_neighbors(CIFAR_TARGETS, CIFAR_AUX, k=1)
  t = len(CIFAR_TARGETS)
  named = {CIFAR_TARGETS[i]: CIFAR_AUX[row[0] - t] for i, row in enumerate(table) if row[0] >= 0}
  assert named["automobile"] == "truck" and named["airplane"] == "ship"
  assert named["cat"] == "dog" and named["deer"] == "horse"


def _fake_embed(names):
  vectors = {"a": [1, 0, 0], "b": [0, 1, 0], "x": [1, 0.2, 0], "y": [0.5, 1, 0],
             "z": [0, 0, 1], "A": [1, 0, 0]}
  return np.array([vectors[n] for n in names], float)


def test_exact_table_order_k_threshold_padding_offset_and_same_name():
  # a: x (.98), y (.45), z (0); b: y (.89), x (.20), z (0). "A" is a's own name (case).
  table = mining.mine_neighbors(["a", "b"], ["x", "y", "z", "A"], k=3, min_similarity=0.1,
                                embed_fn=_fake_embed)
  assert table.tolist() == [[2, 3, -1], [3, 2, -1]]
  table = mining.mine_neighbors(["a", "b"], ["x", "y", "z"], k=1, min_similarity=0.5,
                                embed_fn=_fake_embed)
  assert table.tolist() == [[2], [3]]
  table = mining.mine_neighbors(["a", "b"], ["x", "y", "z"], k=2, min_similarity=0.95,
                                embed_fn=_fake_embed)
  assert table.tolist() == [[2, -1], [-1, -1]]
  with pytest.raises(ValueError, match="k must be"):
    mining.mine_neighbors(["a"], ["x"], k=0, embed_fn=_fake_embed)


def test_neighbors_and_parents_round_trip_many_to_many():
  # 3 targets, aux 3..6: aux 3 has parents 0 and 2, aux 5 has none, target 1 has no child.
  parents = {3: [0, 2], 4: [0], 5: [], 6: [2]}
  table = granularity.neighbors_from_parents(parents, 3)
  assert table.tolist() == [[3, 4], [-1, -1], [3, 6]]
  assert granularity.parents_from_neighbors(table, 3, 7) == parents
  assert granularity.neighbors_from_parents(parents, 3, max_neighbors=4).shape == (3, 4)
  with pytest.raises(ValueError, match="not a target class"):
    granularity.neighbors_from_parents({3: [5]}, 3)
  with pytest.raises(ValueError, match=">= the 3 target"):
    granularity.neighbors_from_parents({1: [0]}, 3)
  with pytest.raises(ValueError, match="not auxiliary ids"):
    granularity.parents_from_neighbors(np.array([[1], [3], [-1]]), 3, 5)
  with pytest.raises(ValueError, match="max_neighbors"):
    granularity.neighbors_from_parents(parents, 3, max_neighbors=1)
