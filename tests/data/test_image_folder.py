"""Tests for ltjax.data.image_folder."""

import os
import pickle

import numpy as np
from PIL import Image
import pytest

from ltjax.data import image_folder


def _save(path, array, fmt=None):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path, format=fmt)


def _centre_marked(h, w):
  """Blue image whose central 8x8 block is red."""
  img = np.zeros((h, w, 3), np.uint8)
  img[..., 2] = 255
  img[h // 2 - 4:h // 2 + 4, w // 2 - 4:w // 2 + 4] = (255, 0, 0)
  return img


def _write_list(path, lines):
  path.write_text("\n".join(lines) + "\n")
  return str(path)


@pytest.fixture
def dataset(tmp_path):
  root = tmp_path / "root"
  _save(str(root / "train/c0/a.png"), _centre_marked(40, 64))
  _save(str(root / "train/c1/b.jpg"), _centre_marked(50, 30), fmt="JPEG")
  gray = np.full((20, 20), 128, np.uint8)
  _save(str(root / "val/c2/g.png"), gray)
  lst = _write_list(tmp_path / "list.txt", [
      "train/c0/a.png 0", "", "train/c1/b.jpg 1", "val/c2/g.png 2"])
  return str(root), lst


def test_read_split_list(tmp_path):
  lst = _write_list(tmp_path / "l.txt",
                    ["a/x.jpg 3", "", "  b/y z.jpg 10  ", "c.jpg 0"])
  paths, labels = image_folder.read_split_list(lst)
  assert paths == ["a/x.jpg", "b/y z.jpg", "c.jpg"]
  assert labels.dtype == np.int32
  np.testing.assert_array_equal(labels, [3, 10, 0])


@pytest.mark.parametrize("bad,match", [("just_a_path.jpg", ":2: expected"),
                                       ("x.jpg cat", ":2: label 'cat'")])
def test_read_split_list_malformed(tmp_path, bad, match):
  lst = _write_list(tmp_path / "bad.txt", ["ok.jpg 1", bad])
  with pytest.raises(ValueError, match="bad.txt" + match):
    image_folder.read_split_list(lst)


def test_gather_shapes_and_centre_crop(dataset):
  root, lst = dataset
  split = image_folder.ImageFolderSplit(root, lst, image_size=16,
                                        resize_size=20, num_classes=3,
                                        num_threads=2)
  assert len(split) == 3 and split.image_shape == (16, 16, 3)
  np.testing.assert_array_equal(split.labels, [0, 1, 2])
  batch = split.gather(np.array([0, 1, 2, 0]))
  assert batch.shape == (4, 16, 16, 3) and batch.dtype == np.uint8
  for img in batch[:2]:
    # The marked centre survives the resize + crop in the middle...
    np.testing.assert_allclose(img[8, 8], (255, 0, 0), atol=40)
    # ...while the corners are background blue.
    np.testing.assert_allclose(img[0, 0], (0, 0, 255), atol=40)
  np.testing.assert_array_equal(batch[2], 128)  # Grayscale -> RGB.
  np.testing.assert_array_equal(batch[3], batch[0])


def test_crop_geometry_exact(tmp_path):
  # 24x40 (h x w) image; resize shorter side 24 -> 24 is a no-op, so the
  # crop must be columns 12..35 exactly: encode column index in red.
  img = np.zeros((24, 40, 3), np.uint8)
  img[..., 0] = np.arange(40, dtype=np.uint8)[None, :]
  _save(str(tmp_path / "r/x.png"), img)
  lst = _write_list(tmp_path / "l.txt", ["x.png 0"])
  split = image_folder.ImageFolderSplit(str(tmp_path / "r"), lst,
                                        image_size=16, resize_size=24)
  out = split.gather([0])[0]
  np.testing.assert_array_equal(out[0, :, 0], np.arange(12, 28))
  assert out.shape == (16, 16, 3)


def test_default_resize_size(dataset):
  root, lst = dataset
  split = image_folder.ImageFolderSplit(root, lst, image_size=224)
  assert split.resize_size == 256


def test_label_range(dataset):
  root, lst = dataset
  with pytest.raises(ValueError, match=r"list.txt.*\[0, 2\)"):
    image_folder.ImageFolderSplit(root, lst, image_size=8, num_classes=2)


def test_missing_files_and_root(dataset, tmp_path):
  root, _ = dataset
  lst = _write_list(tmp_path / "m.txt", ["train/c0/a.png 0",
                                         "train/c9/gone.jpg 1"])
  with pytest.raises(FileNotFoundError) as e:
    image_folder.ImageFolderSplit(root, lst, image_size=8)
  msg = str(e.value)
  assert root in msg and "m.txt" in msg and "train/c9/gone.jpg" in msg
  assert "expected layout" in msg
  with pytest.raises(FileNotFoundError, match="nowhere.*does not exist"):
    image_folder.ImageFolderSplit(str(tmp_path / "nowhere"), lst, 8)
  # Without checking, construction succeeds and decoding fails instead.
  split = image_folder.ImageFolderSplit(root, lst, 8, check_files=False)
  assert split.gather([0]).shape == (1, 8, 8, 3)
  with pytest.raises(FileNotFoundError):
    split.gather([1])


def test_places_lt_layouts(tmp_path):
  img = _centre_marked(16, 16)
  v2_root = tmp_path / "v2"  # Images stored under data_256/.
  _save(str(v2_root / "data_256/a/abbey/00000001.jpg"), img, fmt="JPEG")
  v1_root = tmp_path / "v1"  # Images stored under train/.
  _save(str(v1_root / "train/a/abbey/00000001.jpg"), img, fmt="JPEG")
  want_v2 = str(v2_root / "data_256/a/abbey/00000001.jpg")
  want_v1 = str(v1_root / "train/a/abbey/00000001.jpg")
  for rel in ("/a/abbey/00000001.jpg", "a/abbey/00000001.jpg",
              "train/a/abbey/00000001.jpg", "data_256/a/abbey/00000001.jpg"):
    assert image_folder.resolve_path(str(v2_root), rel) == want_v2, rel
  for rel in ("/a/abbey/00000001.jpg", "train/a/abbey/00000001.jpg",
              "data_256/a/abbey/00000001.jpg"):
    assert image_folder.resolve_path(str(v1_root), rel) == want_v1, rel
  # Nothing matches: the path as given (so errors name it).
  assert image_folder.resolve_path(str(v2_root), "/b/x.jpg") == str(
      v2_root / "b/x.jpg")
  # A v1 list works on a v2 tree, checked or lazily resolved.
  lst = _write_list(tmp_path / "places.txt", ["/a/abbey/00000001.jpg 0"])
  for check in (True, False):
    split = image_folder.ImageFolderSplit(str(v2_root), lst, 8,
                                          check_files=check)
    assert split.gather([0]).shape == (1, 8, 8, 3)


def test_subset_and_pickle(dataset):
  root, lst = dataset
  split = image_folder.ImageFolderSplit(root, lst, image_size=16,
                                        resize_size=20)
  sub = split.subset(np.array([2, 0]))
  assert len(sub) == 2 and sub.paths == [split.paths[2], split.paths[0]]
  np.testing.assert_array_equal(sub.labels, [2, 0])
  np.testing.assert_array_equal(sub.gather([1]), split.gather([0]))
  clone = pickle.loads(pickle.dumps(split))  # Executor is not carried.
  np.testing.assert_array_equal(clone.gather([1]), split.gather([1]))


def test_a_damaged_image_names_its_file_and_list(dataset):
  root, lst = dataset
  jpeg = os.path.join(root, "train/c1/b.jpg")
  with open(jpeg, "rb") as f:
    head = f.read(40)
  with open(jpeg, "wb") as f:
    f.write(head)  # a truncated JPEG, as an interrupted copy leaves it
  split = image_folder.ImageFolderSplit(root, lst, image_size=8, num_classes=3)
  assert split.gather([0]).shape == (1, 8, 8, 3)
  with pytest.raises(ValueError, match=r"train/c1/b\.jpg \(listed in .*list\.txt\) cannot be "
                     r"decoded as an image .*replace the file or remove its line from the list"):
    split.gather([1])
