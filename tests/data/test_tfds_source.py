"""Tests for ltjax.data.tfds_source (mocked TFDS data; no downloads)."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ltjax.data import tfds_source


@pytest.mark.parametrize("name,num_classes", [("cifar10", 10),
                                              ("cifar100", 100)])
@pytest.mark.parametrize("split", ["train", "test"])
def test_mock_cifar(name, num_classes, split):
  with tfds.testing.mock_data(num_examples=12):
    data = tfds_source.load_tfds_arrays(name, split)
  assert data.images.shape == (12, 32, 32, 3)
  assert data.images.dtype == np.uint8
  assert data.labels.dtype == np.int32
  assert 0 <= data.labels.min() and data.labels.max() < num_classes


def test_grayscale_gets_channel_axis():
  with tfds.testing.mock_data(num_examples=3):
    data = tfds_source.load_tfds_arrays("mnist", "test")
  assert data.images.shape == (3, 28, 28, 1)


def test_order_matches_source():
  with tfds.testing.mock_data(num_examples=5):
    data = tfds_source.load_tfds_arrays("cifar10", "train")
    ds = tfds.data_source("cifar10", split="train")
    np.testing.assert_array_equal(data.images[3], ds[3]["image"])
    assert data.labels[3] == ds[3]["label"]


def test_batched_reads_span_chunks(monkeypatch):
  monkeypatch.setattr(tfds_source, "_READ_BATCH", 4)
  with tfds.testing.mock_data(num_examples=10):
    data = tfds_source.load_tfds_arrays("cifar10", "test")
  assert len(data) == 10


def test_unprepared_raises_file_not_found(tmp_path):
  data_dir = str(tmp_path / "tfds_empty")
  with pytest.raises(FileNotFoundError) as e:
    tfds_source.load_tfds_arrays("cifar10", "train", data_dir=data_dir)
  msg = str(e.value)
  assert "not prepared" in msg and data_dir in msg
  assert "tfds build cifar10" in msg


def test_class_names(tmp_path):
  # Unprepared: tfds only knows placeholder names, reported as None.
  assert tfds_source.class_names("cifar10", str(tmp_path)) is None
  assert tfds_source.class_names("no_such_dataset_xyz") is None
