"""Image-level filtering: prototypes, parent similarity with several parents, the thresholds."""

import numpy as np
import pytest

from ltjax.granularity import filtering


def test_prototypes_average_normalised_features():
  features = np.array([[2.0, 0.0], [0.0, 5.0], [3.0, 0.0]])
  protos = filtering.class_prototypes(features, np.array([0, 0, 1]), 3)
  np.testing.assert_allclose(protos[0], [np.sqrt(0.5), np.sqrt(0.5)])  # mean of (1,0),(0,1)
  np.testing.assert_allclose(protos[1], [1.0, 0.0])
  np.testing.assert_allclose(protos[2], [0.0, 0.0])  # no images


def test_parent_similarity_takes_the_best_parent_and_nan_without_one():
  protos = np.array([[1.0, 0.0], [0.0, 1.0]])  # two targets
  # Aux 2 has parents 0 and 1; aux 3 has parent 1; aux 4 none.
  neighbors = np.array([[2, -1], [2, 3]])
  aux_features = np.array([[0.6, 0.8], [0.6, 0.8], [1.0, 0.0]])
  sim = filtering.parent_similarity(aux_features, np.array([2, 3, 4]), protos, neighbors)
  np.testing.assert_allclose(sim[:2], [0.8, 0.8])
  assert np.isnan(sim[2])
  sim = filtering.parent_similarity(np.array([[1.0, 0.0]]), np.array([3]), protos, neighbors)
  np.testing.assert_allclose(sim, [0.0])  # only parent 1 counts, not the closer target 0


def test_keep_mask_thresholds():
  sim = np.array([0.5, 0.7, 0.9, 0.98, 0.99, np.nan])
  assert filtering.keep_mask(sim, 0.7, 0.98).tolist() == [False, True, True, True, False, True]
  with pytest.raises(ValueError, match="filter_low"):
    filtering.keep_mask(sim, 0.9, 0.5)


def test_feature_file_rows_must_match(tmp_path):
  path = tmp_path / "f.npz"
  np.savez(path, target_features=np.zeros((3, 2)), aux_features=np.zeros((4, 2)))
  t, a = filtering.load_feature_file(str(path), 3, 4)
  assert t.shape == (3, 2) and a.shape == (4, 2)
  with pytest.raises(ValueError, match="exactly these sets"):
    filtering.load_feature_file(str(path), 3, 5)
