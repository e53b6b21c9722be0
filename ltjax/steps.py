"""The train state and the pure train / eval step functions.

`make_train_step` returns `train_step(state, batch, rng) -> (state, metrics)`: augmentation,
forward, loss, backward and update in one function that the trainer jits once with the state
donated. The same step runs on one device or many: the batch is a global array sharded over the
`data` mesh axis and the state is replicated.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax
from flax import linen as nn
import jax
import jax.numpy as jnp
import optax

from ltjax import metrics as metrics_lib
from ltjax.data import augment
from ltjax.data import randaugment


class TrainState(flax.struct.PyTreeNode):
  """Everything a training step reads and writes (Orbax saves exactly this)."""

  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any


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
                    augment_kind: str = "pad_crop_flip", crop_padding: int = 4,
                    flip: bool = True, image_size: int = 224, rotation_degrees: float = 0.0,
                    teacher: nn.Module | None = None, teacher_train_bn: bool = True,
                    mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0,
                    cutmix_switch_prob: float = 0.5, label_smoothing: float = 0.0,
                    num_classes: int | None = None, randaugment_ops: int = 0,
                    randaugment_magnitude: float = 9.0,
                    randaugment_magnitude_std: float = 0.5) -> Callable:
  """Builds the pure training step.

  Args:
    model: a Linen classifier returning (logits, features).
    tx: the optax optimizer.
    objective: scalar batch loss `(logits, features, labels, epoch, teacher_logits=None)`
      (`ltjax.losses.objective`).
    schedule: lr(step), only reported in the metrics.
    mean, std: per-channel normalisation.
    steps_per_epoch: turns the step into the (0-based) epoch that the objective reads.
    augment_kind, crop_padding, flip, image_size, rotation_degrees: on-device augmentation
      (`augment.augment_batch`; image_size is the random-resized-crop output side).
    teacher: optional distillation teacher; its variables are the step's 4th argument.
    teacher_train_bn: run the teacher's BatchNorm on batch statistics, as RIDE's reference
      does (its teacher is never put in eval mode); running statistics are not updated.
    randaugment_ops, randaugment_magnitude, randaugment_magnitude_std: RandAugment after the
      crop (`randaugment.rand_augment`, fill = the normalisation mean); 0 ops = off.
    mixup_alpha, cutmix_alpha, cutmix_switch_prob, label_smoothing: when any is on, the batch
      is mixed (`mixing.mix_batch`) and the objective gets soft targets over `num_classes`.

  Returns:
    train_step(state, batch, rng[, teacher_variables]) -> (state, metrics); batch =
    {"image": uint8 (B,H,W,C), "label": int32 (B,)}.
  """

  mixing_on = mixup_alpha > 0 or cutmix_alpha > 0 or label_smoothing > 0
  if mixing_on and not num_classes:
    raise ValueError("mixup / cutmix / label smoothing need num_classes for the soft targets")
  if mixing_on:
    from ltjax.data import mixing  # pylint: disable=g-import-not-at-top

  def train_step(state: TrainState, batch: dict[str, jax.Array], rng: jax.Array,
                 teacher_variables=None):
    rng = jax.random.fold_in(rng, state.step)
    images = augment.augment_batch(batch["image"], rng, kind=augment_kind,
                                   crop_padding=crop_padding, flip=flip, size=image_size,
                                   rotation_degrees=rotation_degrees)
    if randaugment_ops:
      images = randaugment.rand_augment(
          images, jax.random.fold_in(rng, 2), num_ops=randaugment_ops,
          magnitude=randaugment_magnitude, magnitude_std=randaugment_magnitude_std,
          fill=tuple(255.0 * m for m in mean))
    images = augment.normalize(images, mean, std)
    targets = None
    if mixing_on:
      images, targets = mixing.mix_batch(
          images, batch["label"], jax.random.fold_in(rng, 1), num_classes,
          mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, switch_prob=cutmix_switch_prob,
          label_smoothing=label_smoothing)
    epoch = state.step // steps_per_epoch
    teacher_logits = None
    if teacher is not None:
      if teacher_train_bn:
        (teacher_logits, _), _ = teacher.apply(teacher_variables, images, train=True,
                                               mutable=["batch_stats"])
      else:
        teacher_logits, _ = teacher.apply(teacher_variables, images, train=False)
      teacher_logits = jax.lax.stop_gradient(teacher_logits)

    def loss_fn(params):
      (logits, features), new_vars = model.apply(
          {"params": params, "batch_stats": state.batch_stats}, images, train=True,
          mutable=["batch_stats"])
      if targets is None:
        loss = objective(logits, features, batch["label"], epoch, teacher_logits)
      else:
        loss = objective(logits, features, batch["label"], epoch, teacher_logits,
                         targets=targets)
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


def target_logits(logits: jax.Array, num_targets: int | None) -> jax.Array:
  """The logits of the target classes: with auxiliary classes (category extrapolation) the
  head's auxiliary rows are dropped at inference, so no prediction is ever an auxiliary class."""
  return logits if num_targets is None else logits[..., :num_targets]


def make_eval_step(model: nn.Module, *, mean: Sequence[float], std: Sequence[float],
                   num_targets: int | None = None) -> Callable:
  """eval_step(state, batch) -> masked metric sums; batch has "image", "label", "mask".

  `num_targets`: score only the first T outputs (the target classes).
  """

  def eval_step(state: TrainState, batch: dict[str, jax.Array]):
    images = augment.normalize(batch["image"], mean, std)
    logits, _ = model.apply({"params": state.params, "batch_stats": state.batch_stats}, images,
                            train=False)
    return metrics_lib.eval_sums(target_logits(logits, num_targets), batch["label"],
                                 batch["mask"])

  return eval_step
