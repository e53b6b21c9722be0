"""Optimizer and learning-rate schedules of the long-tail recipes (PyTorch semantics)."""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections
import optax


def learning_rate_schedule(oc: ml_collections.ConfigDict, steps_per_epoch: int,
                           num_epochs: int) -> optax.Schedule:
  """lr(step) for the config's warm-up and decay.

  Warm-up is linear over `warmup_epochs`; with `warmup_per_epoch` the lr rises once per epoch
  as in the LDAM-DRW / RIDE code (epoch e < W uses base * (e + 1) / W). "multistep" multiplies
  the base lr by `decay_factors[i]` from epoch `decay_epochs[i]` on (absolute factors, e.g.
  0.01 at 160 and 0.0001 at 180); "cosine" decays from the end of warm-up to 0 at the end.
  """
  base = oc.learning_rate
  warm_steps = oc.warmup_epochs * steps_per_epoch
  total_steps = num_epochs * steps_per_epoch

  def schedule(step):
    step = jnp.asarray(step, jnp.float32)
    epoch = jnp.floor(step / steps_per_epoch)
    if oc.schedule == "multistep":
      lr = jnp.asarray(base, jnp.float32)
      for e, f in zip(oc.decay_epochs, oc.decay_factors):
        lr = jnp.where(epoch >= e, base * f, lr)
    elif oc.schedule == "cosine":
      frac = jnp.clip((step - warm_steps) / jnp.maximum(total_steps - warm_steps, 1), 0., 1.)
      lr = base * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
    else:
      lr = jnp.asarray(base, jnp.float32)
    if oc.warmup_epochs > 0:
      progress = (epoch + 1) / oc.warmup_epochs if oc.warmup_per_epoch else (step + 1) / warm_steps
      lr = jnp.where(step < warm_steps, base * jnp.minimum(progress, 1.0), lr)
    return lr

  return schedule


def build_optimizer(oc: ml_collections.ConfigDict,
                    schedule: optax.Schedule) -> optax.GradientTransformation:
  """SGD with momentum (optionally Nesterov) and coupled L2 weight decay, as torch.optim.SGD.

  torch.optim.SGD adds `weight_decay * w` to the gradient before momentum, on every parameter
  (BatchNorm included, as in the references), which `add_decayed_weights` before `sgd` mirrors.
  """
  return optax.chain(
      optax.add_decayed_weights(oc.weight_decay),
      optax.sgd(schedule, momentum=oc.momentum or None, nesterov=oc.nesterov),
  )
