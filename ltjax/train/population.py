"""Population training: every member of `config.population` in one compiled train step.

The members' train states are stacked along a leading member axis (laid over the `member`
mesh axis, `core.sharding.make_population_mesh`). Each member is built exactly as a single run
(`setup.build` of its own config): its own initialisation, sampler stream, augmentation rng,
BatchNorm statistics, optimizer state, schedule and objective. One jitted step advances them
all, in one of two ways (`population.execution`):

- "vmap": members whose configs differ only in the seed share one step function, vmapped over
  the member axis (one batched computation per group);
- "loop": each member's own step, one after another inside the same program.

"auto" takes "loop" on CPU, where XLA lowers a vmapped convolution to a grouped convolution
that ran several times slower than the members one by one (`experiments/bench.py population`),
and "vmap" on GPU / TPU. Either way there is one dispatch per step for the whole population.

`PopulationRun` gives the loop (`train.trainer`) the interface of `single_run.SingleRun`; each
member writes `<workdir>/members/<name>/` as a single run would, and the population writes
`<workdir>/population.json`.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from ltjax.core import checkpoint
from ltjax.core import evaluate
from ltjax.core import metric_log
from ltjax.core import sharding
from ltjax.runs import population_results
from ltjax.runs import results as results_lib
from ltjax.train import members as members_lib
from ltjax.train import monitor
from ltjax.train import resume
from ltjax.train import setup as setup_lib
from ltjax.train import single_run

MEMBERS_DIR = "members"


def resolve_execution(requested: str, backend: str | None = None) -> str:
  """"vmap" or "loop" for `population.execution` on this backend ("auto": loop on CPU)."""
  if requested != "auto":
    return requested
  return "loop" if (backend or jax.default_backend()) == "cpu" else "vmap"


def _shape_signature(abstract_state):
  return (jax.tree.structure(abstract_state),
          [(a.shape, a.dtype) for a in jax.tree.leaves(abstract_state)])


def check_compatible(members: list[members_lib.Member], setups: list) -> None:
  """Members share one stacked state and one loop: equal state shapes and equal steps."""
  first, ref = setups[0], _shape_signature(setups[0].abstract_state)
  for member, s in zip(members[1:], setups[1:]):
    if _shape_signature(s.abstract_state) != ref:
      keys = ", ".join(members_lib.differing_keys(members[0].config, member.config))
      raise ValueError(
          f"population member {member.name} has a train state of other shapes than "
          f"{members[0].name} (they differ in {keys}): a population sweeps only settings that "
          "keep every array's shape (not model size, number of experts or classes); train "
          "the others as separate runs")
    if (s.steps_per_epoch, s.total_steps) != (first.steps_per_epoch, first.total_steps):
      raise ValueError(
          f"population member {member.name} takes {s.steps_per_epoch} steps per epoch, "
          f"{members[0].name} {first.steps_per_epoch}: members share one loop, so the "
          "sampler must give every member the same number of steps")


def _take(tree, index):
  return jax.tree.map(lambda a: a[index], tree)


def _stack(trees):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def population_step(member_fns: list[Callable], groups: list[list[int]],
                    vmapped: bool) -> Callable:
  """`step(state, batch, rngs, input_variables=None)` over member-stacked arguments (the
  step inputs' variables, e.g. a teacher's, are shared by every member).

  `member_fns[i]` is member i's single-run step; a group shares its first member's function
  (vmapped when `vmapped`), every other member runs its own.
  """
  num_members = len(member_fns)

  def step(state, batch, rngs, input_variables=None):
    if vmapped and len(groups) == 1:  # the common case: one batched step for everyone
      return jax.vmap(member_fns[0], in_axes=(0, 0, 0, None))(state, batch, rngs,
                                                             input_variables)
    outs: list[Any] = [None] * num_members
    for group in groups:
      if vmapped and len(group) > 1:
        idx = jnp.asarray(group)
        new, metrics = jax.vmap(member_fns[group[0]], in_axes=(0, 0, 0, None))(
            _take(state, idx), _take(batch, idx), rngs[idx], input_variables)
        for j, i in enumerate(group):
          outs[i] = _take((new, metrics), j)
      else:
        for i in group:
          outs[i] = member_fns[i](_take(state, i), _take(batch, i), rngs[i], input_variables)
    return _stack(outs)

  return step


@jax.jit
def _members_finite(params) -> jax.Array:
  """(M,) whether each member's parameters are all finite."""
  leaves = jax.tree.leaves(params)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x), axis=tuple(range(1, x.ndim)))
                            for x in leaves]), axis=0)


