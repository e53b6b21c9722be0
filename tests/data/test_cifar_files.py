"""Tests for ltjax.data.cifar_files."""

import os
import pickle

import numpy as np
import pytest

from ltjax.data import cifar_files

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_SHARED_NPZ = os.path.join(_REPO_ROOT, "..", "shared", "data", "cifar10.npz")


def _chw_batch(first_id: int, n: int) -> np.ndarray:
  """(n, 3072) uint8 rows with a per-image id and a known CHW pattern."""
  chw = np.zeros((n, 3, 32, 32), np.uint8)
  for i in range(n):
    chw[i, 0, 0, 0] = first_id + i  # R at (0, 0) is the image id.
    chw[i, 1, 2, 5] = 200           # G at row 2, col 5.
    chw[i, 2, 31, 0] = 100          # B at bottom-left.
  return chw.reshape(n, 3072)


def _dump(path, obj):
  with open(path, "wb") as f:
    pickle.dump(obj, f, protocol=2)


def _write_cifar10(root, per_batch=3, labels_fn=lambda ids: ids % 10):
  folder = root / "cifar-10-batches-py"
  folder.mkdir()
  for b in range(5):
    ids = np.arange(b * per_batch, (b + 1) * per_batch)
    _dump(folder / f"data_batch_{b + 1}",
          {b"batch_label": b"x", b"data": _chw_batch(ids[0], per_batch),
           b"labels": [int(v) for v in labels_fn(ids)],
           b"filenames": [b"f"] * per_batch})
  _dump(folder / "test_batch",
        {b"data": _chw_batch(100, 4), b"labels": [9, 8, 7, 6]})
  _dump(folder / "batches.meta",
        {b"label_names": [n.encode() for n in cifar_files.CIFAR10_CLASSES],
         b"num_cases_per_batch": per_batch})
  return folder


def _write_cifar100(root):
  folder = root / "cifar-100-python"
  folder.mkdir()
  _dump(folder / "train", {b"data": _chw_batch(0, 5),
                           b"fine_labels": [99, 0, 42, 7, 99],
                           b"coarse_labels": [0] * 5})
  _dump(folder / "test", {b"data": _chw_batch(50, 2),
                          b"fine_labels": [1, 2], b"coarse_labels": [0, 0]})
  _dump(folder / "meta", {
      b"fine_label_names": [n.encode() for n in cifar_files.CIFAR100_CLASSES],
      b"coarse_label_names": [b"c"] * 20})
  return folder


def _check_pattern(images, first_id):
  assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
  np.testing.assert_array_equal(
      images[:, 0, 0, 0], first_id + np.arange(len(images)))
  assert (images[:, 2, 5, 1] == 200).all()
  assert (images[:, 31, 0, 2] == 100).all()
  # Exactly three non-zero pixels per image: nothing else was scrambled in.
  assert ((images != 0).reshape(len(images), -1).sum(1) <= 3).all()


def test_class_name_tuples():
  assert len(cifar_files.CIFAR10_CLASSES) == 10
  assert len(cifar_files.CIFAR100_CLASSES) == 100
  assert cifar_files.CIFAR100_CLASSES[:3] == ("apple", "aquarium_fish", "baby")
  assert cifar_files.CIFAR100_CLASSES[-1] == "worm"


def test_cifar10_pickle_folder(tmp_path):
  folder = _write_cifar10(tmp_path)
  for data_dir in (tmp_path, folder):  # Parent dir or the folder itself.
    train, test, names = cifar_files.load_cifar("cifar10", str(data_dir))
    assert len(train) == 15 and len(test) == 4
    _check_pattern(train.images, 0)  # Original order across batches.
    _check_pattern(test.images, 100)
    assert train.labels.dtype == np.int32
    np.testing.assert_array_equal(train.labels, np.arange(15) % 10)
    np.testing.assert_array_equal(test.labels, [9, 8, 7, 6])
    assert names == list(cifar_files.CIFAR10_CLASSES)


def test_cifar100_pickle_folder(tmp_path):
  _write_cifar100(tmp_path)
  train, test, names = cifar_files.load_cifar("cifar100", str(tmp_path))
  assert train.images.shape == (5, 32, 32, 3) and len(test) == 2
  _check_pattern(train.images, 0)
  _check_pattern(test.images, 50)
  np.testing.assert_array_equal(train.labels, [99, 0, 42, 7, 99])
  assert names == list(cifar_files.CIFAR100_CLASSES)


def test_npz(tmp_path):
  rng = np.random.default_rng(0)
  x_train = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
  x_test = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
  path = tmp_path / "cifar10.npz"
  np.savez(path, x_train=x_train, y_train=np.arange(6, dtype=np.int64),
           x_test=x_test, y_test=np.array([3, 4]))
  for data_dir in (tmp_path, path):
    train, test, names = cifar_files.load_cifar("cifar10", str(data_dir))
    np.testing.assert_array_equal(train.images, x_train)
    np.testing.assert_array_equal(test.images, x_test)
    np.testing.assert_array_equal(train.labels, np.arange(6))
    assert train.labels.dtype == np.int32
    assert names == list(cifar_files.CIFAR10_CLASSES)


def test_missing_data_lists_paths(tmp_path):
  with pytest.raises(FileNotFoundError) as e:
    cifar_files.load_cifar("cifar100", str(tmp_path))
  msg = str(e.value)
  assert str(tmp_path / "cifar-100-python") in msg
  assert str(tmp_path / "cifar100.npz") in msg
  assert "cifar-100-python.tar.gz" in msg and "tfds" in msg


def test_labels_out_of_range(tmp_path):
  _write_cifar10(tmp_path, labels_fn=lambda ids: ids + 5)
  with pytest.raises(ValueError, match="data_batch_2: labels out of range"):
    cifar_files.load_cifar("cifar10", str(tmp_path))


def test_label_count_mismatch_and_missing_key(tmp_path):
  folder = _write_cifar100(tmp_path)
  _dump(folder / "test", {b"data": _chw_batch(0, 3), b"fine_labels": [1]})
  with pytest.raises(ValueError, match="test.*labels for 3 images"):
    cifar_files.load_cifar("cifar100", str(tmp_path))
  _dump(folder / "test", {b"data": _chw_batch(0, 3), b"labels": [1, 2, 3]})
  with pytest.raises(ValueError, match="fine_labels"):
    cifar_files.load_cifar("cifar100", str(tmp_path))


def test_npz_wrong_shape(tmp_path):
  np.savez(tmp_path / "cifar10.npz",
           x_train=np.zeros((2, 3, 32, 32), np.uint8), y_train=[0, 1],
           x_test=np.zeros((1, 32, 32, 3), np.uint8), y_test=[0])
  with pytest.raises(ValueError, match="cifar10.npz.*x_train"):
    cifar_files.load_cifar("cifar10", str(tmp_path))


@pytest.mark.skipif(not os.path.exists(_SHARED_NPZ),
                    reason="shared/data/cifar10.npz not available")
def test_shared_cifar10_npz():
  train, test, names = cifar_files.load_cifar("cifar10", _SHARED_NPZ)
  assert train.images.shape == (50000, 32, 32, 3)
  assert test.images.shape == (10000, 32, 32, 3)
  np.testing.assert_array_equal(np.bincount(train.labels), [5000] * 10)
  np.testing.assert_array_equal(train.labels[:10],
                                [6, 9, 9, 4, 1, 1, 2, 7, 8, 3])
  assert names == list(cifar_files.CIFAR10_CLASSES)
