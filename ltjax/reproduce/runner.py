"""Runs a reproduction table's missing runs in dependency order and never re-runs a finished one.

Every (row, seed) has one run directory, `<workdir>/runs/<row>/seed<s>`; a run is finished when
its `results.json` exists there. Training rows without dependencies that share a model and a
loop (e.g. CE, focal, balanced softmax, logit adjustment on one ResNet-32) train together as
one population (`ltjax.train.population`), every seed of every such row a member; a member's
run directory is a link to `<workdir>/populations/<name>/members/<row>-seed<s>`. Rows that
read another row's finished run (decoupled, DLSA, routing: `builds_on`; distillation:
`teacher`) run per seed after it. A half-done run resumes from its checkpoint; a failure is
recorded in `failures.json` and the table still builds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import traceback
from typing import Any

import jax
import ml_collections

from ltjax import config as config_lib
from ltjax.config import keys as config_keys
from ltjax.reproduce import rows as rows_lib
from ltjax.reproduce import spec
from ltjax.runs import results as results_lib
from ltjax.train import members as members_lib

FAILURES = "failures.json"
TIMINGS = "timings.json"
# Config sections that shape training but never the data a run loads (a cache key of the
# data's hash; leaving a data key in only costs a rebuild).
_TRAINING_ONLY_SECTIONS = ("seed", "sampler", "augment", "model", "loss", "optimizer", "train",
                           "population", "debug", "stage")


def _stage_entry(stage: str):
  # The same registry `python -m ltjax.main` dispatches on (imported here, after JAX starts).
  from ltjax import main  # pylint: disable=g-import-not-at-top
  return main.stage_loaders()[stage]()


def device_name() -> str:
  devices = jax.devices()
  return f"{len(devices)} x {devices[0].device_kind}"


def read_json(path: str, default):
  if not os.path.exists(path):
    return default
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _check_overrides(overrides: list[tuple[str, str]]) -> None:
  """Each command-line override names a config key and holds a value of that key's rule,
  checked once before any run starts (otherwise every row would fail with the same error)."""
  rules = config_lib.key_rules()
  for key, value in overrides:
    config = config_lib.default_config()  # every row's config starts from it: same keys
    rows_lib.set_key(config, key, value)
    if key in rules:
      rules[key].check(config_keys.get_key(config, key), key)


@dataclasses.dataclass
class Job:
  """Runs of one program: a population of (row, seed) members, or one dependent run."""

  members: list[tuple[str, int]]
  population: bool


class Reproduction:
  """One table in one workdir under one schedule, seeds and overrides."""

  def __init__(self, table: spec.Table, workdir: str, seeds: list[int], schedule: str,
               cli_overrides: list[tuple[str, str]], only: list[str] | None = None):
    if schedule not in spec.SCHEDULES:
      raise ValueError(f"--schedule={schedule!r}: choose one of {list(spec.SCHEDULES)}")
    if schedule == "short" and not table.short:
      raise ValueError(f"table {table.name} declares no short schedule; use full or smoke")
    self.table, self.workdir, self.seeds = table, os.path.abspath(workdir), list(seeds)
    self.schedule, self.cli_overrides = schedule, list(cli_overrides)
    _check_overrides(self.cli_overrides)
    self.rows = self._with_dependencies(only)
    self.failures: dict[str, str] = read_json(os.path.join(self.workdir, FAILURES), {})
    self.timings: dict[str, Any] = read_json(os.path.join(self.workdir, TIMINGS), {})
    self._data_hashes: dict[str, str] = {}

  def _with_dependencies(self, only: list[str] | None) -> list[spec.Row]:
    wanted = set(only or [r.name for r in self.table.rows])
    for name in list(wanted):
      self.table.row(name)  # an unknown name fails here, naming the table's rows
    changed = True
    while changed:
      changed = False
      for r in self.table.rows:
        if r.name in wanted:
          for dep in (r.builds_on, r.teacher):
            if dep and dep not in wanted:
              wanted.add(dep)
              changed = True
    return [r for r in self.table.rows if r.name in wanted]

  def run_dir(self, row: str, seed: int) -> str:
    return os.path.join(self.workdir, "runs", row, f"seed{seed}")

  def finished(self, row: str, seed: int) -> bool:
    """Whether (row, seed) has a finished run here; raises ValueError when that run was made
    under another config than this command's (schedule, overrides, code defaults): reusing
    it would put its numbers under this table's label."""
    path = os.path.join(self.run_dir(row, seed), "results.json")
    if not os.path.exists(path):
      return False
    results = read_json(path, {})
    saved = results.get("config") or {}
    config = self.config(self.table.row(row), seed)
    changes = config_lib.fingerprint_changes(config_lib.run_identity(saved),
                                             config_lib.run_identity(config))
    if changes:
      shown = "; ".join(f"{k}: {v['old']!r} there, {v['new']!r} here"
                        for k, v in list(changes.items())[:4])
      more = f" (and {len(changes) - 4} more)" if len(changes) > 4 else ""
      raise ValueError(f"{self._key(row, seed)} in {self.workdir} was run under another "
                       f"config ({shown}{more}), so this {self.schedule}-schedule table would "
                       "show its numbers: use a fresh --workdir for this command, or delete "
                       f"{self.run_dir(row, seed)} to re-run it")
    # The same config can load other data (another copy of the dataset files under the same
    # keys): a training run records the hash of what it trained and tested on.
    if "data_hash" in results and config.stage == "train":
      here = self.data_hash(config)
      if results["data_hash"] != here:
        raise ValueError(f"{self._key(row, seed)} in {self.workdir} was trained on other data "
                         f"than this command loads (content hash {results['data_hash']} there, "
                         f"{here} here): point --config.dataset.data_dir at the files it was "
                         "trained on, use a fresh --workdir, or delete "
                         f"{self.run_dir(row, seed)} to re-run it")
    return True

  def data_hash(self, config: ml_collections.ConfigDict) -> str:
    """`DatasetSplits.content_hash` of the data `config` trains on, built once per data setup
    (the sections that only shape training are left out of the cache key)."""
    tree = {k: v for k, v in config.to_dict().items() if k not in _TRAINING_ONLY_SECTIONS}
    key = json.dumps(tree, sort_keys=True, default=str)
    if key not in self._data_hashes:
      from ltjax.train import setup as setup_lib  # pylint: disable=g-import-not-at-top
      self._data_hashes[key] = setup_lib.build_splits(config).content_hash()
    return self._data_hashes[key]

  @staticmethod
  def _key(row: str, seed: int) -> str:
    return f"{row}/seed{seed}"

  def config(self, row: spec.Row, seed: int) -> ml_collections.ConfigDict:
    deps = {}
    if row.builds_on:
      deps["builds_on"] = self.run_dir(row.builds_on, seed)
    if row.teacher:
      deps["teacher"] = self.run_dir(row.teacher, seed)
    return rows_lib.resolve(self.table, row, seed, self.schedule, self.cli_overrides, deps)

  # ---------------------------------------------------------------- planning
  def jobs(self) -> list[Job]:
    """Independent training rows grouped into populations first, then the dependent rows in
    dependency order, one run per seed; finished runs left out."""
    groups: dict[str, list[str]] = {}
    dependent = []
    for r in self.rows:
      try:
        c = self.config(r, self.seeds[0])
      except Exception:  # pylint: disable=broad-except  (fails again, recorded, when it runs)
        dependent.append(r)
        continue
      if c.stage == "train" and not r.teacher and not r.builds_on:
        groups.setdefault(_group_key(c), []).append(r.name)
      else:
        dependent.append(r)
    jobs = []
    for names in groups.values():
      members = [(n, s) for n in names for s in self.seeds if not self.finished(n, s)]
      if members:
        jobs.append(Job(members=members, population=True))
    done = {r.name for r in self.rows} - {r.name for r in dependent}
    while dependent:
      ready = [r for r in dependent if all(d in done for d in (r.builds_on, r.teacher) if d)]
      if not ready:
        raise ValueError("the table's rows depend on each other in a cycle: "
                         f"{[r.name for r in dependent]}")
      for r in ready:
        jobs.extend(Job(members=[(r.name, s)], population=False) for s in self.seeds
                    if not self.finished(r.name, s))
        done.add(r.name)
        dependent.remove(r)
    return jobs

  # ---------------------------------------------------------------- running
  def run(self, after_each=None) -> None:
    """Every job in order; a failure is recorded and the rest go on. `after_each()` is called
    when a job ends (the CLI rewrites the table, so a run cut short leaves a partial one)."""
    os.makedirs(self.workdir, exist_ok=True)
    jobs = self.jobs()
    total = sum(len(j.members) for j in jobs)
    print(f"reproduce {self.table.name}: {len(self.rows)} rows x {len(self.seeds)} seeds, "
          f"{total} runs to do ({self.schedule} schedule)", flush=True)
    done = 0
    for job in jobs:
      names = ", ".join(self._key(*m) for m in job.members)
      print(f"[{done + 1}-{done + len(job.members)}/{total}] {names}", flush=True)
      start = time.time()
      try:
        if job.population:
          self._run_population(job)
        else:
          self._run_single(*job.members[0])
      except Exception as e:  # a failed row is reported in the table; the others still run
        message = f"{type(e).__name__}: {e}".strip()
        for m in job.members:
          self.failures[self._key(*m)] = message
        print(f"  failed: {message}", flush=True)
        if os.environ.get("LTJAX_TRACEBACK"):
          traceback.print_exc()
      wall = time.time() - start
      for m in job.members:
        if self.finished(*m):
          self.failures.pop(self._key(*m), None)
          self.timings[self._key(*m)] = {"wall_s": wall, "device": device_name(),
                                         "runs_in_program": len(job.members)}
      done += len(job.members)
      self._save_state()
      if after_each is not None:
        after_each()

  def _save_state(self) -> None:
    if jax.process_index() == 0:
      results_lib.write_json_atomically(os.path.join(self.workdir, FAILURES), self.failures)
      results_lib.write_json_atomically(os.path.join(self.workdir, TIMINGS), self.timings)

  def _check_dependencies(self, row: spec.Row, seed: int) -> None:
    for dep in (row.builds_on, row.teacher):
      if dep and not self.finished(dep, seed):
        why = self.failures.get(self._key(dep, seed), "it has no finished run")
        raise RuntimeError(f"builds on {self._key(dep, seed)}, which did not finish ({why})")

  def _run_single(self, name: str, seed: int) -> None:
    row = self.table.row(name)
    self._check_dependencies(row, seed)
    config = self.config(row, seed)
    _stage_entry(config.stage)(config, self.run_dir(name, seed))

  def _run_population(self, job: Job) -> None:
    from ltjax import train  # pylint: disable=g-import-not-at-top
    members = []
    for name, seed in job.members:
      config = self.config(self.table.row(name), seed)
      member_config = ml_collections.ConfigDict(config.to_dict())
      member_config.population = config_lib.default_config().population
      members.append(members_lib.Member(name=f"{name}-seed{seed}", seed=seed,
                                        setting={"row": name}, config=member_config))
    shared = self.config(self.table.row(job.members[0][0]), job.members[0][1])
    directory = os.path.join(self.workdir, "populations", _population_name(job.members))
    summary = train.train_and_evaluate(shared, directory, members=members)
    for (name, seed), row in zip(job.members, summary["members"]):
      if row["status"] == "diverged":
        self.failures[self._key(name, seed)] = f"diverged: {row['diverged']}"
        continue
      link = self.run_dir(name, seed)
      os.makedirs(os.path.dirname(link), exist_ok=True)
      target = os.path.relpath(os.path.join(directory, "members", row["name"]),
                               os.path.dirname(link))
      if os.path.lexists(link):
        os.remove(link)
      os.symlink(target, link)


def _group_key(config: ml_collections.ConfigDict) -> str:
  """Rows that can share one program: equal shared keys (loop, data, teacher) and model."""
  fingerprint = config_lib.result_fingerprint(config)
  shared = {k: v for k, v in fingerprint.items()
            if k.startswith("model.") or any(k == p or k.startswith(p)
                                             for p in members_lib.shared_prefixes())}
  return json.dumps(shared, sort_keys=True)


def _population_name(members: list[tuple[str, int]]) -> str:
  rows = sorted({n for n, _ in members})
  seeds = sorted({s for _, s in members})
  name = "+".join(rows) + "-seeds" + "_".join(str(s) for s in seeds)
  if len(members) != len(rows) * len(seeds):  # not a full product: name the exact set
    name += "-" + hashlib.sha1(repr(sorted(members)).encode()).hexdigest()[:8]
  return name