class PopulationRun:
  """The members of `members_lib.expand(config)` trained together, writing into `workdir`."""

  index_axis = 1  # index arrays are (members, batch)

  def __init__(self, config, members: list[members_lib.Member], splits, mesh, workdir: str):
    self.config, self.members, self.splits, self.mesh, self.workdir = (config, members, splits,
                                                                        mesh, workdir)
    num = len(members)
    if num % config.population.member_devices:
      raise ValueError(f"the population has {num} members, which the "
                       f"{config.population.member_devices} devices of "
                       "population.member_devices cannot split evenly; choose a divisor")
    members_lib.check_shared(members)
    self.setups = [setup_lib.build(m.config, splits, mesh) for m in members]
    check_compatible(members, self.setups)
    self.execution = resolve_execution(config.population.execution)
    groups = (members_lib.vmap_groups(members) if self.execution == "vmap"
              else [[i] for i in range(num)])
    logging.info("population of %d members (%s), execution %s: %s", num,
                 ", ".join(m.name for m in members), self.execution,
                 f"{len(groups)} vmapped group(s)" if self.execution == "vmap"
                 else "each member's step in turn")
    print(f"population: {num} member{'s' if num != 1 else ''}, one compiled step "
          f"({self.execution})", flush=True)
    first = self.setups[0]
    self.sampler = first.sampler  # position(step) only: every member has the same epochs
    self.replicated = sharding.replicated(mesh)
    member_sharding = sharding.member_sharded(mesh)
    self.state_sharding = jax.tree.map(lambda _: member_sharding, first.abstract_state)
    self.abstract_state = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct((num, *a.shape), a.dtype, sharding=member_sharding),
        first.abstract_state)
    self.member_dirs = [os.path.join(workdir, MEMBERS_DIR, m.name) for m in members]
    self.ckpt = checkpoint.Checkpointer(workdir, config.train.keep_checkpoints, best=False)
    self.member_ckpts = [checkpoint.Checkpointer(d, latest=False) for d in self.member_dirs]
    self.state, self.config_changes, self.diverged = self._restore_or_init()
    inputs = setup_lib.step_inputs(first)
    self.input_variables = setup_lib.input_variables(inputs)
    fns = [setup_lib.step_fn(s, setup_lib.objective(s), inputs) if self._leads(i, groups)
           else None for i, s in enumerate(self.setups)]
    self.jitted = setup_lib.jit_steps(self, population_step(fns, groups,
                                                            self.execution == "vmap"))
    if not self.jitted.on_device:
      raise ValueError("population training gathers each member's batch on the device: it "
                       "needs an in-memory training split that fits "
                       "(train.data_on_device='auto' or 'on'; CIFAR, digits, arrays); train "
                       "file datasets as separate runs")
    self.rng = jax.device_put(jnp.stack([s.train_rng for s in self.setups]), self.replicated)
    self.take_member = jax.jit(_take, out_shardings=self.replicated)
    self.run_evals = self._eval_fns()
    self.logs = [metric_log.MetricLog(d) for d in self.member_dirs]
    if jax.process_index() == 0:
      results_lib.write_json_atomically(os.path.join(workdir, "config.json"), config.to_dict())
    for m, d in zip(members, self.member_dirs):
      single_run.write_run_files(d, m.config, splits)

  @staticmethod
  def _leads(i: int, groups: list[list[int]]) -> bool:
    return any(g[0] == i for g in groups)

  @property
  def steps_per_epoch(self) -> int:
    return self.setups[0].steps_per_epoch

  @property
  def total_steps(self) -> int:
    return self.setups[0].total_steps

  def indices(self, epoch: int, batch_in_epoch: int) -> np.ndarray:
    """(members, local batch): each member's indices of this batch from its own sampler."""
    return np.stack([s.sampler.local_indices(epoch, batch_in_epoch) for s in self.setups])

  def _eval_fns(self) -> list[Callable]:
    """Each member's evaluation; members with the same model share one compiled step."""
    compiled: dict[str, Callable] = {}
    fns = []
    for s in self.setups:
      key = repr(sorted(s.config.model.to_dict().items()))
      if key not in compiled:
        compiled[key] = setup_lib.eval_step(s)
      fns.append(functools.partial(evaluate.evaluate_split, compiled[key],
                                   class_counts=s.class_counts, mesh=self.mesh,
                                   batch_size=self.config.train.eval_batch_size))
    return fns

  def _position(self, step: int) -> dict[str, Any]:
    return {"step": int(step), "members": [m.name for m in self.members],
            "positions": {m.name: resume.data_position(step, s.sampler, m.config,
                                                       self.splits)
                          for m, s in zip(self.members, self.setups)},
            "diverged": self.diverged}

  def _restore_or_init(self):
    saved = self.ckpt.latest_position()
    if saved is None:
      state = jax.jit(_stack, out_shardings=self.state_sharding)(
          [setup_lib.initial_state(s) for s in self.setups])
      return state, [], {}
    names = [m.name for m in self.members]
    if saved.get("members") != names:  # checked first: another population has other shapes
      what = (f"the population {saved['members']}" if "members" in saved
              else "a single run's checkpoint")
      raise ValueError(f"the checkpoint in {self.workdir} holds {what}, but this config gives "
                       f"the population {names}; resume with the original population.seeds / "
                       "population.sweep or use a fresh --workdir")
    state, position = self.ckpt.restore_latest(self.abstract_state)
    changes = {}
    for m, s in zip(self.members, self.setups):
      saved = position["positions"][m.name]
      resume.check_position(saved, resume.data_position(saved["step"], s.sampler, m.config,
                                                        self.splits), self.workdir)
      changes |= {f"{m.name}: {k}": v
                  for k, v in resume.check_config(saved, m.config, self.workdir).items()}
    history = (resume.record_change(self.workdir, position["step"], changes) if changes
               else resume.change_history(self.workdir))
    return state, history, dict(position.get("diverged", {}))

  def _live(self) -> list[int]:
    return [i for i, m in enumerate(self.members) if m.name not in self.diverged]

  def _mark_diverged(self, i: int, what: str, step: int, lr: float) -> None:
    name = self.members[i].name
    self.diverged[name] = {"step": int(step), "what": what, "learning_rate": float(lr)}
    logging.warning("population member %s diverged at step %d (%s, learning rate %.4g); the "
                    "others go on", name, step, what, lr)
    if not self._live():
      raise monitor.diverged(f"every population member diverged ({what} last)", step, lr,
                             self.ckpt)

  def log_step(self, step, metrics, row, progress) -> None:
    """Each member's metrics to its log; the progress line shows the live members' mean."""
    m = {k: np.asarray(v if row is None else v[row], np.float64)
         for k, v in jax.device_get(metrics).items()}
    for i in self._live():
      if not np.isfinite(m["loss"][i]):
        self._mark_diverged(i, f"the training loss became {m['loss'][i]}", step,
                            m["learning_rate"][i])
    live = self._live()
    rate = progress.rate(step)
    means = {k: float(np.mean(v[live])) for k, v in m.items()}
    logging.info("%s (mean of %d members)", progress.line(step, rate, means), len(live))
    for i in live:
      self.logs[i].write(step, {f"train/{k}": float(v[i]) for k, v in m.items()}
                         | {"train/steps_per_sec": rate})

  def end_of_epoch(self, state, step: int) -> None:
    """Each live member validated (keeping its best); the population checkpointed."""
    config = self.config
    done_epochs, last = step // self.steps_per_epoch, step == self.total_steps
    finite = np.asarray(jax.device_get(_members_finite(state.params)))
    for i in self._live():
      if not finite[i]:
        self._mark_diverged(i, "the parameters became non-finite", step,
                            float(self.setups[i].schedule(step - 1)))
    if self.splits.val is not None and (done_epochs % config.train.eval_every_epochs == 0
                                        or last):
      for i in self._live():
        member_state = self.take_member(state, i)
        val = self.run_evals[i](member_state, self.splits.val)
        single_run.log_validation(self.logs[i], step, done_epochs, val, self.members[i].name)
        self.member_ckpts[i].save_if_best(step, member_state, val["top1"])
    if done_epochs % config.train.checkpoint_every_epochs == 0 or last:
      self.ckpt.save(step, state, self._position(step))
      single_run.maybe_kill_during_save(config, step)

  def close_checkpoints(self) -> None:
    self.ckpt.wait()
    for c in self.member_ckpts:
      c.wait()

  def finish(self, state) -> dict[str, Any]:
    """Each member selected, tested once and written; then population.json and its table."""
    rows = []
    for i, (m, s, d) in enumerate(zip(self.members, self.setups, self.member_dirs)):
      place = {"population": {"workdir": os.path.abspath(self.workdir), "member": m.name,
                              "setting": m.setting, "size": len(self.members)}}
      if m.name in self.diverged:
        self.member_ckpts[i].close()
        self.logs[i].close()
        if jax.process_index() == 0:
          results_lib.write_json_atomically(os.path.join(d, "diverged.json"),
                                            place | {"diverged": self.diverged[m.name]})
        rows.append(population_results.member_row(m.name, m.seed, m.setting, None,
                                                  self.diverged[m.name]))
        continue
      out = single_run.finish_member(s, d, self.member_ckpts[i], self.take_member(state, i),
                                     self.run_evals[i], self.config_changes, place, show=False)
      rows.append(population_results.member_row(m.name, m.seed, m.setting, out))
      self.logs[i].close()
    self.ckpt.close()
    summary = population_results.summarize(rows)
    path = os.path.join(self.workdir, "population.json")
    if jax.process_index() == 0:
      population_results.write(path, summary)
      print(population_results.format_table(summary), flush=True)
      if results_lib.is_smoke(self.members[0].config):
        print(results_lib.SMOKE_CAVEAT, flush=True)
      print(f"population results written to {path}", flush=True)
    return summary
