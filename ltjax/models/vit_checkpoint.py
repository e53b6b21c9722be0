"""Loading a pretrained ViT backbone from a user's `.npz` into ltjax's ViT, and exporting one.

Two layouts of flat `.npz` files are read (chosen by their keys, or `layout=`):

- "big_vision": the Google ViT / big_vision Flax names (`embedding/kernel`, `cls`,
  `Transformer/posembed_input/pos_embedding` or `pos_embedding`,
  `Transformer/encoderblock_{i}/LayerNorm_0`, `MultiHeadDotProductAttention_{0|1}/{query,key,
  value,out}`, `LayerNorm_{1|2}`, `MlpBlock_{0|3}/Dense_{0,1}`, `Transformer/encoder_norm`,
  `head`), e.g. the augreg `.npz` releases; arrays already in Flax shapes;
- "timm": a timm / PyTorch state dict saved as `np.savez(path, **{k: v.numpy()})`
  (`patch_embed.proj.weight`, `cls_token`, `pos_embed`, `norm_pre.*` (CLIP),
  `blocks.{i}.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, ls2.gamma, mlp.fc1, mlp.fc2}`,
  `norm.*`, `head.*`): MAE / LiVT, DINOv2 and OpenAI CLIP towers as timm names them. Torch
  Linear weights (out, in) are transposed, the conv OIHW -> HWIO, and the fused qkv split into
  query / key / value heads.

The head (and MAE's `fc_norm`) is re-initialised (a fine-tuning run has its own classes, and
MAE fine-tuning starts its global-pool norm afresh) unless `keep_head=True` and the shapes
match. A different position grid (e.g. a 518 px DINOv2 or 384 px checkpoint into a
224 px model) is resized bilinearly, the [CLS] position kept.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any

from absl import logging
import flax
import jax
import numpy as np

LAYOUTS = ("auto", "big_vision", "timm")
# Checkpoint entries with no counterpart in ltjax's ViT (MAE decoder, DINOv2 mask token).
_IGNORED = re.compile(r"^(mask_token|decoder_.*|head_drop.*)$")
# Initialised afresh by fine-tuning, like the head (MAE's global-pool `fc_norm`).
_FRESH = ("head/", "fc_norm/")


def _flat_params(params: Any) -> dict[str, np.ndarray]:
  return {"/".join(k): v for k, v in flax.traverse_util.flatten_dict(
      flax.core.unfreeze(params)).items()}


def _detect(keys) -> str:
  if any(k.startswith("blocks.") or k == "patch_embed.proj.weight" for k in keys):
    return "timm"
  if any(k.startswith("Transformer/") or k.startswith("embedding/") for k in keys):
    return "big_vision"
  raise ValueError(f"cannot tell the checkpoint's layout from its keys (e.g. "
                   f"{sorted(keys)[:6]}); it must be a big_vision or timm ViT .npz "
                   "(ltjax.models.vit_checkpoint)")


_BV_BLOCK = re.compile(r"^Transformer/encoderblock_(\d+)/(.+)$")
_BV_INNER = [
    (re.compile(r"^LayerNorm_0/(scale|bias)$"), "norm1/{0}"),
    (re.compile(r"^LayerNorm_[12]/(scale|bias)$"), "norm2/{0}"),
    (re.compile(r"^MultiHeadDotProductAttention_[01]/(query|key|value|out)/(kernel|bias)$"),
     "attn/{0}/{1}"),
    (re.compile(r"^MlpBlock_[03]/Dense_0/(kernel|bias)$"), "mlp_fc1/{0}"),
    (re.compile(r"^MlpBlock_[03]/Dense_1/(kernel|bias)$"), "mlp_fc2/{0}"),
]
_BV_TOP = {"embedding/kernel": "patch_embed/kernel", "embedding/bias": "patch_embed/bias",
           "cls": "cls_token", "Transformer/posembed_input/pos_embedding": "pos_embed",
           "pos_embedding": "pos_embed", "Transformer/encoder_norm/scale": "norm/scale",
           "Transformer/encoder_norm/bias": "norm/bias", "head/kernel": "head/kernel",
           "head/bias": "head/bias"}


def _from_big_vision(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list]:
  out, unused = {}, []
  for key, value in arrays.items():
    if key in _BV_TOP:
      out[_BV_TOP[key]] = value
      continue
    m = _BV_BLOCK.match(key)
    target = None
    if m:
      for pattern, template in _BV_INNER:
        inner = pattern.match(m.group(2))
        if inner:
          target = f"block{m.group(1)}/" + template.format(*inner.groups())
    if target is None:
      unused.append(key)
    else:
      out[target] = value
  return out, unused


_TIMM_BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)$")


def _from_timm(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list]:
  out, unused = {}, []
  top = {"cls_token": "cls_token", "pos_embed": "pos_embed", "norm.weight": "norm/scale",
         "norm.bias": "norm/bias", "norm_pre.weight": "norm_pre/scale",
         "norm_pre.bias": "norm_pre/bias", "patch_embed.proj.bias": "patch_embed/bias",
         "head.bias": "head/bias", "fc_norm.weight": "fc_norm/scale",
         "fc_norm.bias": "fc_norm/bias"}
  for key, value in arrays.items():
    value = np.asarray(value)
    if key in top:
      out[top[key]] = value
    elif key == "patch_embed.proj.weight":
      out["patch_embed/kernel"] = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    elif key == "head.weight":
      out["head/kernel"] = value.T
    elif (m := _TIMM_BLOCK.match(key)) is not None:
      b, name = f"block{m.group(1)}", m.group(2)
      if name in ("norm1.weight", "norm2.weight"):
        out[f"{b}/{name[:5]}/scale"] = value
      elif name in ("norm1.bias", "norm2.bias"):
        out[f"{b}/{name[:5]}/bias"] = value
      elif name in ("ls1.gamma", "ls2.gamma"):
        out[f"{b}/{name[:3]}"] = value
      elif name in ("mlp.fc1.weight", "mlp.fc2.weight"):
        out[f"{b}/mlp_{name[4:7]}/kernel"] = value.T
      elif name in ("mlp.fc1.bias", "mlp.fc2.bias"):
        out[f"{b}/mlp_{name[4:7]}/bias"] = value
      elif name in ("attn.qkv.weight", "attn.qkv.bias"):
        out.update(_split_qkv(b, name.endswith("weight"), value, arrays))
      elif name == "attn.proj.weight":
        out[f"{b}/attn/out/kernel"] = value.T  # reshaped to (H, hd, D) once H is known
      elif name == "attn.proj.bias":
        out[f"{b}/attn/out/bias"] = value
      else:
        unused.append(key)
    else:
      unused.append(key)
  return out, unused


def _split_qkv(block: str, is_weight: bool, value: np.ndarray, arrays) -> dict[str, Any]:
  """Splits timm's fused [q; k; v] rows; heads are reshaped later against the model."""
  del arrays
  parts = np.split(value, 3, axis=0)
  suffix = "kernel" if is_weight else "bias"
  return {f"{block}/attn/{n}/{suffix}": (p.T if is_weight else p)
          for n, p in zip(("query", "key", "value"), parts)}


