"""The train state and the pure train / eval step functions.

`make_train_step` returns `train_step(state, batch, rng) -> (state, metrics)`: augmentation,
forward, loss, backward and update in one function that the trainer jits once with the state
donated. The same step runs on one device or many: the batch is a global array sharded over the
`data` mesh axis and the state is replicated.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from flax import linen as nn
import jax
import jax.numpy as jnp
import optax

from ltjax.core import inference
from ltjax.core import metrics as metrics_lib
from ltjax.core import plugins
from ltjax.core.train_state import TrainState
from ltjax.data import augment
from ltjax.data.augment_spec import AugmentSpec
from ltjax.data import mixing
from ltjax.data import randaugment


def init_state(model: nn.Module, tx: optax.GradientTransformation, rng: jax.Array,
               image_shape: Sequence[int]) -> TrainState:
  """Initial parameters, BatchNorm statistics and optimizer state (pure; jit it to place it)."""
  variables = model.init(rng, jnp.zeros((1, *image_shape), jnp.float32), train=False)
  params = variables["params"]
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    batch_stats=variables.get("batch_stats", {}), opt_state=tx.init(params))


def make_train_step(model: nn.Module, tx: optax.GradientTransformation,
                    objective: Callable[..., jax.Array], schedule: optax.Schedule, *,
                    mean: Sequence[float], std: Sequence[float], steps_per_epoch: int = 1,
                    augment_spec: AugmentSpec = AugmentSpec(),
                    step_inputs: Sequence[plugins.StepInput] = (),
                    num_classes: int | None = None) -> Callable:
  """Builds the pure training step.

  Args:
    model: a Linen classifier returning (logits, features).
    tx: the optax optimizer.
    objective: scalar batch loss `(logits, features, labels, epoch, targets=None,
      **step_inputs)` (`ltjax.losses.objective`, wrapped by the methods' hooks).
    schedule: lr(step), only reported in the metrics.
    mean, std: per-channel normalisation.
    steps_per_epoch: turns the step into the (0-based) epoch that the objective reads.
    augment_spec: the augmentation (`AugmentSpec`).
    step_inputs: what methods compute per batch for the objective (`plugins.StepInput`, e.g.
      a distillation teacher's logits); their variables are the step's 4th argument, a dict
      by input name.
    num_classes: the soft targets' width when `augment_spec` mixes.

  Returns:
    train_step(state, batch, rng[, input_variables]) -> (state, metrics); batch =
    {"image": uint8 (B,H,W,C), "label": int32 (B,)}.
  """
  aug = augment_spec
  if aug.mixing and not num_classes:
    raise ValueError("mixup / cutmix / label smoothing need num_classes for the soft targets")
  step_inputs = tuple(step_inputs)

  def train_step(state: TrainState, batch: dict[str, jax.Array], rng: jax.Array,
                 input_variables=None):
    rng = jax.random.fold_in(rng, state.step)
    images = augment.augment_batch(batch["image"], rng, kind=aug.kind,
                                   crop_padding=aug.crop_padding, flip=aug.flip,
                                   size=aug.image_size, rotation_degrees=aug.rotation_degrees)
    if aug.randaugment_ops:
      images = randaugment.rand_augment(
          images, jax.random.fold_in(rng, 2), num_ops=aug.randaugment_ops,
          magnitude=aug.randaugment_magnitude, magnitude_std=aug.randaugment_magnitude_std,
          fill=tuple(255.0 * m for m in mean))
    images = augment.normalize(images, mean, std)
    targets = None
    if aug.mixing:
      images, targets = mixing.mix_batch(
          images, batch["label"], jax.random.fold_in(rng, 1), num_classes,
          mixup_alpha=aug.mixup_alpha, cutmix_alpha=aug.cutmix_alpha,
          switch_prob=aug.cutmix_switch_prob, label_smoothing=aug.label_smoothing)
    epoch = state.step // steps_per_epoch
    extras = {}
    for step_input in step_inputs:
      extras.update(step_input.compute(input_variables[step_input.name], images))

    def loss_fn(params):
      (logits, features), new_vars = model.apply(
          {"params": params, "batch_stats": state.batch_stats}, images, train=True,
          mutable=["batch_stats"], rngs={"dropout": jax.random.fold_in(rng, 3)})
      if targets is None:
        loss = objective(logits, features, batch["label"], epoch, **extras)
      else:
        loss = objective(logits, features, batch["label"], epoch, targets=targets, **extras)
      return loss, (logits, new_vars)

    (loss, (logits, new_vars)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(step=state.step + 1,
                              params=optax.apply_updates(state.params, updates),
                              batch_stats=new_vars.get("batch_stats", {}), opt_state=opt_state)
    metrics = {
        "loss": loss,
        "accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
        "learning_rate": schedule(state.step),
        "grad_norm": optax.tree.norm(grads),
    }
    return new_state, metrics

  return train_step


def make_eval_step(model: nn.Module, *, mean: Sequence[float], std: Sequence[float],
                   num_targets: int | None = None) -> Callable:
  """eval_step(state, batch) -> masked metric sums; batch has "image", "label", "mask".

  `num_targets`: score only the first T outputs (the target classes).
  """

  def eval_step(state: TrainState, batch: dict[str, jax.Array]):
    logits, _ = inference.apply_eval(model, state, batch["image"], mean=mean, std=std,
                                     num_targets=num_targets)
    return metrics_lib.eval_sums(logits, batch["label"], batch["mask"])

  return eval_step
