"""Auxiliary capping: what is kept, determinism, per-epoch redraw statistics, the prior counts."""

import numpy as np
import pytest

from ltjax import granularity

# 2 targets (30 and 3 images), 3 auxiliary classes (200, 50 and 10 images).
LABELS = np.repeat(np.arange(5), [30, 3, 200, 50, 10])


def test_targets_are_kept_and_auxiliary_classes_capped():
  idx = granularity.capped_epoch_indices(LABELS, 2, cap=20, seed=0, epoch=0)
  counts = np.bincount(LABELS[idx], minlength=5)
  assert counts.tolist() == [30, 3, 20, 20, 10]
  assert len(np.unique(idx)) == len(idx)  # without replacement
  assert set(np.nonzero(LABELS < 2)[0]) <= set(idx)


def test_redraw_is_deterministic_per_epoch_and_differs_between_epochs():
  a = granularity.capped_epoch_indices(LABELS, 2, cap=20, seed=3, epoch=5)
  np.testing.assert_array_equal(a, granularity.capped_epoch_indices(LABELS, 2, cap=20, seed=3,
                                                                    epoch=5))
  assert not np.array_equal(a, granularity.capped_epoch_indices(LABELS, 2, cap=20, seed=3,
                                                                epoch=6))


def test_every_auxiliary_image_is_drawn_uniformly_over_epochs():
  hits = np.zeros(len(LABELS))
  epochs = 400
  for e in range(epochs):
    np.add.at(hits, granularity.capped_epoch_indices(LABELS, 2, cap=20, seed=0, epoch=e), 1)
  big = hits[LABELS == 2] / epochs  # expected 20 / 200 = 0.1 each
  np.testing.assert_allclose(big.mean(), 0.1, rtol=1e-9)
  assert np.abs(big - 0.1).max() < 0.06  # binomial(400, 0.1): sd 0.015
  assert np.all(hits[LABELS == 4] == epochs)  # under the cap: always all of them


def test_with_replacement_and_prior_counts():
  idx = granularity.capped_epoch_indices(LABELS, 2, cap=20, seed=0, epoch=0, replace=True)
  assert np.bincount(LABELS[idx], minlength=5).tolist() == [30, 3, 20, 20, 10]
  assert granularity.capped_counts(LABELS, 5, 2, cap=20).tolist() == [30, 3, 20, 20, 10]
  with pytest.raises(ValueError, match="cap"):
    granularity.capped_epoch_indices(LABELS, 2, cap=0)



# The official cap rule on hand-made counts, one class per branch: 2 targets (300 and 7 images,
# never capped), then auxiliary classes of 10 (<= 20: all), 20 (the boundary: all), 60 (21-100:
# all; the old min(n, 50) kept 50), 100 (the boundary: all), 101 and 300 (> 100: 50).
BRANCHES = np.repeat(np.arange(8), [300, 7, 10, 20, 60, 100, 101, 300])


@pytest.mark.parametrize("replace", [False, True])
def test_official_cap_rule_keeps_21_to_100_images_whole(replace):
  kept = [300, 7, 10, 20, 60, 100, 50, 50]
  assert granularity.capped_counts(BRANCHES, 8, 2, cap=50, keep_all_up_to=100).tolist() == kept
  idx = granularity.capped_epoch_indices(BRANCHES, 2, cap=50, keep_all_up_to=100, seed=0,
                                         epoch=0, replace=replace)
  assert np.bincount(BRANCHES[idx], minlength=8).tolist() == kept
  # keep_all_up_to=0 is the plain cap min(n, 50).
  assert granularity.capped_counts(BRANCHES, 8, 2, cap=50).tolist() == [
      300, 7, 10, 20, 50, 50, 50, 50]
