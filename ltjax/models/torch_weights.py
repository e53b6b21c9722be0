"""ltjax <-> PyTorch weights for the official code's models: the state_dict name and layout of
every ltjax variable, both ways (numpy only; no torch needed).

    entries = torch_weights.image_entries(variables)            # LDAM-DRW / RIDE ResNet_s
    state_dict = torch_weights.to_torch_layout(variables, entries)
    variables = torch_weights.from_torch_layout(torch_state, entries, variables)

Loads an official checkpoint into ltjax (`torch.load(...)["state_dict"]` as numpy arrays) or
hands ltjax's weights to the official model (`experiments/lockstep.py` runs both from the same
weights). Convolutions are (kh, kw, in, out) in Flax and (out, in, kh, kw) in torch; dense
kernels are (in, out) and torch's weights (out, in).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

@dataclasses.dataclass(frozen=True)
class Entry:
  """One reference tensor and where it lives in ltjax's variables."""
  name: str  # the reference's state_dict key
  collection: str  # "params" or "batch_stats"
  keys: tuple  # path inside the collection
  expert: int | None = None  # index along ltjax's stacked expert axis
  layout: str = ""  # "conv": (kh, kw, in, out) <-> (out, in, kh, kw); "T": transposed matrix

  @property
  def ltjax_path(self) -> str:
    return (self.collection + "/" + "/".join(self.keys)
            + ("" if self.expert is None else f"[{self.expert}]"))


_LEAF = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean",
         "var": "running_var"}


def image_entries(variables) -> list[Entry]:
  """Entries of ltjax's CifarResNet / multi-expert RideCifarResNet for the official
  `ResNet_s` of LDAM-DRW and RIDE: `layer{L}_{i}` -> `layer{L}.{i}` (experts:
  `layer{L}s.{e}.{i}`), `head` -> `linear` (one head) / `linears.{e}` (experts),
  kernel/scale -> weight, mean/var -> running_mean/var."""
  entries = []
  for collection in ("params", "batch_stats"):
    for path, leaf in jax.tree_util.tree_leaves_with_path(variables[collection]):
      keys = tuple(str(p.key) for p in path)
      experts = range(leaf.shape[0]) if keys[0] == "experts" else [None]
      for e in experts:
        parts = []
        for k in (keys[1:-1] if e is not None else keys[:-1]):
          if k.startswith("layer") and "_" in k:
            layer, index = k[len("layer"):].split("_")
            parts.append(f"layer{layer}s.{e}.{index}" if e is not None
                         else f"layer{layer}.{index}")
          elif k == "head":
            parts.append("linear" if e is None else f"linears.{e}")
          else:
            parts.append(k)
        ndim = leaf.ndim - (0 if e is None else 1)
        entries.append(Entry(".".join(parts) + "." + _LEAF[keys[-1]], collection, keys, e,
                             "conv" if ndim == 4 else ""))
  return entries


def flow_entries(num_blocks: int) -> list[Entry]:
  """Entries of ltjax's MAF for silicx/DLSA's FlowGMM (`nf.net.<2b>` MADE b, `<2b+1>` its BN;
  MaskedLinear weights are (out, in), ltjax kernels (in, out))."""
  entries = []
  dense = {"dense_in": "net_input", "dense_hidden": "net.1", "dense_out": "net.3"}
  for b in range(num_blocks):
    for ours, theirs in dense.items():
      base = f"nf.net.{2 * b}.{theirs}"
      entries.append(Entry(base + ".weight", "params", (f"blocks_{b}", ours, "kernel"),
                           layout="T"))
      entries.append(Entry(base + ".bias", "params", (f"blocks_{b}", ours, "bias")))
    for ours, theirs, collection in (("log_gamma", "log_gamma", "params"),
                                     ("beta", "beta", "params"),
                                     ("mean", "running_mean", "batch_stats"),
                                     ("var", "running_var", "batch_stats")):
      entries.append(Entry(f"nf.net.{2 * b + 1}.{theirs}", collection, (f"norms_{b}", ours)))
  return entries


def _get(tree, keys):
  for k in keys:
    tree = tree[k]
  return tree


def to_torch_layout(variables, entries) -> dict:
  """{reference name: numpy array in the reference's layout} from ltjax variables."""
  out = {}
  for e in entries:
    value = np.asarray(_get(variables[e.collection], e.keys))
    if e.expert is not None:
      value = value[e.expert]
    if e.layout == "conv":
      value = np.transpose(value, (3, 2, 0, 1))
    elif e.layout == "T":
      value = value.T
    out[e.name] = np.ascontiguousarray(value)
  return out


def from_torch_layout(state: dict, entries, template: dict, collections=("params",
                                                                         "batch_stats")):
  """ltjax variables (numpy, same structure as `template`) holding the reference's `state`;
  entries of other collections are skipped."""
  out = jax.tree.map(lambda x: np.array(x, np.float32), {c: template[c] for c in collections})
  for e in entries:
    if e.collection not in collections or e.name not in state:
      continue
    value = np.asarray(state[e.name], np.float32)
    if e.layout == "conv":
      value = np.transpose(value, (2, 3, 1, 0))
    elif e.layout == "T":
      value = value.T
    parent = _get(out[e.collection], e.keys[:-1])
    if e.expert is None:
      parent[e.keys[-1]] = value
    else:
      parent[e.keys[-1]][e.expert] = value
  return out
