"""Samplers: their statistics, determinism and disjoint per-process shards."""

import numpy as np
import pytest

from ltjax import data
from ltjax.data import samplers

COUNTS = np.array([400, 200, 100, 50, 25, 25])


def _labels():
  labels = np.repeat(np.arange(len(COUNTS)), COUNTS)
  np.random.RandomState(0).shuffle(labels)
  return labels


def _class_frequencies(kind, epochs=20):
  labels = _labels()
  drawn = np.concatenate([labels[data.epoch_order(labels, kind, 0, e)] for e in range(epochs)])
  return np.bincount(drawn, minlength=len(COUNTS)) / len(drawn)


def test_instance_sampler_is_a_permutation():
  labels = _labels()
  order = data.epoch_order(labels, "instance", 0, 0)
  assert sorted(order.tolist()) == list(range(len(labels)))


@pytest.mark.parametrize("kind,power", [("class_balanced", 0.0), ("sqrt", 0.5)])
def test_class_frequencies_follow_the_power(kind, power):
  expected = COUNTS ** power / np.sum(COUNTS ** power)
  freq = _class_frequencies(kind)
  # 16,000 draws: binomial std <= 0.004; allow 4 sigma.
  np.testing.assert_allclose(freq, expected, atol=0.016)


def test_class_balanced_draws_images_uniformly_within_a_class():
  labels = _labels()
  drawn = np.concatenate([data.epoch_order(labels, "class_balanced", 0, e) for e in range(50)])
  head = drawn[labels[drawn] == 0]
  hits = np.bincount(head, minlength=len(labels))[labels == 0]
  assert hits.min() > 0 and hits.std() / hits.mean() < 0.5  # mean ~ 20 draws per image


def test_deterministic_per_seed_and_epoch():
  labels = _labels()
  for kind in ("instance", "class_balanced", "sqrt"):
    a = data.epoch_order(labels, kind, 3, 7)
    np.testing.assert_array_equal(a, data.epoch_order(labels, kind, 3, 7))
    assert not np.array_equal(a, data.epoch_order(labels, kind, 3, 8))
    assert not np.array_equal(a, data.epoch_order(labels, kind, 4, 7))


def test_process_shards_are_disjoint_and_cover_the_global_batch():
  labels = _labels()
  samplers = [data.IndexSampler(labels, "instance", 0, 64, p, 4) for p in range(4)]
  reference = data.IndexSampler(labels, "instance", 0, 64)
  for step in (0, 5, reference.steps_per_epoch + 2):
    epoch, b = reference.position(step)
    parts = [s.local_indices(epoch, b) for s in samplers]
    assert all(len(p) == 16 for p in parts)
    assert len(set(np.concatenate(parts))) == 64
    np.testing.assert_array_equal(np.concatenate(parts), reference.local_indices(epoch, b))


def test_position_and_errors():
  labels = _labels()
  s = data.IndexSampler(labels, "instance", 0, 100)
  assert s.steps_per_epoch == 8
  assert s.position(17) == (2, 1)
  with pytest.raises(ValueError, match="batch_size"):
    data.IndexSampler(labels[:10], "instance", 0, 100)
  with pytest.raises(ValueError, match="sampler"):
    data.epoch_order(labels, "balanced", 0, 0)


def test_a_per_epoch_pool_caps_auxiliary_classes_and_is_redrawn():
  from ltjax import granularity  # pylint: disable=g-import-not-at-top
  labels = np.repeat(np.arange(4), [40, 5, 100, 30])  # 2 targets, 2 auxiliary classes

  def pool(epoch):
    return granularity.capped_epoch_indices(labels, 2, cap=20, seed=0, epoch=epoch)

  sampler = samplers.IndexSampler(labels, "instance", 0, 5, epoch_pool=pool)
  assert sampler.pool_size == 40 + 5 + 20 + 20 and sampler.steps_per_epoch == 17
  epochs = []
  for e in range(3):
    seen = np.concatenate([sampler.local_indices(e, b) for b in range(17)])
    assert len(np.unique(seen)) == len(seen) == 85  # a permutation of that epoch's pool
    np.testing.assert_array_equal(np.sort(seen), pool(e))
    epochs.append(set(seen[labels[seen] == 2]))
  assert epochs[0] != epochs[1]  # a fresh subset of the big auxiliary class each epoch
  # Two processes split each global batch disjointly.
  p0 = samplers.IndexSampler(labels, "instance", 0, 6, 0, 2, epoch_pool=pool)
  p1 = samplers.IndexSampler(labels, "instance", 0, 6, 1, 2, epoch_pool=pool)
  both = np.concatenate([p0.local_indices(1, 3), p1.local_indices(1, 3)])
  full = samplers.IndexSampler(labels, "instance", 0, 6, epoch_pool=pool).local_indices(1, 3)
  np.testing.assert_array_equal(both, full)
  with pytest.raises(ValueError, match="instance"):
    samplers.IndexSampler(labels, "class_balanced", 0, 5, epoch_pool=pool)


def test_concurrent_calls_across_epochs_get_their_own_epochs_order(monkeypatch):
  """Prefetch threads ask for batches of neighbouring epochs at once: each answer must be its
  epoch's order, never another epoch's (or a half-drawn one)."""
  import concurrent.futures  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  labels = np.repeat(np.arange(10), 200)
  expected = {e: samplers.IndexSampler(labels, "class_balanced", 3, 64).local_indices(e, 5)
              for e in range(6)}
  draw = samplers.epoch_order

  def slow_draw(*args):  # widen the window in which another thread can look at the cache
    time.sleep(0.002)
    return draw(*args)

  monkeypatch.setattr(samplers, "epoch_order", slow_draw)
  shared = samplers.IndexSampler(labels, "class_balanced", 3, 64)
  requests = [e for e in range(6) for _ in range(16)]  # same-epoch calls in flight together
  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    answers = list(pool.map(lambda e: (e, shared.local_indices(e, 5)), requests))
  for epoch, got in answers:
    np.testing.assert_array_equal(got, expected[epoch])
