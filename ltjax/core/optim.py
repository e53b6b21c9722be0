"""Optimizer and learning-rate schedules of the long-tail recipes (PyTorch semantics)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, NamedTuple

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
  min_lr: float = 0.0
  head_warmup_epochs: int = 0
  head_warmup_lr_scale: float = 1.0

  @classmethod
  def from_config(cls, oc) -> "ScheduleSpec":
    """From `config.optimizer` (a ConfigDict or a ScheduleSpec)."""
    if isinstance(oc, cls):
      return oc
    return cls(learning_rate=float(oc.learning_rate), schedule=oc.schedule,
               warmup_epochs=oc.warmup_epochs, warmup_per_epoch=bool(oc.warmup_per_epoch),
               decay_epochs=tuple(oc.decay_epochs), decay_factors=tuple(oc.decay_factors),
               min_lr=float(oc.get("min_lr", 0.0)),
               head_warmup_epochs=int(oc.get("head_warmup_epochs", 0)),
               head_warmup_lr_scale=float(oc.get("head_warmup_lr_scale", 1.0)))


def learning_rate_schedule(oc, steps_per_epoch: int, num_epochs: int) -> optax.Schedule:
  """lr(step) for the config's warm-up and decay (`config.optimizer` or a ScheduleSpec).

  Warm-up is linear over `warmup_epochs`; with `warmup_per_epoch` the lr rises once per epoch
  as in the LDAM-DRW / RIDE code (epoch e < W uses base * (e + 1) / W). "multistep" multiplies
  the base lr by `decay_factors[i]` from epoch `decay_epochs[i]` on (absolute factors, e.g.
  0.01 at 160 and 0.0001 at 180); "cosine" decays from the end of warm-up to `min_lr` at the
  end (MAE's half-cycle: min_lr + (base - min_lr) (1 + cos) / 2).

  With a head-only warm-up of C = `head_warmup_epochs` (the category-extrapolation code's
  `clswarm`, its `lr_sched.adjust_learning_rate`): epochs < C use base * s * progress, where
  s = `head_warmup_lr_scale` (`clswarm_scale`) and progress the warm-up's fraction as above
  (only the head trains then, `build_optimizer`), and the warm-up restarts at C: epochs C ..
  W - 1 rise from 0 as base * (progress - C / W) * W / (W - C).
  """
  spec = ScheduleSpec.from_config(oc)
  base = spec.learning_rate
  warm_steps = spec.warmup_epochs * steps_per_epoch
  total_steps = num_epochs * steps_per_epoch
  head_steps = spec.head_warmup_epochs * steps_per_epoch
  if spec.head_warmup_epochs and spec.head_warmup_epochs > spec.warmup_epochs:
    raise ValueError(f"optimizer.head_warmup_epochs={spec.head_warmup_epochs} must be at most "
                     f"optimizer.warmup_epochs={spec.warmup_epochs}: the head-only epochs are "
                     "the start of the warm-up")

  def schedule(step):
    step = jnp.asarray(step, jnp.float32)
    epoch = jnp.floor(step / steps_per_epoch)
    if spec.schedule == "multistep":
      lr = jnp.asarray(base, jnp.float32)
      for e, f in zip(spec.decay_epochs, spec.decay_factors):
        lr = jnp.where(epoch >= e, base * f, lr)
    elif spec.schedule == "cosine":
      frac = jnp.clip((step - warm_steps) / jnp.maximum(total_steps - warm_steps, 1), 0., 1.)
      lr = spec.min_lr + (base - spec.min_lr) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
    else:
      lr = jnp.asarray(base, jnp.float32)
    if spec.warmup_epochs > 0:
      progress = ((epoch + 1) / spec.warmup_epochs if spec.warmup_per_epoch
                  else (step + 1) / warm_steps)
      progress = jnp.minimum(progress, 1.0)
      if spec.head_warmup_epochs:
        head_frac = spec.head_warmup_epochs / spec.warmup_epochs
        rest = jnp.where(step < head_steps, base * spec.head_warmup_lr_scale * progress,
                         base * (progress - head_frac) / (1.0 - head_frac))
      else:
        rest = base * progress
      lr = jnp.where(step < warm_steps, rest, lr)
    return lr

  return schedule


_BLOCK = re.compile(r"^block(\d+)$")
# Embedding parameters: layer 0 of the layer-wise lr decay, and never weight-decayed (MAE/BEiT).
_EMBEDDING = ("patch_embed", "cls_token", "pos_embed")


def _top_name(path) -> str:
  return str(getattr(path[0], "key", path[0]))


def layer_ids(params: Any, depth: int | None = None) -> tuple[Any, int]:
  """(tree of layer ids, number of layers L + 2) for layer-wise lr decay.

  Embeddings are layer 0, `block{i}` is layer i + 1, everything else (final norm, head) L + 1:
  the BEiT / MAE assignment for ltjax's ViT. Models without `block{i}` modules are one layer.
  `depth` gives L when `params` is only part of the model (the head alone).
  """
  if depth is None:
    tops = {_top_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)}
    depth = sum(1 for t in tops if _BLOCK.match(t))

  def layer(path, _):
    name = _top_name(path)
    if name in _EMBEDDING:
      return 0
    m = _BLOCK.match(name)
    return int(m.group(1)) + 1 if m else depth + 1

  return jax.tree_util.tree_map_with_path(layer, params), depth + 2


def layer_decay_scales(params: Any, decay: float, depth: int | None = None) -> Any:
  """Per-parameter lr multipliers decay ** (L + 1 - layer_id) (1.0 for the head)."""
  ids, num_layers = layer_ids(params, depth)
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


# Top-level modules that train during a head-only warm-up (the official code's "head" /
# "fc_norm" parameter names).
HEAD_MODULES = ("head", "fc_norm")


class HeadFirstState(NamedTuple):
  """The head's and the body's own optimizer states, and the steps taken so far."""
  head: Any
  body: Any
  count: jax.Array


def head_first(make_tx: Callable[[optax.Schedule, Any], optax.GradientTransformation],
               schedule: optax.Schedule, params: Any,
               head_steps: int) -> optax.GradientTransformation:
  """Trains only the head (`HEAD_MODULES`) for the first `head_steps` steps, then everything.

  As the official code's `requires_grad = False`: the body's parameters take no update and
  no weight decay while frozen, and its optimizer state starts when it first trains (torch's
  AdamW keeps a step count per parameter, so the body's bias correction starts at 1 there);
  its schedule is read at the global step. `make_tx(schedule, subtree)` builds the optimizer
  for one part of the parameter dict.
  """
  head_keys = tuple(k for k in params if k in HEAD_MODULES)
  if not head_keys:
    raise ValueError(f"a head-only warm-up needs a module named one of {HEAD_MODULES}; the "
                     f"model's top-level modules are {sorted(params)}")

  def split(tree):
    return ({k: v for k, v in tree.items() if k in head_keys},
            {k: v for k, v in tree.items() if k not in head_keys})

  head_params, body_params = split(params)
  head_tx = make_tx(schedule, head_params)
  body_tx = make_tx(lambda count: schedule(count + head_steps), body_params)

  def init_fn(p):
    h, b = split(p)
    return HeadFirstState(head_tx.init(h), body_tx.init(b), jnp.zeros([], jnp.int32))

  def update_fn(updates, state, p=None):
    gh, gb = split(updates)
    ph, pb = split(p) if p is not None else (None, None)
    uh, head_state = head_tx.update(gh, state.head, ph)

    def train_body(_):
      return body_tx.update(gb, state.body, pb)

    def frozen(_):
      return jax.tree.map(jnp.zeros_like, gb), state.body

    ub, body_state = jax.lax.cond(state.count >= head_steps, train_body, frozen, None)
    merged = {k: (uh[k] if k in head_keys else ub[k]) for k in updates}
    return merged, HeadFirstState(head_state, body_state, state.count + 1)

  return optax.GradientTransformation(init_fn, update_fn)


def build_optimizer(oc: ml_collections.ConfigDict, schedule: optax.Schedule,
                    params: Any = None,
                    steps_per_epoch: int = 0) -> optax.GradientTransformation:
  """The config's optimizer.

  "sgd": SGD with momentum (optionally Nesterov) and coupled L2 weight decay, as
  torch.optim.SGD, which adds `weight_decay * w` to the gradient before momentum, on every
  parameter (BatchNorm included, as in the references): `add_decayed_weights` before `sgd`.

  "adamw": torch.optim.AdamW (decoupled decay lr * wd * w) with betas (b1, b2), decay only on
  matrices (`weight_decay_mask`), and with `layer_decay` < 1 layer-wise lr decay: scaling a
  parameter's whole AdamW update by its layer factor is exactly torch's per-group lr, which
  also scales that group's decoupled decay. `params` (or a same-structured abstract tree) is
  needed for the masks.

  `head_warmup_epochs` > 0 trains only the head for that many epochs first (`head_first`;
  needs `params` and `steps_per_epoch`).
  """
  head_epochs = int(oc.get("head_warmup_epochs", 0))
  if head_epochs:
    if params is None or steps_per_epoch <= 0:
      raise ValueError("a head-only warm-up needs the parameter tree and steps_per_epoch")
    depth = layer_ids(params)[1] - 2  # the body's blocks fix the head's layer-decay level

    def make_tx(part_schedule, part):
      return _optimizer(oc, part_schedule, part, depth)

    return head_first(make_tx, schedule, params, head_epochs * steps_per_epoch)
  return _optimizer(oc, schedule, params)


def _optimizer(oc, schedule: optax.Schedule, params: Any,
               depth: int | None = None) -> optax.GradientTransformation:
  if oc.name == "adamw":
    if params is None:
      raise ValueError("optimizer 'adamw' needs the parameter tree for its decay masks")
    tx = [optax.adamw(schedule, b1=oc.b1, b2=oc.b2, eps=1e-8, weight_decay=oc.weight_decay,
                      mask=weight_decay_mask(params))]
    if oc.layer_decay < 1.0:
      tx.append(scale_by_tree(layer_decay_scales(params, oc.layer_decay, depth)))
    return optax.chain(*tx)
  return optax.chain(
      optax.add_decayed_weights(oc.weight_decay),
      optax.sgd(schedule, momentum=oc.momentum or None, nesterov=oc.nesterov),
  )
