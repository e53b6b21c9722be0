"""The auxiliary set: moving classes out of a dataset, tables from a file / mined / shuffled,
the pixel-prototype embedder, concatenated splits and the dataset integration."""

import json

import numpy as np
import pytest

from ltjax import config as config_lib
from ltjax.data import arrays
from ltjax.data import class_split
from ltjax.granularity import auxiliary
from ltjax.granularity import recipes as granularity_recipes
from ltjax.train import setup as setup_lib


def _split(labels, size=4):
  labels = np.asarray(labels, np.int32)
  images = (labels[:, None, None, None] * 10 + np.zeros((1, size, size, 1))).astype(np.uint8)
  return arrays.ArraySplit(images, labels)


def test_move_classes_relabels_targets_in_order_and_aux_in_given_order():
  split = _split([0, 1, 2, 3, 4, 2, 4])
  targets, aux, names = class_split.move_classes_to_auxiliary(split, list("abcde"), ["e", "b"])
  assert names == ["a", "c", "d"]
  assert targets.labels.tolist() == [0, 1, 2, 1]  # a, c, d, c
  assert targets.images[:, 0, 0, 0].tolist() == [0, 20, 30, 20]
  assert aux.labels.tolist() == [1, 0, 0]  # b -> 1, e -> 0 (aux_names order)
  assert aux.images[:, 0, 0, 0].tolist() == [10, 40, 40]
  with pytest.raises(ValueError, match="not classes of the dataset"):
    class_split.move_classes_to_auxiliary(split, list("abcde"), ["z"])


def test_parents_file_gives_the_neighbor_table_by_name(tmp_path):
  path = tmp_path / "parents.json"
  # Two targets, three auxiliary classes; "x" has two parents, "y" none listed, target 1 none.
  path.write_text(json.dumps({"x": ["t0", "t1"], "z": ["t0"]}))
  table = auxiliary.table_from_parents_file(str(path), ["t0", "t1", "t2"], ["x", "y", "z"])
  assert table.source == "file"
  rows = [sorted(int(a) for a in r if a >= 0) for r in table.neighbors]
  assert rows == [[3, 5], [3], []]
  assert table.named(["t0", "t1", "t2"], ["x", "y", "z"]) == {"t0": ["x", "z"], "t1": ["x"],
                                                              "t2": []}
  path.write_text(json.dumps({"x": ["nope"]}))
  with pytest.raises(ValueError, match="not target classes"):
    auxiliary.table_from_parents_file(str(path), ["t0", "t1", "t2"], ["x", "y", "z"])
  with pytest.raises(FileNotFoundError, match="aux.parents_file"):
    auxiliary.table_from_parents_file(str(tmp_path / "missing.json"), ["t0"], ["x"])


def test_shuffled_table_is_a_derangement_of_the_rows():
  neighbors = np.array([[5, -1], [6, 7], [8, -1], [9, -1], [-1, -1]], np.int32)
  table = auxiliary.AuxiliaryTable(neighbors, "mined")
  for seed in range(20):
    shuffled = auxiliary.shuffled_table(table, seed)
    assert shuffled.source == "shuffled (mined)"
    assert sorted(map(tuple, shuffled.neighbors.tolist())) == sorted(map(tuple,
                                                                         neighbors.tolist()))
    for i in range(4):  # every non-empty row moved to another target
      assert not np.array_equal(shuffled.neighbors[i], neighbors[i]) or \
          (neighbors[i] < 0).all()
  np.testing.assert_array_equal(auxiliary.shuffled_table(table, 3).neighbors,
                                auxiliary.shuffled_table(table, 3).neighbors)


def test_pixel_prototype_embedder_pairs_look_alike_classes():
  rng = np.random.default_rng(0)
  base = rng.integers(0, 255, (3, 6, 6, 1))
  # Auxiliary class j is a noisy copy of target (2 - j).
  t_imgs = np.concatenate([np.repeat(base[i:i + 1], 5, 0) for i in range(3)])
  a_imgs = np.concatenate([np.repeat(base[2 - j:3 - j], 5, 0) for j in range(3)])
  noise = lambda x: np.clip(x + rng.integers(-10, 10, x.shape), 0, 255).astype(np.uint8)
  targets = arrays.ArraySplit(noise(t_imgs), np.repeat(np.arange(3), 5).astype(np.int32))
  aux = arrays.ArraySplit(noise(a_imgs), np.repeat(np.arange(3), 5).astype(np.int32))
  embed = auxiliary.pixel_prototype_embedder([(["a", "b", "c"], targets),
                                              (["x", "y", "z"], aux)])
  sim = embed(["a", "b", "c"]) @ embed(["x", "y", "z"]).T
  assert np.argmax(sim, axis=1).tolist() == [2, 1, 0]
  np.testing.assert_allclose(np.linalg.norm(embed(["a"]), axis=1), 1.0, rtol=1e-6)


def test_concat_split_gathers_from_both_parts_in_order():
  a, b = _split([0, 1]), _split([0, 1, 1])
  cat = auxiliary.ConcatSplit(a, b, np.array([2, 3, 3]))
  assert cat.labels.tolist() == [0, 1, 2, 3, 3] and len(cat) == 5
  assert cat.gather(np.array([4, 0, 2]))[:, 0, 0, 0].tolist() == [10, 0, 0]
  with pytest.raises(ValueError, match="auxiliary images are"):
    auxiliary.ConcatSplit(a, _split([0], size=5), np.array([2]))


