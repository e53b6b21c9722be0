"""Optimizer and learning-rate schedules of the long-tail recipes (PyTorch semantics)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
  """The `config.optimizer` values the learning-rate schedule reads, as plain values (the
  schedule runs inside the jitted step: it closes over this, never over a ConfigDict)."""

  learning_rate: float = 0.1
  schedule: str = "multistep"
  warmup_epochs: int = 5
  warmup_per_epoch: bool = True
  decay_epochs: tuple[int, ...] = (160, 180)
  decay_factors: tuple[float, ...] = (0.01, 0.0001)

  @classmethod
  def from_config(cls, oc) -> "ScheduleSpec":
    """From `config.optimizer` (a ConfigDict or a ScheduleSpec)."""
    if isinstance(oc, cls):
      return oc
    return cls(learning_rate=float(oc.learning_rate), schedule=oc.schedule,
               warmup_epochs=oc.warmup_epochs, warmup_per_epoch=bool(oc.warmup_per_epoch),
               decay_epochs=tuple(oc.decay_epochs), decay_factors=tuple(oc.decay_factors))


def learning_rate_schedule(oc, steps_per_epoch: int, num_epochs: int) -> optax.Schedule:
  """lr(step) for the config's warm-up and decay (`config.optimizer` or a ScheduleSpec).

  Warm-up is linear over `warmup_epochs`; with `warmup_per_epoch` the lr rises once per epoch
  as in the LDAM-DRW / RIDE code (epoch e < W uses base * (e + 1) / W). "multistep" multiplies
  the base lr by `decay_factors[i]` from epoch `decay_epochs[i]` on (absolute factors, e.g.
  0.01 at 160 and 0.0001 at 180); "cosine" decays from the end of warm-up to 0 at the end.
  """
  spec = ScheduleSpec.from_config(oc)
  base = spec.learning_rate
  warm_steps = spec.warmup_epochs * steps_per_epoch
  total_steps = num_epochs * steps_per_epoch

  def schedule(step):
    step = jnp.asarray(step, jnp.float32)
    epoch = jnp.floor(step / steps_per_epoch)
    if spec.schedule == "multistep":
      lr = jnp.asarray(base, jnp.float32)
      for e, f in zip(spec.decay_epochs, spec.decay_factors):
        lr = jnp.where(epoch >= e, base * f, lr)
    elif spec.schedule == "cosine":
      frac = jnp.clip((step - warm_steps) / jnp.maximum(total_steps - warm_steps, 1), 0., 1.)
      lr = base * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
    else:
      lr = jnp.asarray(base, jnp.float32)
    if spec.warmup_epochs > 0:
      progress = ((epoch + 1) / spec.warmup_epochs if spec.warmup_per_epoch
                  else (step + 1) / warm_steps)
      lr = jnp.where(step < warm_steps, base * jnp.minimum(progress, 1.0), lr)
    return lr

  return schedule


_BLOCK = re.compile(r"^block(\d+)$")
# Embedding parameters: layer 0 of the layer-wise lr decay, and never weight-decayed (MAE/BEiT).
_EMBEDDING = ("patch_embed", "cls_token", "pos_embed")


def _top_name(path) -> str:
  return str(getattr(path[0], "key", path[0]))


def layer_ids(params: Any) -> tuple[Any, int]:
  """(tree of layer ids, number of layers L + 2) for layer-wise lr decay.

  Embeddings are layer 0, `block{i}` is layer i + 1, everything else (final norm, head) L + 1:
  the BEiT / MAE assignment for ltjax's ViT. Models without `block{i}` modules are one layer.
  """
  tops = {_top_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)}
  depth = sum(1 for t in tops if _BLOCK.match(t))

  def layer(path, _):
    name = _top_name(path)
    if name in _EMBEDDING:
      return 0
    m = _BLOCK.match(name)
    return int(m.group(1)) + 1 if m else depth + 1

  return jax.tree_util.tree_map_with_path(layer, params), depth + 2


def layer_decay_scales(params: Any, decay: float) -> Any:
  """Per-parameter lr multipliers decay ** (L + 1 - layer_id) (1.0 for the head)."""
  ids, num_layers = layer_ids(params)
  return jax.tree.map(lambda i: float(decay) ** (num_layers - 1 - i), ids)


def weight_decay_mask(params: Any) -> Any:
  """True where AdamW decays: matrices and kernels, not biases, norms or embeddings (MAE)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, p: p.ndim > 1 and _top_name(path) not in _EMBEDDING, params)


def scale_by_tree(scales: Any) -> optax.GradientTransformation:
  """Multiplies each update by its leaf of `scales` (a per-layer learning-rate factor)."""

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(lambda u, s: u * s, updates, scales), state

  return optax.GradientTransformation(init_fn, update_fn)


def build_optimizer(oc: ml_collections.ConfigDict, schedule: optax.Schedule,
                    params: Any = None) -> optax.GradientTransformation:
  """The config's optimizer.

  "sgd": SGD with momentum (optionally Nesterov) and coupled L2 weight decay, as
  torch.optim.SGD, which adds `weight_decay * w` to the gradient before momentum, on every
  parameter (BatchNorm included, as in the references): `add_decayed_weights` before `sgd`.

  "adamw": torch.optim.AdamW (decoupled decay lr * wd * w) with betas (b1, b2), decay only on
  matrices (`weight_decay_mask`), and with `layer_decay` < 1 layer-wise lr decay: scaling a
  parameter's whole AdamW update by its layer factor is exactly torch's per-group lr, which
  also scales that group's decoupled decay. `params` (or a same-structured abstract tree) is
  needed for the masks.
  """
  if oc.name == "adamw":
    if params is None:
      raise ValueError("optimizer 'adamw' needs the parameter tree for its decay masks")
    tx = [optax.adamw(schedule, b1=oc.b1, b2=oc.b2, eps=1e-8, weight_decay=oc.weight_decay,
                      mask=weight_decay_mask(params))]
    if oc.layer_decay < 1.0:
      tx.append(scale_by_tree(layer_decay_scales(params, oc.layer_decay)))
    return optax.chain(*tx)
  return optax.chain(
      optax.add_decayed_weights(oc.weight_decay),
      optax.sgd(schedule, momentum=oc.momentum or None, nesterov=oc.nesterov),
  )
