"""The embedded digits-LT default."""

import numpy as np

from ltjax import data


def test_digits_lt_counts_and_disjoint_balanced_eval_splits():
  s = data.digits_lt_splits()
  assert np.bincount(s["train"].labels).tolist() == [120, 86, 61, 44, 31, 22, 16, 11, 8, 6]
  assert np.bincount(s["test"].labels).tolist() == [40] * 10
  assert np.bincount(s["val"].labels).tolist() == [10] * 10
  assert s["train"].images.shape[1:] == (8, 8, 1) and s["train"].images.dtype == np.uint8
  assert s["train"].images.max() == 255
  # No image is shared between splits (digits has no exact duplicates across these draws).
  keys = {k: {im.tobytes() for im in s[k].images} for k in s}
  assert not keys["train"] & keys["test"] and not keys["val"] & keys["test"]


def test_n_max_too_large_is_explained():
  import pytest
  with pytest.raises(ValueError, match="n_max"):
    data.digits_lt_splits(n_max=170)