def _resize_pos_embed(value: np.ndarray, shape: tuple[int, ...], key: str) -> np.ndarray:
  """(1, 1 + g0^2, D) -> (1, 1 + g^2, D): bilinear on the patch grid, [CLS] position kept."""
  n0, n = value.shape[1] - 1, shape[1] - 1
  g0, g = int(round(np.sqrt(n0))), int(round(np.sqrt(n)))
  if g0 * g0 != n0 or g * g != n or value.shape[2] != shape[2]:
    raise ValueError(f"{key}: cannot resize a {value.shape} position embedding to {shape} "
                     "(square grids with a [CLS] token and equal width only)")
  grid = value[0, 1:].reshape(g0, g0, -1)
  resized = jax.image.resize(grid, (g, g, grid.shape[-1]), "bilinear")
  return np.concatenate([value[:, :1], np.asarray(resized).reshape(1, n, -1)], axis=1)


def _fit(key: str, value: np.ndarray, target: np.ndarray) -> np.ndarray:
  """Brings a converted array to the model's shape (attention heads, position grid)."""
  value = np.asarray(value)
  shape = tuple(target.shape)
  if value.shape == shape:
    return value
  if key == "pos_embed" and value.ndim == 3:
    return _resize_pos_embed(value, shape, key)
  if value.size == int(np.prod(shape)) and "/attn/" in key:
    return value.reshape(shape)  # (D, H*hd) -> (D, H, hd) and friends, row-major
  raise ValueError(f"checkpoint entry for {key} has shape {value.shape} but the model's is "
                   f"{shape}: the checkpoint is for another ViT size or patch size; pick the "
                   "matching model.name (vit_b16, vit_b14_dinov2, vit_b16_clip)")


