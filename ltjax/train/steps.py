"""The train state and the pure train / eval step functions.

`make_train_step` returns `train_step(state, batch, rng) -> (state, metrics)`: augmentation,
forward, loss, backward and update in one function that the trainer jits once with the state
donated. The same step runs on one device or many: the batch is a global array sharded over the
`data` mesh axis and the state is replicated.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import flax
from flax import linen as nn
import jax
import jax.numpy as jnp
import optax

from ltjax.core import inference
from ltjax.core import metrics as metrics_lib
from ltjax.data import augment
from ltjax.data import mixing
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


@dataclasses.dataclass(frozen=True)
class AugmentSpec:
  """Everything the train step does to a uint8 batch before the model (plain values).

  Attributes:
    kind, crop_padding, flip, image_size, rotation_degrees: on-device augmentation
      (`augment.augment_batch`; image_size is the random-resized-crop output side).
    randaugment_ops, randaugment_magnitude, randaugment_magnitude_std: RandAugment after the
      crop (`randaugment.rand_augment`, fill = the normalisation mean); 0 ops = off.
    mixup_alpha, cutmix_alpha, cutmix_switch_prob, label_smoothing: when any is on, the batch
      is mixed (`mixing.mix_batch`) and the objective gets soft targets.
  """

  kind: str = "pad_crop_flip"
  crop_padding: int = 4
  flip: bool = True
  image_size: int = 224
  rotation_degrees: float = 0.0
  randaugment_ops: int = 0
  randaugment_magnitude: float = 9.0
  randaugment_magnitude_std: float = 0.5
  mixup_alpha: float = 0.0
  cutmix_alpha: float = 0.0
  cutmix_switch_prob: float = 0.5
  label_smoothing: float = 0.0

  @classmethod
  def from_config(cls, augment_config, image_size: int) -> "AugmentSpec":
    """From `config.augment` and the training image side."""
    a = augment_config
    return cls(kind=a.kind, crop_padding=a.crop_padding, flip=a.flip, image_size=image_size,
               rotation_degrees=a.rotation_degrees, randaugment_ops=a.randaugment_ops,
               randaugment_magnitude=a.randaugment_magnitude,
               randaugment_magnitude_std=a.randaugment_magnitude_std,
               mixup_alpha=a.mixup_alpha, cutmix_alpha=a.cutmix_alpha,
               cutmix_switch_prob=a.cutmix_switch_prob, label_smoothing=a.label_smoothing)

  @property
  def mixing(self) -> bool:
    """Whether the step gives the objective soft targets."""
    return self.mixup_alpha > 0 or self.cutmix_alpha > 0 or self.label_smoothing > 0


def make_train_step(model: nn.Module, tx: optax.GradientTransformation,
                    objective: Callable[..., jax.Array], schedule: optax.Schedule, *,
                    mean: Sequence[float], std: Sequence[float], steps_per_epoch: int = 1,
                    augment_spec: AugmentSpec = AugmentSpec(),
                    teacher: nn.Module | None = None, teacher_train_bn: bool = True,
                    num_classes: int | None = None) -> Callable:
  """Builds the pure training step.

  Args:
    model: a Linen classifier returning (logits, features).
    tx: the optax optimizer.
    objective: scalar batch loss `(logits, features, labels, epoch, teacher_logits=None)`
      (`ltjax.losses.objective`).
    schedule: lr(step), only reported in the metrics.
    mean, std: per-channel normalisation.
    steps_per_epoch: turns the step into the (0-based) epoch that the objective reads.
    augment_spec: the augmentation (`AugmentSpec`).
    teacher: optional distillation teacher; its variables are the step's 4th argument.
    teacher_train_bn: run the teacher's BatchNorm on batch statistics, as RIDE's reference
      does (its teacher is never put in eval mode); running statistics are not updated.
    num_classes: the soft targets' width when `augment_spec` mixes.

  Returns:
    train_step(state, batch, rng[, teacher_variables]) -> (state, metrics); batch =
    {"image": uint8 (B,H,W,C), "label": int32 (B,)}.
  """
  aug = augment_spec
  if aug.mixing and not num_classes:
    raise ValueError("mixup / cutmix / label smoothing need num_classes for the soft targets")

  def train_step(state: TrainState, batch: dict[str, jax.Array], rng: jax.Array,
                 teacher_variables=None):
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


# Kept name: the target-class slice of the logits (`inference.target_logits`).
target_logits = inference.target_logits


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
