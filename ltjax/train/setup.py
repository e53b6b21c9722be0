"""From a config and its data to everything a training run computes with.

`build(config, splits, mesh)` gives the model, the sampler, the schedule, the optimizer and the
sharded initial state; `objective`, `step_fn` and `jit_steps` give the jitted steps. The
trainer, the tests and `experiments/bench.py` all wire a run through these functions, so what
they measure is what `python -m ltjax.main` runs.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Callable

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import optax

from ltjax import losses
from ltjax import models
from ltjax.core import optim
from ltjax.core import plugins
from ltjax.core import sharding
from ltjax.data import arrays
from ltjax.data import datasets
from ltjax.data import device_data
from ltjax.data import paths
from ltjax.data import prefetch
from ltjax.data import samplers
from ltjax.models import vit_checkpoint
from ltjax.train import steps


@dataclasses.dataclass
class TrainSetup:
  """A run's pieces before its first step (built once; nothing here is traced).

  Attributes:
    config: the validated config.
    splits: the data (`datasets.DatasetSplits`).
    mesh: the 1-D `data` mesh.
    attachment: the trained classes' prior counts, epoch pool and the objective's extra
      inputs (a method's `TrainingHooks.attach`, else the plain training counts).
    model: the Flax module over all C trained classes.
    sampler: the training index stream.
    schedule: lr(step).
    tx: the optimizer.
    init_rng, train_rng: the seed's two streams (initialisation, per-step randomness).
    init_fn: rng -> initial TrainState (pure).
    replicated, state_sharding: where the state lives.
    abstract_state: the state's shapes with their shardings (for restoring).
  """

  config: ml_collections.ConfigDict
  splits: datasets.DatasetSplits
  mesh: jax.sharding.Mesh
  attachment: plugins.Attachment
  model: Any
  sampler: samplers.IndexSampler
  schedule: optax.Schedule
  tx: optax.GradientTransformation
  init_rng: jax.Array
  train_rng: jax.Array
  init_fn: Callable[[jax.Array], steps.TrainState]
  replicated: jax.sharding.Sharding
  state_sharding: Any
  abstract_state: Any

  @property
  def steps_per_epoch(self) -> int:
    return self.sampler.steps_per_epoch

  @property
  def total_steps(self) -> int:
    return self.sampler.steps_per_epoch * self.config.train.num_epochs

  @property
  def class_counts(self):
    """(T,) training counts of the evaluated (target) classes: the many/medium/few reference."""
    return self.splits.target_counts

  @property
  def num_targets(self) -> int | None:
    """T when classes beyond the targets are trained (inference keeps the first T outputs),
    else None."""
    splits = self.splits
    return splits.num_targets if splits.num_targets != splits.num_classes else None


def check_before_data(config: ml_collections.ConfigDict) -> None:
  """The methods' cheap checks that must fail before any data loads (e.g. a teacher run)."""
  for check in plugins.hooks("check"):
    check(config)


def build_splits(config: ml_collections.ConfigDict) -> datasets.DatasetSplits:
  """The run's data: the dataset's long-tailed splits, then what each registered method adds
  (`TrainingHooks.held_out_classes` / `add_data`, e.g. auxiliary classes)."""
  held_out = tuple(name for fn in plugins.hooks("held_out_classes") for name in fn(config))
  splits = datasets.build_splits(config, held_out)
  for add_data in plugins.hooks("add_data"):
    splits = add_data(splits, config)
  return splits


def attach(splits: datasets.DatasetSplits, config: ml_collections.ConfigDict
           ) -> plugins.Attachment:
  """The active method's attachment (`TrainingHooks.attach`), else the training counts."""
  found = [a for fn in plugins.hooks("attach") if (a := fn(splits, config)) is not None]
  if len(found) > 1:
    raise ValueError("more than one method attached itself to this run's classes; a run "
                     "trains with one attachment (check the method sections of the config)")
  return found[0] if found else plugins.Attachment(prior_counts=splits.class_counts)


def build(config: ml_collections.ConfigDict, splits: datasets.DatasetSplits,
          mesh: jax.sharding.Mesh) -> TrainSetup:
  """The run's model, sampler, schedule, optimizer and (abstract, sharded) state."""
  attachment = attach(splits, config)
  model = models.build_model(config.model.name, splits.num_classes,
                             **models.config_kwargs(config.model))
  sampler = samplers.IndexSampler(
      splits.train.labels, config.sampler, config.seed, config.train.batch_size,
      jax.process_index(), jax.process_count(), config.train.steps_per_epoch_limit,
      epoch_pool=attachment.epoch_pool)
  schedule = optim.learning_rate_schedule(optim.ScheduleSpec.from_config(config.optimizer),
                                          sampler.steps_per_epoch, config.train.num_epochs)
  init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
  abstract_params = jax.eval_shape(
      lambda r: model.init(r, jnp.zeros((1, *splits.test.image_shape)), train=False),
      init_rng)["params"]
  tx = optim.build_optimizer(config.optimizer, schedule, abstract_params,
                             sampler.steps_per_epoch)
  init_fn = functools.partial(steps.init_state, model, tx, image_shape=splits.test.image_shape)
  # Initialise abstractly, then create the state directly with its (replicated) sharding.
  abstract_state = jax.eval_shape(init_fn, init_rng)
  replicated = sharding.replicated(mesh)
  state_sharding = jax.tree.map(lambda _: replicated, abstract_state)
  placed = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                        abstract_state, state_sharding)
  return TrainSetup(config=config, splits=splits, mesh=mesh, attachment=attachment,
                    model=model, sampler=sampler, schedule=schedule, tx=tx, init_rng=init_rng,
                    train_rng=train_rng, init_fn=init_fn, replicated=replicated,
                    state_sharding=state_sharding, abstract_state=placed)