def load_pretrained(path: str, params: Any, *, layout: str = "auto",
                    keep_head: bool = False) -> Any:
  """`params` with every backbone weight taken from the checkpoint at `path`.

  Args:
    path: a `.npz` in the big_vision or timm layout (module docstring).
    params: the model's initialised params (they fix the shapes); not modified.
    layout: "auto", "big_vision" or "timm".
    keep_head: also load the head when its shape matches (evaluation of a fine-tuned model).

  Returns:
    A new params tree of the same structure.
  """
  if layout not in LAYOUTS:
    raise ValueError(f"unknown checkpoint layout {layout!r}; choose one of {LAYOUTS}")
  if not os.path.exists(path):
    raise FileNotFoundError(f"ViT checkpoint {path!r} does not exist")
  with np.load(path, allow_pickle=False) as f:
    arrays = {k[len("params/"):] if k.startswith("params/") else k: f[k] for k in f.files}
  layout = _detect(arrays) if layout == "auto" else layout
  converted, unused = (_from_timm if layout == "timm" else _from_big_vision)(arrays)
  unused = [k for k in unused if not _IGNORED.match(k)]
  flat = _flat_params(params)
  out = {}
  for key, target in flat.items():
    is_head = key.startswith(_FRESH)
    if is_head and not (keep_head and key in converted and
                        np.shape(converted[key]) == np.shape(target)):
      out[key] = np.asarray(target)
      continue
    if key not in converted:
      raise ValueError(f"the {layout} checkpoint {path} has no entry for the model's {key} "
                       f"(shape {tuple(np.shape(target))}); is it a ViT of the same kind "
                       "(LayerScale and norm_pre exist only in vit_b14_dinov2 / vit_b16_clip)?")
    out[key] = _fit(key, converted[key], target).astype(np.asarray(target).dtype)
  if unused:
    logging.info("checkpoint entries not used by the model: %s", unused[:20])
  return flax.traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in out.items()})


def save_big_vision_npz(path: str, params: Any) -> None:
  """Writes ltjax ViT params as a big_vision-layout `.npz` (atomically: temp file + rename)."""
  flat = {k: np.asarray(v) for k, v in _flat_params(jax.device_get(params)).items()}
  inverse_top = {v: k for k, v in _BV_TOP.items() if k != "pos_embedding"}
  out = {}
  for key, value in flat.items():
    if key in inverse_top:
      out[inverse_top[key]] = value
      continue
    m = re.match(r"^block(\d+)/(.+)$", key)
    if not m:
      raise ValueError(f"{key} has no big_vision name (LayerScale / norm_pre models cannot "
                       "be written in this layout)")
    inner = m.group(2)
    names = {"norm1": "LayerNorm_0", "norm2": "LayerNorm_2", "attn": "MultiHeadDotProductAttention_1",
             "mlp_fc1": "MlpBlock_3/Dense_0", "mlp_fc2": "MlpBlock_3/Dense_1"}
    head, _, rest = inner.partition("/")
    if head not in names:
      raise ValueError(f"{key} has no big_vision name")
    out[f"Transformer/encoderblock_{m.group(1)}/{names[head]}/{rest}"] = value
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(suffix=".npz", dir=directory)
  os.close(fd)
  try:
    np.savez(tmp, **out)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
