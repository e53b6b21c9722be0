"""In-memory image splits: the common currency of every ltjax data source."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class ArraySplit:
  """A labelled image split held in host memory.

  Attributes:
    images: (N, H, W, C) uint8 pixels.
    labels: (N,) int32 class ids in [0, num_classes).
  """

  images: np.ndarray
  labels: np.ndarray

  def __post_init__(self):
    if self.images.dtype != np.uint8 or self.images.ndim != 4:
      raise ValueError(
          f"images must be (N, H, W, C) uint8, got {self.images.dtype}"
          f" {self.images.shape}")
    if self.labels.shape != (self.images.shape[0],):
      raise ValueError(
          f"labels shape {self.labels.shape} does not match"
          f" {self.images.shape[0]} images")

  def __len__(self) -> int:
    return int(self.labels.shape[0])

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(self.images.shape[1:])

  def gather(self, indices: np.ndarray) -> np.ndarray:
    """Returns the uint8 images at `indices`, (len(indices), H, W, C)."""
    return self.images[indices]

  def subset(self, indices: np.ndarray) -> "ArraySplit":
    """Returns the split restricted to `indices`, in that order."""
    indices = np.asarray(indices)
    return ArraySplit(self.images[indices], self.labels[indices])