def initial_state(setup: TrainSetup) -> steps.TrainState:
  """The freshly initialised, placed state; with `model.pretrained`, its backbone loaded."""
  state = jax.jit(setup.init_fn, out_shardings=setup.state_sharding)(setup.init_rng)
  pretrained = setup.config.model.pretrained
  if pretrained:
    if not os.path.isabs(pretrained):
      pretrained = os.path.join(paths.data_dir(setup.config), pretrained)
    state = load_pretrained(pretrained, state, setup.tx, setup.state_sharding)
  return state


def load_pretrained(path: str, state, tx, state_sharding):
  """A fresh run's params with the backbone from a pretrained checkpoint (the head stays
  freshly initialised); the optimizer state is re-initialised for them."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"model.pretrained {path!r} does not exist; give the backbone "
                            "checkpoint (.npz, timm or big_vision layout) or set "
                            "--config.model.pretrained= to train from scratch")
  params = vit_checkpoint.load_pretrained(path, jax.device_get(state.params))
  logging.info("backbone loaded from %s", path)
  new = state.replace(params=params, opt_state=tx.init(params))
  return jax.device_put(new, state_sharding)


def num_experts(config: ml_collections.ConfigDict) -> int:
  """The model's experts (1 for a one-head model)."""
  return config.model.num_experts if models.is_multi_expert(config.model.name) else 1


def objective(setup: TrainSetup) -> Callable[..., jax.Array]:
  """The batch objective of `loss.name` over the run's prior counts and the attached inputs,
  with the terms the methods add around it (`TrainingHooks.wrap_objective`)."""
  config = setup.config
  put = functools.partial(jax.device_put, device=setup.replicated)
  counts = put(jnp.asarray(setup.attachment.prior_counts, jnp.float32))
  experts = num_experts(config)
  fn = losses.objective(config.loss, counts, experts, setup.attachment.objective_inputs,
                        config=config)
  for wrap in plugins.hooks("wrap_objective"):
    fn = wrap(fn, config, experts)
  return fn


