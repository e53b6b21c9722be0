"""The Cao et al. CIFAR-LT protocol: counts, totals, reference order, determinism."""

import numpy as np
import pytest

from ltjax import data


def _balanced_labels(num_classes, per_class, seed=0):
  labels = np.tile(np.arange(num_classes), per_class)
  np.random.RandomState(seed).shuffle(labels)
  return labels


@pytest.mark.parametrize("num_classes,per_class,totals", [
    (10, 5000, {100: 12406, 50: 13996, 10: 20431}),
    (100, 500, {100: 10847, 50: 12608, 10: 19573}),
])
def test_totals_match_the_papers(num_classes, per_class, totals):
  labels = _balanced_labels(num_classes, per_class)
  for imbalance, total in totals.items():
    idx = data.cifar_lt_indices(labels, imbalance)
    assert len(idx) == total
    assert len(np.unique(idx)) == total
    counts = np.bincount(labels[idx], minlength=num_classes)
    assert counts[0] == per_class
    assert counts[-1] == per_class // imbalance
    assert np.all(np.diff(counts) <= 0)


def test_exp_profile_formula_by_hand():
  # int(500 * 0.01 ** (i / 99)) for a few i, computed by hand.
  counts = data.class_counts_for_profile(500, 100, 100)
  assert counts[0] == 500 and counts[1] == 477 and counts[50] == 48 and counts[99] == 5


def test_step_profile():
  counts = data.class_counts_for_profile(5000, 10, 100, "step")
  assert counts.tolist() == [5000] * 5 + [50] * 5


def test_indices_follow_the_reference_procedure():
  labels = _balanced_labels(10, 50, seed=3)
  counts = data.class_counts_for_profile(50, 10, 10)
  # The reference: np.random.seed(0) once, then per class in order shuffle and keep n_i.
  state = np.random.get_state()
  try:
    np.random.seed(0)
    expected = []
    for c in range(10):
      idx = np.where(labels == c)[0]
      np.random.shuffle(idx)
      expected.extend(idx[:counts[c]].tolist())
  finally:
    np.random.set_state(state)
  assert data.cifar_lt_indices(labels, 10).tolist() == expected


def test_deterministic_and_seed_dependent():
  labels = _balanced_labels(10, 100)
  a = data.cifar_lt_indices(labels, 10, seed=0)
  b = data.cifar_lt_indices(labels, 10, seed=0)
  c = data.cifar_lt_indices(labels, 10, seed=1)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_rejects_unbalanced_input_and_bad_profile():
  with pytest.raises(ValueError, match="balanced"):
    data.cifar_lt_indices(np.array([0, 0, 1]), 10)
  with pytest.raises(ValueError, match="profile"):
    data.class_counts_for_profile(10, 10, 10, "linear")


def test_real_cifar10_subset(shared_cifar10_dir):
  from ltjax.data import cifar_files
  train, _, _ = cifar_files.load_cifar("cifar10", shared_cifar10_dir)
  idx = data.cifar_lt_indices(train.labels, 100)
  assert len(idx) == 12406
  assert np.bincount(train.labels[idx]).tolist() == [5000, 2997, 1796, 1077, 645, 387, 232,
                                                     139, 83, 50]
