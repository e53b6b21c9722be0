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

from ltjax import config as config_lib
from ltjax import granularity
from ltjax import losses
from ltjax import models
from ltjax.core import optim
from ltjax.core import sharding
from ltjax.data import arrays
from ltjax.data import datasets
from ltjax.data import device_data
from ltjax.data import prefetch
from ltjax.data import samplers
from ltjax.granularity import auxiliary_splits
from ltjax.models import vit_checkpoint
from ltjax.ride import distill
from ltjax.train import steps


@dataclasses.dataclass
class TrainSetup:
  """A run's pieces before its first step (built once; nothing here is traced).

  Attributes:
    config: the validated config.
    splits: the data (`datasets.DatasetSplits`).
    mesh: the 1-D `data` mesh.
    attachment: the trained classes' prior counts, epoch pool and neighbours
      (`granularity.attach`).
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
  attachment: granularity.Attachment
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
    """T when auxiliary classes are trained (inference keeps the first T outputs), else None."""
    return self.attachment.num_targets


def build_splits(config: ml_collections.ConfigDict) -> datasets.DatasetSplits:
  """The run's data: the dataset's long-tailed splits, with category extrapolation's auxiliary
  classes added when `config.aux` names them."""
  return auxiliary_splits.add_auxiliary(datasets.build_splits(config), config)


def build(config: ml_collections.ConfigDict, splits: datasets.DatasetSplits,
          mesh: jax.sharding.Mesh) -> TrainSetup:
  """The run's model, sampler, schedule, optimizer and (abstract, sharded) state."""
  attachment = granularity.attach(splits, config.aux, config.seed)
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
  tx = optim.build_optimizer(config.optimizer, schedule, abstract_params)
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
      pretrained = os.path.join(config_lib.data_dir(setup.config), pretrained)
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


def objective(setup: TrainSetup) -> Callable[..., jax.Array]:
  """The batch objective of `loss.name` over the prior counts and neighbours of the run."""
  config = setup.config
  put = functools.partial(jax.device_put, device=setup.replicated)
  counts = put(jnp.asarray(setup.attachment.prior_counts, jnp.float32))
  neighbors = setup.attachment.neighbors
  if neighbors is not None:
    neighbors = put(jnp.asarray(neighbors, jnp.int32))
  num_experts = config.model.num_experts if models.is_multi_expert(config.model.name) else 1
  return losses.objective(losses.LossSpec.from_config(config.loss), counts, num_experts,
                          neighbors=neighbors, silencing=config.aux.silencing)


def teacher(setup: TrainSetup) -> tuple[Any, Any]:
  """(teacher module, its placed variables) of `distill.teacher_workdir`, or (None, None)."""
  workdir = setup.config.distill.teacher_workdir
  if not workdir:
    return None, None
  return distill.load_teacher(workdir, setup.splits.num_classes, setup.replicated)


def step_fn(setup: TrainSetup, objective_fn: Callable[..., jax.Array],
            teacher_module=None) -> Callable:
  """The pure train step (`steps.make_train_step`) of this run."""
  config, splits = setup.config, setup.splits
  return steps.make_train_step(
      setup.model, setup.tx, objective_fn, setup.schedule, mean=splits.mean, std=splits.std,
      steps_per_epoch=setup.steps_per_epoch,
      augment_spec=steps.AugmentSpec.from_config(config.augment, splits.test.image_shape[0]),
      teacher=teacher_module, teacher_train_bn=config.distill.teacher_train_bn,
      num_classes=splits.num_classes)


@dataclasses.dataclass(frozen=True)
class JittedSteps:
  """The compiled entry points of the training loop.

  With the data on the device, `one(state, data, idx, rng, teacher)` gathers its batch from
  indices and `many` scans several steps; otherwise `one(state, batch, rng, teacher)` takes a
  host batch and `many` is None.
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
