"""The 1-D `data` mesh, global batches from per-process slices, and multi-host start-up.

Parameters and optimizer state are replicated (`P()`); batches are split along the batch axis
over every device of every host (`P("data")`). Under jit, reductions over a batch-sharded global
array are global, so the loss mean and BatchNorm statistics span the whole global batch
(synchronised BN) without any explicit collective.
"""

from __future__ import annotations

import os

from absl import logging
import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

DATA_AXIS = "data"
MEMBER_AXIS = "member"  # population training: members split over devices (train.population)


def maybe_initialize_distributed() -> None:
  """Calls `jax.distributed.initialize()` when launched as one of several processes.

  Detected from the environment: JAX_COORDINATOR_ADDRESS (+ JAX_NUM_PROCESSES,
  JAX_PROCESS_ID), or a Slurm / Open MPI launch of more than one task, or a multi-host TPU
  slice. Must run before any other JAX call.
  """
  env = os.environ
  explicit = "JAX_COORDINATOR_ADDRESS" in env
  slurm = int(env.get("SLURM_NTASKS", "1")) > 1
  mpi = int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1
  tpu_pod = "," in env.get("TPU_WORKER_HOSTNAMES", "")
  if not (explicit or slurm or mpi or tpu_pod):
    return
  kwargs = {}
  if explicit:
    kwargs = dict(coordinator_address=env["JAX_COORDINATOR_ADDRESS"],
                  num_processes=int(env["JAX_NUM_PROCESSES"]),
                  process_id=int(env["JAX_PROCESS_ID"]))
  if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in env:
    # Cross-process collectives between CPU devices need gloo (the default has none, and a
    # multi-process CPU run would hang in its first all-reduce); GPU / TPU ignore the option.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(**kwargs)
  logging.info("jax.distributed initialised: process %d of %d", jax.process_index(),
               jax.process_count())


def make_data_mesh() -> jax.sharding.Mesh:
  """A 1-D mesh over every device of every process, axis name `data`.

  The axis is `Auto`: shardings are given at the jit boundary and XLA propagates them, so the
  model code stays free of sharding annotations.
  """
  return jax.make_mesh((jax.device_count(),), (DATA_AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,))


def make_population_mesh(member_devices: int) -> jax.sharding.Mesh:
  """A 2-D (`member`, `data`) mesh: members split over `member_devices` devices, each member's
  batch over the rest. With `member_devices=1` every device holds every member and the
  `data`-axis shardings of a single run apply unchanged."""
  count = jax.device_count()
  if count % member_devices:
    raise ValueError(f"config.population.member_devices={member_devices} does not divide the "
                     f"{count} devices; choose a divisor of {count}")
  if member_devices > 1 and jax.process_count() > 1:
    raise ValueError("config.population.member_devices > 1 is single-process only for now; "
                     "on several hosts keep member_devices=1 (members replicated, batches "
                     "split over every device)")
  return jax.make_mesh((member_devices, count // member_devices), (MEMBER_AXIS, DATA_AXIS),
                       axis_types=(jax.sharding.AxisType.Auto,) * 2)


def member_sharded(mesh: jax.sharding.Mesh) -> NamedSharding:
  """A population's stacked state: its leading (member) axis over the `member` mesh axis."""
  return NamedSharding(mesh, P(MEMBER_AXIS))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: jax.sharding.Mesh, axis: int = 0,
                  members: bool = False) -> NamedSharding:
  """Split along `axis` (the batch axis) over the `data` mesh axis; with `members`, the axis
  before it (a population's member axis) over the `member` mesh axis."""
  if members:
    return NamedSharding(mesh, P(*([None] * (axis - 1)), MEMBER_AXIS, DATA_AXIS))
  return NamedSharding(mesh, P(*([None] * axis), DATA_AXIS))


def check_batch_size(global_batch: int, what: str = "train.batch_size") -> None:
  """The global batch must split evenly over devices (per-device batch = global / devices)."""
  if global_batch % jax.device_count():
    raise ValueError(f"config.{what}={global_batch} is not divisible by the "
                     f"{jax.device_count()} devices; choose a multiple of {jax.device_count()}")


def global_batch(mesh: jax.sharding.Mesh, local: dict[str, np.ndarray], axis: int = 0,
                 members: bool = False) -> dict[str, jax.Array]:
  """Assembles global arrays, split along the batch `axis`, from this process's slices
  (`members`: the axis before it is a population's member axis, `batch_sharded`)."""
  sharding = batch_sharded(mesh, axis, members)
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}
