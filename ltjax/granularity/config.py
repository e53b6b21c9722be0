"""`config.aux`: category extrapolation's section of the config, with its defaults and rules."""

from __future__ import annotations

import ml_collections

from ltjax.core import rules
from ltjax.core.rules import Key

SOURCES = ("", "arrays", "image_folder", "dataset_classes")
# Cosine similarities.
_COSINE = rules.Number(lo=-1, hi=1)


def section() -> dict:
  """The `aux` section (off while `source` is "")."""
  return {
      # Auxiliary neighbour classes (category extrapolation, ltjax.granularity): off when
      # source is "". Needs loss.name = "neighbor_silencing". See
      # ltjax/granularity/auxiliary.py.
      "source": Key("", rules.Choice(SOURCES)),
      # .npz (arrays) or a `path label` list file (image_folder), under data_dir
      "path": Key("", rules.Text()),
      # image_folder: auxiliary class names, one per line, in label order
      "names_file": Key("", rules.Text()),
      # dataset_classes: names of the dataset's classes that become auxiliary
      "classes": Key((), rules.Items(rules.Text(nonempty=True))),
      # JSON {aux name: [target names]}; empty = mine from the names
      "parents_file": Key("", rules.Text()),
      # mine_neighbors: at most k auxiliary neighbours per target (official 8)
      "mining_k": Key(8, rules.COUNT),
      # cosine of MiniLM name embeddings (ltjax.granularity.mining)
      "min_similarity": Key(0.5, _COSINE),
      # "minilm": the class names' text embeddings (the `mining` extra); "pixel_prototypes":
      # the classes' mean images (for names without meaning, e.g. digits)
      "mining_embedder": Key("minilm", rules.Choice(("minilm", "pixel_prototypes"))),
      # control: targets' neighbour rows permuted (a derangement)
      "shuffle_parents": Key(False, rules.Flag()),
      "shuffle_seed": Key(0, rules.SEED),
      # images per epoch of a capped auxiliary class, redrawn every epoch
      "cap": Key(50, rules.COUNT),
      # an auxiliary class with at most this many images keeps them all (the official
      # rule: 21-100 images are kept whole; 0 caps every class above `cap`;
      # ltjax.granularity.sampling)
      "keep_all_up_to": Key(100, rules.NON_NEGATIVE_INT),
      # draw the cap with replacement (the official iNaturalist code)
      "cap_replace": Key(False, rules.Flag()),
      # keep only the first n images of each auxiliary class (0 = all)
      "limit_per_class": Key(0, rules.NON_NEGATIVE_INT),
      "silencing": Key("neighbors_and_aux",
                       rules.Choice(("none", "neighbors", "neighbors_and_aux"))),
      # Image-level filter (ltjax.granularity.filtering): keep an auxiliary image when its
      # cosine similarity to a parent's prototype lies in [filter_low, filter_high]. Features
      # from a finished run's model (filter_workdir) or a user's .npz (filter_features); off
      # when both are empty. Defaults: the paper's DINOv2 thresholds (secondary sources).
      "filter_workdir": Key("", rules.Text()),
      "filter_features": Key("", rules.Text()),
      "filter_low": Key(0.7, _COSINE),
      "filter_high": Key(0.98, _COSINE),
  }


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the keys and the fix for a bad combination in `config.aux`
  (each key's own rule is checked before)."""
  ac = config.aux
  if config.dataset.exclude_classes and ac.source == "dataset_classes":
    raise ValueError("set either dataset.exclude_classes or aux.classes with "
                     "aux.source='dataset_classes', not both")
  if ac.filter_low > ac.filter_high:
    raise ValueError(f"config.aux.filter_low ({ac.filter_low}) must not exceed "
                     f"config.aux.filter_high ({ac.filter_high})")
  if not ac.source:
    return
  if config.loss.name != "neighbor_silencing":
    raise ValueError("auxiliary classes (aux.source set) train with "
                     "loss.name='neighbor_silencing' (aux.silencing='none' for no silencing), "
                     f"not {config.loss.name!r}")
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
