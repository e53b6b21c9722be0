"""What the training loop watches: progress lines (steps/s, ETA) and divergence."""

from __future__ import annotations

import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from ltjax.core import checkpoint


class TrainingDiverged(FloatingPointError):
  """The training loss or the parameters became non-finite."""


def diverged(what: str, step: int, lr: float, ckpt: checkpoint.Checkpointer) -> TrainingDiverged:
  """The divergence error, naming the step, the lr and the last good checkpoint."""
  ckpt.wait()  # a save in flight holds a state from before the divergence: let it land
  last = ckpt.latest.latest_step()
  head = f"training diverged: {what} at step {step} (learning rate {lr:.4g}); "
  if last is None:
    return TrainingDiverged(
        head + "no checkpoint was written before it. Lower optimizer.learning_rate (or check "
        "the data) and rerun with a fresh --workdir")
  return TrainingDiverged(
      head + f"the last good checkpoint, {os.path.join(str(ckpt.latest.directory), str(last))}"
      f" (step {last}), is intact. Lower optimizer.learning_rate (or check the data) and rerun, "
      "with a fresh --workdir or with --config.train.allow_config_change=True to continue "
      "from that checkpoint")


@jax.jit
def all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


class Progress:
  """steps/s and ETA for the log."""

  def __init__(self, start_step: int, total_steps: int):
    self.total = total_steps
    self.last_step, self.last_time = start_step, time.time()

  def compiled(self, step: int) -> None:
    """Restarts the clock once the first dispatch (which compiles the step) has returned, so
    the steps/s of the log count training only."""
    if step > self.last_step:
      self.last_step, self.last_time = step, time.time()

  def rate(self, step: int) -> float:
    """Steps/s since the previous call (since compilation ended, for the first); NaN for a
    step at or before the clock's start."""
    if step <= self.last_step:
      return float("nan")
    now = time.time()
    rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
    self.last_step, self.last_time = step, now
    return rate

  def line(self, step: int, rate: float, m: dict[str, float]) -> str:
    if np.isfinite(rate):
      speed = f"{rate:.1f} steps/s | ETA {(self.total - step) / max(rate, 1e-9) / 60:.1f} min"
    else:
      speed = "compiled"
    return (f"step {step}/{self.total} | {speed} | "
            f"loss {m['loss']:.4f} | acc {100 * m['accuracy']:.1f}% | lr {m['learning_rate']:.4g}")


def log_train_metrics(step, m, row, progress, log, ckpt):
  """Logs one step's metrics; `row` picks the step out of a multi-step dispatch's stack."""
  m = {k: float(v if row is None else v[row]) for k, v in jax.device_get(m).items()}
  if not np.isfinite(m["loss"]):
    raise diverged(f"the training loss became {m['loss']}", step, m["learning_rate"], ckpt)
  rate = progress.rate(step)
  logging.info(progress.line(step, rate, m))
  log.write(step, {f"train/{k}": v for k, v in m.items()} | {"train/steps_per_sec": rate})