def _digits_config(variant, **aux):
  c = config_lib.digits_lt_recipe()
  granularity_recipes.extrapolation_demo(c, ("5", "6", "7", "8", "9"), variant)
  c.aux.mining_embedder = "pixel_prototypes"
  c.aux.mining_k = 1
  c.aux.min_similarity = -1.0
  for k, v in aux.items():
    c.aux[k] = v
  return c


def test_digits_with_auxiliary_classes_keeps_the_same_targets_in_every_variant():
  plain = setup_lib.build_splits(_digits_config("targets"))
  silenced = setup_lib.build_splits(_digits_config("aux_silenced", cap=30))
  assert plain.num_classes == plain.num_targets == 5 and plain.auxiliary is None
  assert silenced.num_targets == 5 and silenced.num_classes == 10
  assert silenced.class_names == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
  # The target part of the training set, val and test are identical with and without aux.
  n = len(plain.train)
  np.testing.assert_array_equal(silenced.train.labels[:n], plain.train.labels)
  np.testing.assert_array_equal(silenced.train.gather(np.arange(n)), plain.train.images)
  np.testing.assert_array_equal(silenced.test.labels, plain.test.labels)
  assert plain.target_counts.tolist() == [120, 56, 26, 12, 6]
  assert silenced.target_counts.tolist() == plain.target_counts.tolist()
  aux_counts = silenced.class_counts[5:]
  assert (aux_counts > 170).all()  # every image of digits 5..9
  info = silenced.auxiliary
  assert info["num_classes"] == 5 and info["images_total"] == int(aux_counts.sum())
  assert info["images_per_epoch"] == 5 * 30 and info["links"] == 5
  assert info["silencing"] == "neighbors_and_aux" and info["table_source"] == "mined"
  assert silenced.extras["neighbors"].shape == (5, 1) and set(silenced.extras["neighbors"][:, 0]) <= set(range(5,
                                                                                           10))
  assert set(info["neighbors"]) == {"0", "1", "2", "3", "4"}
  assert int(np.asarray(silenced.test.labels).max()) == 4
  shuffled = setup_lib.build_splits(_digits_config("aux_shuffled", cap=30))
  assert shuffled.auxiliary["table_source"] == "shuffled (mined)"
  assert sorted(shuffled.extras["neighbors"][:, 0]) == sorted(silenced.extras["neighbors"][:, 0])
  assert (shuffled.extras["neighbors"][:, 0] != silenced.extras["neighbors"][:, 0]).all()


def test_auxiliary_arrays_source_and_its_errors(tmp_path):
  rng = np.random.default_rng(0)
  path = tmp_path / "aux.npz"
  np.savez(path, images=rng.integers(0, 255, (12, 8, 8, 1)).astype(np.uint8),
           labels=np.repeat(np.arange(3), 4), class_names=np.array(["p", "q", "r"]))
  (tmp_path / "parents.json").write_text(json.dumps({"p": ["0"], "q": ["0", "3"]}))
  c = config_lib.digits_lt_recipe()
  c.loss.name = "neighbor_silencing"
  c.aux.source, c.aux.path, c.aux.parents_file = "arrays", str(path), str(
      tmp_path / "parents.json")
  splits = setup_lib.build_splits(c)
  assert splits.num_targets == 10 and splits.num_classes == 13
  assert splits.class_counts[10:].tolist() == [4, 4, 4]
  assert splits.auxiliary["table_source"] == "file"
  assert splits.auxiliary["neighbors"]["0"] == ["p", "q"]
  assert splits.auxiliary["neighbors"]["3"] == ["q"]
  np.savez(path, images=np.zeros((2, 8, 8, 1), np.uint8), labels=np.array([0, 5]),
           class_names=np.array(["p", "q"]))
  with pytest.raises(ValueError, match="labels must be 0 .. 1"):
    setup_lib.build_splits(c)
  c.aux.path = str(tmp_path / "none.npz")
  with pytest.raises(FileNotFoundError, match="aux.path"):
    setup_lib.build_splits(c)


def test_config_errors_name_the_fix():
  c = _digits_config("aux_silenced")
  c.loss.name = "ce"
  with pytest.raises(ValueError, match="neighbor_silencing"):
    config_lib.validate(c)
  c = _digits_config("aux_silenced")
  c.sampler = "class_balanced"
  with pytest.raises(ValueError, match="sampler='instance'"):
    config_lib.validate(c)
  c = _digits_config("aux_silenced")
  c.aux.silencing = "all"
  with pytest.raises(ValueError, match="aux.silencing"):
    config_lib.validate(c)


def test_an_auxiliary_class_no_target_lists_is_counted_and_capped_like_the_rest():
  # Targets "a", "b" both list auxiliary "x" (id 2); "y" (id 3) is nobody's neighbour.
  table = auxiliary.AuxiliaryTable(np.array([[2], [2]], np.int32), "mined")
  labels = np.repeat([0, 1], [200, 80])  # 200 images of x, 80 of y
  info = auxiliary.describe(table, ["a", "b"], ["x", "y"], labels, cap=50, keep_all_up_to=100)
  assert info["unlisted_classes"] == 1
  assert info["images_per_epoch"] == 50 + 80  # y kept whole by the count rule, not by omission
  info = auxiliary.describe(table, ["a", "b"], ["x", "y"], labels, cap=50, keep_all_up_to=0)
  assert info["images_per_epoch"] == 50 + 50
