"""`config.aux`: category extrapolation's section of the config, with its defaults."""

from __future__ import annotations

import ml_collections

from ltjax.config import checks


def section() -> ml_collections.ConfigDict:
  """The `aux` section (off while `source` is "")."""
  c = ml_collections.ConfigDict()
  # Auxiliary neighbour classes (category extrapolation, ltjax.granularity): off when source
  # is "". Needs loss.name = "neighbor_silencing". See ltjax/granularity/auxiliary.py.
  c.source = ""  # "" | "arrays" | "image_folder" | "dataset_classes"
  c.path = ""  # .npz (arrays) or a `path label` list file (image_folder), under data_dir
  c.names_file = ""  # image_folder: auxiliary class names, one per line, in label order
  c.classes = ()  # dataset_classes: names of the dataset's classes that become auxiliary
  c.parents_file = ""  # JSON {aux name: [target names]}; empty = mine from the names
  c.mining_k = 8  # mine_neighbors: at most k auxiliary neighbours per target (official 8)
  c.min_similarity = 0.5  # cosine of MiniLM name embeddings (ltjax.granularity.mining)
  # "minilm": the class names' text embeddings (the `mining` extra); "pixel_prototypes": the
  # classes' mean images (for names without meaning, e.g. digits)
  c.mining_embedder = "minilm"
  c.shuffle_parents = False  # control: targets' neighbour rows permuted (a derangement)
  c.shuffle_seed = 0
  c.cap = 50  # images per auxiliary class and epoch, redrawn every epoch
  c.cap_replace = False  # draw the cap with replacement (the official iNaturalist code)
  c.limit_per_class = 0  # keep only the first n images of each auxiliary class (0 = all)
  c.silencing = "neighbors_and_aux"  # "none" | "neighbors" | "neighbors_and_aux"
  # Image-level filter (ltjax.granularity.filtering): keep an auxiliary image when its cosine
  # similarity to a parent's prototype lies in [filter_low, filter_high]. Features from a
  # finished run's model (filter_workdir) or a user's .npz (filter_features); off when both
  # are empty. Defaults: the paper's DINOv2 thresholds (secondary sources).
  c.filter_workdir = ""
  c.filter_features = ""
  c.filter_low = 0.7
  c.filter_high = 0.98
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key and the fix for a bad `config.aux` (and its loss)."""
  ac = config.aux
  checks.choice(ac.source, ("", "arrays", "image_folder", "dataset_classes"), "aux.source")
  checks.choice(ac.silencing, ("none", "neighbors", "neighbors_and_aux"), "aux.silencing")
  checks.choice(ac.mining_embedder, ("minilm", "pixel_prototypes"), "aux.mining_embedder")
  if config.dataset.exclude_classes and ac.source == "dataset_classes":
    raise ValueError("set either dataset.exclude_classes or aux.classes with "
                     "aux.source='dataset_classes', not both")
  if not ac.source:
    return
  if config.loss.name != "neighbor_silencing":
    raise ValueError("auxiliary classes (aux.source set) train with "
                     "loss.name='neighbor_silencing' (aux.silencing='none' for no silencing), "
                     f"not {config.loss.name!r}")
  if ac.cap < 1:
    raise ValueError(f"config.aux.cap must be >= 1, got {ac.cap}")
  if config.sampler != "instance":
    raise ValueError("with auxiliary classes the sampler is 'instance' (the official code "
                     "samples uniformly; the prior balances): set sampler='instance'")
  if ac.source == "dataset_classes" and not ac.classes:
    raise ValueError("aux.source='dataset_classes' needs aux.classes: the names of the "
                     "dataset's classes that become auxiliary")
  if ac.source in ("arrays", "image_folder") and not ac.path:
    raise ValueError(f"aux.source={ac.source!r} needs aux.path")
  if ac.source == "image_folder" and not ac.names_file:
    raise ValueError("aux.source='image_folder' needs aux.names_file (one name per line)")