def step_inputs(setup: TrainSetup) -> tuple[plugins.StepInput, ...]:
  """What the methods compute per batch for the objective (e.g. a teacher's logits)."""
  found = tuple(i for fn in plugins.hooks("step_inputs") if (i := fn(setup)) is not None)
  names = [i.name for i in found]
  if len(set(names)) != len(names):
    raise ValueError(f"two methods give the train step an input of the same name: {names}")
  return found


def input_variables(inputs: tuple[plugins.StepInput, ...]) -> dict[str, Any] | None:
  """The step's 4th argument: each input's variables by name (None without inputs)."""
  return {i.name: i.variables for i in inputs} or None


def step_fn(setup: TrainSetup, objective_fn: Callable[..., jax.Array],
            inputs: tuple[plugins.StepInput, ...] = ()) -> Callable:
  """The pure train step (`steps.make_train_step`) of this run."""
  config, splits = setup.config, setup.splits
  return steps.make_train_step(
      setup.model, setup.tx, objective_fn, setup.schedule, mean=splits.mean, std=splits.std,
      steps_per_epoch=setup.steps_per_epoch,
      augment_spec=steps.AugmentSpec.from_config(config.augment, splits.test.image_shape[0]),
      step_inputs=inputs, num_classes=splits.num_classes)


@dataclasses.dataclass(frozen=True)
class JittedSteps:
  """The compiled entry points of the training loop.

  With the data on the device, `one(state, data, idx, rng, inputs)` gathers its batch from
  indices and `many` scans several steps; otherwise `one(state, batch, rng, inputs)` takes a
  host batch and `many` is None (`inputs`: `input_variables`).
  """

  on_device: bool
  one: Callable
  many: Callable | None = None
  data: Any = None


def jit_steps(setup: TrainSetup, fn: Callable) -> JittedSteps:
  """Jits `fn` with the state donated, for the device-data or the host-batch path."""
  config = setup.config
  on_device = device_data.use_device_data(config.train.data_on_device, setup.splits.train,
                                          config.train.device_data_max_megabytes)
  per_dispatch = config.train.steps_per_dispatch
  if per_dispatch > 1 and not on_device:
    raise ValueError(f"config.train.steps_per_dispatch={per_dispatch} needs the training data on "
                     "the device (train.data_on_device='auto' or 'on' with an in-memory "
                     "dataset); set it to 1 for this dataset")
  jit = functools.partial(jax.jit, donate_argnums=(0,),
                          out_shardings=(setup.state_sharding, setup.replicated))
  if not on_device:
    return JittedSteps(on_device=False, one=jit(fn))
  # Datasets that fit live on the device; the step then gathers its own batch from indices.
  return JittedSteps(on_device=True, one=jit(device_data.indexed_step(fn)),
                     many=jit(device_data.scan_steps(fn)),
                     data=device_data.put_replicated(setup.splits.train, setup.replicated))


def eval_step(setup: TrainSetup) -> Callable:
  """The jitted evaluation step (masked metric sums over the target classes)."""
  splits = setup.splits
  return jax.jit(steps.make_eval_step(setup.model, mean=splits.mean, std=splits.std,
                                      num_targets=setup.num_targets),
                 out_shardings=setup.replicated)


def host_stream(setup: TrainSetup, start_step: int):
  """Host batches from (possibly) grain decode workers, for data that stays on the host."""
  workers = setup.config.train.loader_workers
  if workers < 0:  # auto: worker processes only for files to decode
    workers = 0 if isinstance(setup.splits.train, arrays.ArraySplit) else min(8, os.cpu_count()
                                                                               or 1)
  logging.info("training data gathered on the host (%d decode workers)", workers)
  return prefetch.host_batches(setup.splits.train, setup.sampler, start_step,
                               setup.total_steps, num_workers=workers)
