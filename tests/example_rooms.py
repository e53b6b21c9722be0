"""Three method rooms written the way a researcher adds a method: each is a record plus its
functions, registered from outside the package, touching no framework file. The README's
"Adding a method" shows them; `tests/test_adding_a_method.py` trains with each.

- POLY: a loss with its own scalar in its own config section (`config.poly.epsilon`), which a
  population can sweep: Poly-1 (Leng et al., ICLR 2022), CE + epsilon * (1 - p_t).
- CALIBRATE: a new stage (`config.stage = "calibrate"`): temperature scaling of a finished
  run's cached logits, the temperature fitted on validation NLL (Guo et al., 2017).
- SIMILARITY: a method that acts during training: it attaches a class-similarity table to the
  dataset (from the training images' class means) and the step reads it, adding
  `simreg.weight` x the cross-entropy to the similarity-smoothed targets of each label.
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from ltjax import config as config_lib
from ltjax import losses
from ltjax.core import metrics
from ltjax.core import plugins
from ltjax.core import rules
from ltjax.runs import feature_cache
from ltjax.runs import results as results_lib


# --- POLY: a loss with its own section -------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PolySpec:
  """`config.poly`: epsilon of Poly-1 (0 = cross-entropy)."""

  epsilon: float = rules.field(1.0, rules.Number(lo=-1))

  @classmethod
  def from_config(cls, section) -> "PolySpec":
    return cls(epsilon=section.epsilon)


def _poly_section() -> dict:
  # Each key with its default and its rule (config.validate checks it, before any data loads).
  return rules.keys_of(PolySpec)


def poly1_objective(spec: PolySpec, ctx: losses.ObjectiveContext):
  """mean over the batch of -log p_t + epsilon * (1 - p_t)."""
  del ctx

  def base(logits, features, labels, epoch, targets=None):
    del features, epoch, targets
    log_p = jax.nn.log_softmax(logits.astype(jnp.float32))
    log_pt = jnp.take_along_axis(log_p, labels[:, None], -1)[:, 0]
    return jnp.mean(-log_pt + spec.epsilon * (1.0 - jnp.exp(log_pt)))

  return base


POLY = plugins.MethodRecord(
    name="poly",
    sections=(plugins.Section("poly", _poly_section),),
    objectives={"poly1": losses.Objective(poly1_objective, spec=PolySpec, spec_section="poly")},
)


# --- CALIBRATE: a new stage ------------------------------------------------------------------
def _calibrate_section() -> dict:
  return {
      # A finished run with a feature cache (train.cache_features=True).
      "stage1_workdir": rules.Key("", rules.Text()),
      # Searched on val NLL.
      "temperatures": rules.Key(tuple(round(0.25 * i, 2) for i in range(1, 25)),
                                rules.Items(rules.POSITIVE, min_len=1)),
  }


def _calibrate_validate(config) -> None:
  """A relation: the stage needs its input run."""
  if config.stage == "calibrate" and not config.calibrate.stage1_workdir:
    raise ValueError("config.stage='calibrate' needs config.calibrate.stage1_workdir: the "
                     "workdir of a finished run")


def _nll(logits: np.ndarray, labels: np.ndarray) -> float:
  z = logits - logits.max(-1, keepdims=True)
  log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
  return float(-np.mean(log_p[np.arange(len(labels)), labels]))


def run_calibrate(config, workdir: str) -> dict:
  """Fits the temperature on val NLL, then scores test once; writes results.json."""
  config_lib.validate(config)  # every section's checks (this one's too) before any work
  source = config.calibrate.stage1_workdir
  val = feature_cache.load_split(source, "val")
  test = feature_cache.load_split(source, "test")
  if val is None:
    raise ValueError(f"{source} has no validation split to fit the temperature on")
  counts = val["class_counts"]
  scores = {float(t): _nll(val["logits"] / t, val["labels"]) for t in
            config.calibrate.temperatures}
  temperature = min(scores, key=scores.get)
  out = {"config": config.to_dict(), "temperature": temperature, "val_nll_by_t": scores,
         "test_before": metrics.evaluate_logits(test["logits"], test["labels"], counts),
         "test": metrics.evaluate_logits(test["logits"] / temperature, test["labels"], counts)}
  os.makedirs(workdir, exist_ok=True)
  results_lib.write_json_atomically(os.path.join(workdir, "results.json"), out)
  print(f"temperature {temperature}: test ECE {100 * out['test_before']['ece']:.2f} -> "
        f"{100 * out['test']['ece']:.2f}")
  return out


CALIBRATE = plugins.MethodRecord(
    name="calibrate",
    sections=(plugins.Section("calibrate", _calibrate_section, _calibrate_validate,
                              stage_only=True),),
    stages={"calibrate": lambda: run_calibrate},
)


# --- SIMILARITY: acts during training --------------------------------------------------------
def _simreg_section() -> dict:
  return {
      "weight": rules.Key(0.0, rules.NON_NEGATIVE),  # 0 = off
      # Softmax temperature over the class means' cosine similarities.
      "temperature": rules.Key(0.1, rules.POSITIVE),
  }


def similarity_table(images: np.ndarray, labels: np.ndarray, num_classes: int,
                     temperature: float) -> np.ndarray:
  """(C, C) row-stochastic: softmax over the cosine similarity of class-mean images."""
  flat = images.reshape(len(images), -1).astype(np.float64)
  means = np.stack([flat[labels == c].mean(0) for c in range(num_classes)])
  means /= np.linalg.norm(means, axis=1, keepdims=True)
  logits = means @ means.T / temperature
  logits -= logits.max(1, keepdims=True)
  table = np.exp(logits)
  return (table / table.sum(1, keepdims=True)).astype(np.float32)


def _attach_similarity(splits, config):
  """add_data: the table of the training split, in `splits.extras`."""
  if not config.simreg.weight:
    return splits
  table = similarity_table(splits.train.images, np.asarray(splits.train.labels),
                           splits.num_classes, config.simreg.temperature)
  return dataclasses.replace(splits, extras={**splits.extras, "similarity": table},
                             notes=(*splits.notes, "similarity regulariser: table attached"))


def _similarity_input(setup):
  """step_inputs: the table, handed to the step (read there, not baked into the program)."""
  if not setup.config.simreg.weight:
    return None
  table = jax.device_put(jnp.asarray(setup.splits.extras["similarity"]), setup.replicated)
  return plugins.StepInput(name="similarity", variables=table,
                           compute=lambda table, images: {"similarity": table})


def _with_similarity(objective, config, num_experts):
  """wrap_objective: + weight x cross-entropy to the table's row of each label."""
  del num_experts
  weight = config.simreg.weight
  if not weight:
    return objective

  def total(logits, features, labels, epoch, targets=None, **step_inputs):
    loss = objective(logits, features, labels, epoch, targets=targets, **step_inputs)
    soft = step_inputs["similarity"][labels]
    return loss + weight * jnp.mean(-jnp.sum(soft * jax.nn.log_softmax(logits), -1))

  return total


SIMILARITY = plugins.MethodRecord(
    name="simreg",
    sections=(plugins.Section("simreg", _simreg_section, shared=True),),
    hooks=plugins.TrainingHooks(add_data=_attach_similarity, step_inputs=_similarity_input,
                                wrap_objective=_with_similarity),
)


def read_json(path: str) -> dict:
  with open(path, encoding="utf-8") as f:
    return json.load(f)
