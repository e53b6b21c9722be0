"""Held-out validation splits carved from the train images the LT subset did not use."""

import numpy as np

from ltjax import data


def _labels():
  labels = np.tile(np.arange(10), 100)
  np.random.RandomState(0).shuffle(labels)
  return labels


def test_unused_mode_keeps_the_reference_subset_and_leaves_class0_empty():
  labels = _labels()
  train, val = data.lt_train_and_val_indices(labels, 10, val_per_class=5, val_mode="unused")
  np.testing.assert_array_equal(train, data.cifar_lt_indices(labels, 10))
  assert not set(train) & set(val)
  val_counts = np.bincount(labels[val], minlength=10)
  assert val_counts[0] == 0  # class 0 keeps all 100 images
  assert val_counts[1:].tolist() == [5] * 9


def test_reserve_mode_gives_every_class_validation_images():
  labels = _labels()
  train, val = data.lt_train_and_val_indices(labels, 10, val_per_class=5, val_mode="reserve")
  assert not set(train) & set(val)
  assert np.bincount(labels[val], minlength=10).tolist() == [5] * 10
  # The LT profile now starts from the 95 images left per class.
  assert np.bincount(labels[train], minlength=10)[0] == 95


def test_fewer_spare_images_than_requested():
  labels = _labels()
  train_counts = np.bincount(labels[data.cifar_lt_indices(labels, 10)], minlength=10)
  _, val = data.lt_train_and_val_indices(labels, 10, val_per_class=50)
  val_counts = np.bincount(labels[val], minlength=10)
  np.testing.assert_array_equal(val_counts, np.minimum(50, 100 - train_counts))


def test_validation_is_deterministic():
  labels = _labels()
  a = data.lt_train_and_val_indices(labels, 10, val_per_class=5)[1]
  b = data.lt_train_and_val_indices(labels, 10, val_per_class=5)[1]
  np.testing.assert_array_equal(a, b)
