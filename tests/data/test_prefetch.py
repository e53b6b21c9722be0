"""Worker-decoded host batches: the sampler's exact stream, with or without workers."""

import numpy as np
import pytest

from ltjax.data import image_folder
from ltjax.data import prefetch
from ltjax.data import samplers
from tests.conftest import write_fake_image_folder


@pytest.fixture(scope="module")
def folder_split(tmp_path_factory):
  root = write_fake_image_folder(str(tmp_path_factory.mktemp("folder")))
  return image_folder.ImageFolderSplit(root, f"{root}/ImageNet_LT_train.txt", image_size=16)


def _expected(split, sampler, start, total):
  out = []
  for step in range(start, total):
    idx = sampler.local_indices(*sampler.position(step))
    out.append((split.gather(idx), split.labels[idx]))
  return out


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_follow_the_sampler_across_epochs_and_from_a_resume_point(folder_split, workers):
  sampler = samplers.IndexSampler(folder_split.labels, "instance", 1, 4)
  assert sampler.steps_per_epoch == 5
  start, total = 3, 12  # starts mid-epoch 0, crosses two epoch ends
  got = list(prefetch.host_batches(folder_split, sampler, start, total, num_workers=workers))
  want = _expected(folder_split, sampler, start, total)
  assert len(got) == len(want) == total - start
  for (images, labels), (want_images, want_labels) in zip(got, want):
    assert images.dtype == np.uint8 and images.shape == (4, 16, 16, 3)
    np.testing.assert_array_equal(images, want_images)
    np.testing.assert_array_equal(labels, want_labels)
