r"""Lockstep fidelity (issue 19): ltjax and the reference PyTorch code, same weights, same batches.

  pip install -e '.[bench]'                      # torch==2.13.0 (CPU build)
  git clone https://github.com/frank-xwang/RIDE-LongTailRecognition /tmp/ride_ref
  git clone https://github.com/kaidic/LDAM-DRW /tmp/ldam_ref
  git clone https://github.com/silicx/DLSA /tmp/dlsa_ref
  python experiments/lockstep.py --method ride --reference /tmp/ride_ref \
      --data-dir ../shared/data --resync-every 2 --control-steps 100
  python experiments/lockstep.py --method ldam_drw --reference /tmp/ldam_ref \
      --data-dir ../shared/data --resync-every 2 --control-steps 100
  python experiments/lockstep.py --method dlsa_flow --reference /tmp/dlsa_ref \
      --data-dir ../shared/data

Both sides start from the same weights (ltjax's initialisation, transplanted into the
reference module), see the same batches and take N optimizer steps; after every step the script
compares losses, gradient norms, every parameter tensor and every running statistic, and writes
experiments/results/lockstep_<method>.md and .png itself (command, date, machine, summary).

Three comparisons run in the same loop, on the same batches:
- free-running: ltjax and the reference each train on their own from the shared start (the
  lockstep proper); its drift is what float rounding grows into under the method's dynamics;
- control (--control, default on): a second reference copy whose start weights are multiplied
  by (1 + 1e-7 * N(0, 1)), trained alongside: how fast the REFERENCE drifts from itself under a
  rounding-sized perturbation, the yardstick for the free-running drift;
- re-synchronised one-step check (--resync, default on): before every step a second ltjax state
  is overwritten with the reference's current parameters, BatchNorm statistics and momentum
  buffers (DLSA: its balance EMA), then both take the step; the difference after it is one
  step's error at that point of the schedule (warm-up, DRW switch, lr drops), free of
  accumulated chaos. "rel update diff" = ||d_ltjax - d_ref|| / ||d_ref|| of the parameter
  change d of that step.

Methods:
- ride: the reference's RIDE ResNet-32 (`model/ldam_drw_resnets/ride_resnet_cifar.py`, 3 reduced
  experts) and `RIDELoss` (`model/loss.py`), its hook called before every epoch with the 1-based
  epoch, torch.optim.SGD (Nesterov, momentum 0.9, wd 5e-4) under a LambdaLR with the
  reference's CustomLR rule, stepped after every epoch. ltjax: configs/cifar10_lt/ride_e3.py.
- ldam_drw: kaidic/LDAM-DRW's `models/resnet_cifar.py` resnet32(use_norm=True) and `losses.py`
  LDAMLoss, rebuilt before every epoch with the DRW per-class weights (beta 0, then 0.9999), SGD
  (momentum 0.9, wd 2e-4), the lr set before every epoch by the reference's rule.
  ltjax: configs/cifar10_lt/ldam_drw.py.
- dlsa_flow: silicx/DLSA's `models/FlowGMM.py` (its MAF of `models/Flows.py`; the mixture means
  set to ltjax's) and its flow loss: `models/losses.py` SoftCrossEntropyContrastLoss for the
  purity term, the NLL weighted by the `utils/datasets.py` ContrastiveDataset weights, and the
  EMA balance term written out as `train_dlsa.py::finetune_representations` has it; SGD without
  momentum. ltjax: `ltjax.models.flows` through `ltjax.dlsa.flow_training.make_flow_step`, the
  config of configs/dlsa/cifar10_lt_ce.py. Features: synthetic (class-dependent Gaussians) for
  the CIFAR-10-LT labels. The end-to-end DLSA pipeline is NOT compared here.

Only the trainer loops are written here (the references need their JSON / argparse / yaml
drivers and data loaders); models and losses are the references' own modules, imported from the
checkout given with --reference, unchanged. Nothing of theirs is copied into this file.

Data: the CIFAR-10-LT IF 100 train split (Cao et al. protocol, built by ltjax's dataset builder);
batches drawn by ltjax's IndexSampler with an "epoch" of --steps-per-epoch steps (both sides use
that definition for the schedule, the DRW switch and the loss hooks). Each batch is augmented
ONCE on the host by ltjax's own augmentation functions (pad-4 crop, flip, and for RIDE the
+-15 degree rotation); the same uint8 pixels go to both sides (ltjax's train step then runs with
its augmentation off). fp32 on CPU.

Drift: per tensor rel = ||ltjax - reference||_2 / ||reference||_2; tables give the largest over
the parameter tensors and name it; running statistics (BatchNorm buffers) are reported apart.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.util
import math
import os
import platform
import subprocess
import sys
import time
import types
from typing import Any, NamedTuple

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ("ride", "ldam_drw", "dlsa_flow")
CONFIGS = {"ride": "configs/cifar10_lt/ride_e3.py", "ldam_drw": "configs/cifar10_lt/ldam_drw.py",
           "dlsa_flow": "configs/dlsa/cifar10_lt_ce.py"}
REFERENCE_MARKERS = {"ride": "model/loss.py", "ldam_drw": "losses.py",
                     "dlsa_flow": "models/FlowGMM.py"}
SUMMARY_STEPS = (1, 10, 100)
CONTROL_PERTURBATION = 1e-7


# ------------------------------------------------------------------------------ helpers
def load_config(relpath: str, overrides: dict):
  from ltjax.config import keys as config_keys  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location("lockstep_config", os.path.join(REPO, relpath))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  for key, value in overrides.items():
    config_keys.set_value(config, key, value)
  return config


def _load_module(name: str, path: str):
  """Imports one file of a reference checkout under a private module name."""
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@contextlib.contextmanager
def cuda_calls_are_no_ops():
  """The references call `.cuda()` and build `torch.cuda.FloatTensor`s unconditionally; on a
  CPU-only machine these become CPU no-ops while the reference code runs (nothing else)."""
  import torch  # pylint: disable=g-import-not-at-top
  saved = (torch.Tensor.cuda, torch.nn.Module.cuda, torch.cuda.FloatTensor)
  torch.Tensor.cuda = lambda self, *a, **k: self
  torch.nn.Module.cuda = lambda self, *a, **k: self
  torch.cuda.FloatTensor = torch.FloatTensor
  try:
    yield
  finally:
    torch.Tensor.cuda, torch.nn.Module.cuda, torch.cuda.FloatTensor = saved


def relative_differences(ours: dict, ref: dict) -> dict:
  """{name: ||ours - ref|| / ||ref||} over the names of `ref` (0 / 0 = 0). The difference of two
  float32 arrays is taken in float32 (exact for close values), the norms accumulated in
  float64."""
  out = {}
  for name, r in ref.items():
    r = np.asarray(r).ravel()
    d = (np.asarray(ours[name]).ravel() - r).astype(np.float64)
    r = r.astype(np.float64)
    diff, norm = math.sqrt(float(d @ d)), math.sqrt(float(r @ r))
    out[name] = diff / norm if norm > 0 else (0.0 if diff == 0 else math.inf)
  return out


def worst(rel: dict) -> tuple[float, str]:
  if not rel:
    return 0.0, "-"
  name = max(rel, key=rel.get)
  return rel[name], name


def machine() -> str:
  # experiments/ is importable as a package once main() has put the checkout on sys.path.
  from experiments import bench  # pylint: disable=g-import-not-at-top
  cpu = bench.cpu_name()
  return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def _git(path: str, *cmd: str) -> str:
  try:
    return subprocess.run(["git", *cmd], cwd=path, capture_output=True, text=True,
                          check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return ""


def ltjax_commit() -> str:
  head = _git(REPO, "rev-parse", "--short", "HEAD") or "unknown"
  dirty = _git(REPO, "status", "--porcelain", "--untracked-files=no", "ltjax")
  return head + (" with uncommitted changes under ltjax/" if dirty else "")


# -------------------------------------------------------- the reference lr rules, by hand
def ride_lr_factor(epoch0: int, warmup: int, step1: int, step2: int, gamma: float) -> float:
  """RIDE train.py's CustomLR LambdaLR factor at 0-based epoch `epoch0`: gamma^2 from step2,
  gamma from step1, then times (1 + epoch0) / warmup inside the warm-up."""
  factor = gamma * gamma if epoch0 >= step2 else gamma if epoch0 >= step1 else 1.0
  if epoch0 < warmup:
    factor *= (1 + epoch0) / warmup
  return factor


def ldam_drw_lr(epoch0: int, base: float, warmup: int, drop1: int, drop2: int,
                factors=(1e-2, 1e-4)) -> float:
  """LDAM-DRW cifar_train.py's adjust_learning_rate (1-based epoch inside): linear per-epoch
  warm-up, then x1e-4 after drop2 and x1e-2 after drop1 (1-based: epoch > drop)."""
  epoch = epoch0 + 1
  if epoch <= warmup:
    return base * epoch / warmup
  if epoch > drop2:
    return base * factors[1]
  if epoch > drop1:
    return base * factors[0]
  return base


def ldam_drw_weights(counts, epoch0: int, drw_epoch: int) -> np.ndarray:
  """The DRW per-class weights LDAM-DRW's script builds before an epoch (beta 0, then 0.9999)."""
  beta = 0.9999 if epoch0 >= drw_epoch else 0.0
  effective = 1.0 - np.power(beta, counts)
  w = (1.0 - beta) / np.array(effective)
  return w / np.sum(w) * len(counts)


def _weights():
  """The ltjax <-> torch name mapping (`ltjax.models.torch_weights`), imported on use."""
  from ltjax.models import torch_weights  # pylint: disable=g-import-not-at-top
  return torch_weights


def load_into_torch(module, state: dict) -> None:
  """Copies `state` into the torch module; every parameter and buffer must be covered except
  BatchNorm's step counters and the references' constant masks / means."""
  import torch  # pylint: disable=g-import-not-at-top
  current = module.state_dict()
  missing = [k for k in current if k not in state and not k.endswith(
      ("num_batches_tracked", ".mask", "base_dist_mean", "base_dist_var")) and k != "means"]
  unknown = [k for k in state if k not in current]
  if missing or unknown:
    raise SystemExit(f"weight transplant does not cover the reference module: missing "
                     f"{missing[:5]}, unknown {unknown[:5]}")
  for k, v in state.items():
    if tuple(current[k].shape) != v.shape:
      raise SystemExit(f"transplant shape mismatch at {k}: {tuple(current[k].shape)} vs "
                       f"{v.shape}")
  module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()},
                         strict=False)


def torch_grad_norm(module) -> float:
  total = 0.0
  for p in module.parameters():
    if p.grad is not None:
      total += float((p.grad.double() ** 2).sum())
  return math.sqrt(total)


class TorchSide:
  """What every reference side shares: its state and momentum buffers by reference name."""
  model: Any
  optimizer: Any

  def state(self, names) -> dict:
    sd = self.model.state_dict()
    return {k: sd[k].detach().numpy().copy() for k in names}

  def momentum(self) -> dict:
    out = {}
    for name, p in self.model.named_parameters():
      buf = self.optimizer.state.get(p, {}).get("momentum_buffer")
      out[name] = None if buf is None else buf.detach().numpy().copy()
    return out

  def perturb(self, scale: float, seed: int) -> None:
    """Multiplies every parameter by (1 + scale * N(0, 1)) (the control run)."""
    import torch  # pylint: disable=g-import-not-at-top
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
      for p in self.model.parameters():
        p.mul_(1 + scale * torch.randn(p.shape, generator=generator))


# ------------------------------------------------------------------- image methods
def image_overrides(args) -> dict:
  return {
      "dataset.data_dir": args.data_dir,
      "seed": args.seed,
      "train.batch_size": args.batch,
      "train.num_epochs": args.steps // args.steps_per_epoch,
      "train.steps_per_epoch_limit": args.steps_per_epoch,
      "optimizer.warmup_epochs": args.warmup_epochs,
      "optimizer.decay_epochs": tuple(args.decay_epochs),
      "loss.drw_epoch": args.drw_epoch,
  }


class LtjaxImageSide:
  """ltjax's own train step (steps.make_train_step) on the config's model, objective,
  optimizer and schedule, with augmentation off (the host augmented the batch)."""

  def __init__(self, config, splits, steps_per_epoch: int):
    import jax  # pylint: disable=g-import-not-at-top
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    from ltjax import losses  # pylint: disable=g-import-not-at-top
    from ltjax import models  # pylint: disable=g-import-not-at-top
    from ltjax.core import optim  # pylint: disable=g-import-not-at-top
    from ltjax.train import steps  # pylint: disable=g-import-not-at-top
    self.model = models.build_model(config.model.name, splits.num_classes,
                                    **models.config_kwargs(config.model))
    self.schedule = optim.learning_rate_schedule(config.optimizer, steps_per_epoch,
                                                 config.train.num_epochs)
    init_rng, _ = jax.random.split(jax.random.key(config.seed))  # as ltjax.train
    image_shape = splits.test.image_shape
    abstract = jax.eval_shape(lambda r: self.model.init(r, jnp.zeros((1, *image_shape)),
                                                        train=False), init_rng)["params"]
    self.tx = optim.build_optimizer(config.optimizer, self.schedule, abstract)
    self.state = jax.jit(lambda r: steps.init_state(self.model, self.tx, r, image_shape))(
        init_rng)
    num_experts = config.model.num_experts if models.is_multi_expert(config.model.name) else 1
    objective = losses.objective(config.loss, jnp.asarray(splits.class_counts, jnp.float32),
                                 num_experts)
    step_fn = steps.make_train_step(
        self.model, self.tx, objective, self.schedule, mean=splits.mean, std=splits.std,
        steps_per_epoch=steps_per_epoch,
        augment_spec=steps.AugmentSpec(kind="pad_crop_flip", crop_padding=0, flip=False,
                                       rotation_degrees=0.0))
    self._step = jax.jit(step_fn)
    self._rng = jax.random.key(0)  # unused: augmentation is off

  def variables(self):
    import jax  # pylint: disable=g-import-not-at-top
    return jax.device_get({"params": self.state.params, "batch_stats": self.state.batch_stats})

  def load(self, variables, trace, step: int):
    """Overwrites params, BatchNorm statistics, the momentum trace (None: zeros, torch's state
    before its first step) and the step counters (the epoch the objective reads and the
    optimizer's schedule count) with the reference's state before global step `step`."""
    import jax  # pylint: disable=g-import-not-at-top
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    import optax  # pylint: disable=g-import-not-at-top
    as_jnp = lambda t: jax.tree.map(jnp.asarray, t)
    if trace is None:
      trace = jax.tree.map(jnp.zeros_like, self.state.params)
    count = jnp.asarray(step, jnp.int32)
    opt_state = optax.tree_utils.tree_set(self.state.opt_state, trace=as_jnp(trace),
                                          count=count)
    self.state = self.state.replace(step=count, params=as_jnp(variables["params"]),
                                    batch_stats=as_jnp(variables["batch_stats"]),
                                    opt_state=opt_state)

  def step(self, batch):
    import jax  # pylint: disable=g-import-not-at-top
    self.state, m = self._step(self.state, {"image": batch["image"], "label": batch["label"]},
                               self._rng)
    m = jax.device_get(m)
    return {"loss": float(m["loss"]), "grad_norm": float(m["grad_norm"]),
            "lr": float(m["learning_rate"])}


class TorchImageSide(TorchSide):
  """The reference model and loss under its own optimizer and schedule, driven per epoch as
  the reference trainer drives them."""

  def __init__(self, method, reference, counts, num_classes, args, config):
    import torch  # pylint: disable=g-import-not-at-top
    self.method, self.args, self.config = method, args, config
    self.counts = [int(c) for c in counts]
    oc = config.optimizer
    with cuda_calls_are_no_ops():
      if method == "ride":
        if os.path.abspath(reference) not in sys.path:
          sys.path.insert(0, os.path.abspath(reference))
        from model.ldam_drw_resnets import ride_resnet_cifar  # pylint: disable=g-import-not-at-top
        from model import loss as ride_loss  # pylint: disable=g-import-not-at-top
        # What the reference's ResNet32Model builds for its CIFAR RIDE configs.
        self.model = ride_resnet_cifar.ResNet_s(
            ride_resnet_cifar.BasicBlock, [5, 5, 5], num_experts=config.model.num_experts,
            num_classes=num_classes, reduce_dimension=True, use_norm=True)
        self.criterion = ride_loss.RIDELoss(
            cls_num_list=self.counts,
            additional_diversity_factor=config.loss.ride_diversity_factor, reweight=True,
            reweight_epoch=args.drw_epoch)
      else:
        resnet_cifar = _load_module("ldam_ref_resnet_cifar",
                                    os.path.join(reference, "models", "resnet_cifar.py"))
        self.ldam_losses = _load_module("ldam_ref_losses", os.path.join(reference, "losses.py"))
        self.model = resnet_cifar.resnet32(num_classes=num_classes, use_norm=True)
        self.criterion = None
    self.optimizer = torch.optim.SGD(self.model.parameters(), lr=oc.learning_rate,
                                     momentum=oc.momentum, weight_decay=oc.weight_decay,
                                     nesterov=oc.nesterov)
    self.scheduler = None
    if method == "ride":
      gamma = oc.decay_factors[0]  # RIDE's CustomLR: gamma, then gamma^2
      step1, step2 = args.decay_epochs
      self.scheduler = torch.optim.lr_scheduler.LambdaLR(
          self.optimizer, lambda e: ride_lr_factor(e, args.warmup_epochs, step1, step2, gamma))
    self.model.train()

  def before_epoch(self, epoch0: int):
    import torch  # pylint: disable=g-import-not-at-top
    args = self.args
    if self.method == "ride":
      self.criterion._hook_before_epoch(epoch0 + 1)  # pylint: disable=protected-access
      return
    oc = self.config.optimizer
    lr = ldam_drw_lr(epoch0, oc.learning_rate, args.warmup_epochs, *args.decay_epochs,
                     factors=tuple(oc.decay_factors))
    for group in self.optimizer.param_groups:
      group["lr"] = lr
    weights = torch.FloatTensor(ldam_drw_weights(self.counts, epoch0, args.drw_epoch))
    with cuda_calls_are_no_ops():
      self.criterion = self.ldam_losses.LDAMLoss(
          cls_num_list=self.counts, max_m=self.config.loss.ldam_max_margin,
          s=self.config.loss.ldam_scale, weight=weights)

  def after_epoch(self):
    if self.scheduler is not None:
      self.scheduler.step()

  def step(self, batch):
    lr = self.optimizer.param_groups[0]["lr"]
    self.optimizer.zero_grad()
    with cuda_calls_are_no_ops():
      output = self.model(batch["x"])
      if self.method == "ride":
        loss = self.criterion(output_logits=output, target=batch["y"],
                              extra_info={"logits": self.model.logits})
      else:
        loss = self.criterion(output, batch["y"])
    loss.backward()
    grad_norm = torch_grad_norm(self.model)
    self.optimizer.step()
    return {"loss": float(loss.item()), "grad_norm": grad_norm, "lr": lr}


def torch_inputs(images_u8, mean, std):
  """ToTensor + Normalize of the reference transforms on the shared uint8 batch."""
  import torch  # pylint: disable=g-import-not-at-top
  x = torch.from_numpy(np.array(images_u8)).permute(0, 3, 1, 2).float() / 255.0
  m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
  s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
  return ((x - m) / s).contiguous()


def setup_image(args) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from ltjax.data import augment, datasets, samplers  # pylint: disable=g-import-not-at-top
  config = load_config(CONFIGS[args.method], image_overrides(args))
  splits = datasets.build_splits(config)
  print(datasets.describe(splits), flush=True)

  def make_ltjax():
    return LtjaxImageSide(config, splits, args.steps_per_epoch)

  def make_ref():
    torch.manual_seed(args.seed)
    return TorchImageSide(args.method, args.reference, splits.class_counts, splits.num_classes,
                          args, config)

  sampler = samplers.IndexSampler(splits.train.labels, config.sampler, config.seed,
                                  args.batch, max_steps_per_epoch=args.steps_per_epoch)
  ac = config.augment
  host_augment = jax.jit(lambda im, r: augment.augment_batch(
      im, r, kind=ac.kind, crop_padding=ac.crop_padding, flip=ac.flip,
      rotation_degrees=ac.rotation_degrees))
  aug_key = jax.random.key(args.seed + 1000)
  input_diff = []

  def batch_at(step):
    epoch, b = divmod(step, args.steps_per_epoch)
    idx = sampler.local_indices(epoch, b)
    images = np.asarray(host_augment(splits.train.gather(idx), jax.random.fold_in(aug_key, step)))
    labels = np.asarray(splits.train.labels[idx], np.int32)
    x = torch_inputs(images, splits.mean, splits.std)
    if not input_diff:
      ours_x = np.asarray(augment.normalize(images, splits.mean, splits.std))
      input_diff.append(float(np.abs(ours_x - x.permute(0, 2, 3, 1).numpy()).max()))
    return {"image": images, "label": labels, "x": x,
            "y": torch.from_numpy(labels.astype(np.int64))}

  def constants(ref):
    """Largest per-class relative differences of the loss constants: ltjax's functions vs the
    reference's own tensors (RIDELoss / LDAMLoss attributes) or, for LDAM-DRW's DRW weights,
    which its training script computes in its loop, this script's copy of that float64 numpy
    formula."""
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    from ltjax import losses  # pylint: disable=g-import-not-at-top
    counts = jnp.asarray(splits.class_counts, jnp.float32)

    def rel(a, b):  # the largest per-class relative difference
      a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
      return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30)))
    lc = config.loss
    out = {}
    if args.method == "ride":
      crit = ref.criterion
      out["LDAM margins (ldam_margins vs RIDELoss.m_list)"] = rel(
          losses.ldam_margins(counts, lc.ldam_max_margin), crit.m_list.numpy())
      out["DRW class weights (class_balanced_weights vs RIDELoss.per_cls_weights_enabled)"] = (
          rel(losses.class_balanced_weights(counts, 0.9999),
              crit.per_cls_weights_enabled.numpy()))
      out["per-class diversity temperature (diversity_temperature vs RIDELoss."
          "per_cls_weights_enabled_diversity)"] = rel(
              losses.diversity_temperature(counts, True, base_temperature=1.0,
                                           reweight_factor=lc.ride_reweight_factor),
              crit.per_cls_weights_enabled_diversity.numpy())
    else:
      ref.before_epoch(0)
      out["LDAM margins (ldam_margins vs LDAMLoss.m_list)"] = rel(
          losses.ldam_margins(counts, lc.ldam_max_margin), ref.criterion.m_list.numpy())
      weights_at = losses.class_weights_schedule(lc, counts)
      out["DRW class weights (class_weights_schedule at the DRW epoch vs cifar_train.py's "
          "float64 formula)"] = rel(weights_at(args.drw_epoch),
                                    ldam_drw_weights(splits.class_counts, args.drw_epoch,
                                                     args.drw_epoch))
    return out

  info = {"describe": datasets.describe(splits), "config": config,
          "steps_per_epoch": args.steps_per_epoch, "input_diff": input_diff}
  return {"make_ltjax": make_ltjax, "make_ref": make_ref, "batch_at": batch_at,
          "entries": lambda v: _weights().image_entries(v), "info": info,
          "constants": constants}


# -------------------------------------------------------------------- the DLSA flow
def synthetic_features(labels: np.ndarray, dim: int, seed: int) -> np.ndarray:
  """Class-dependent Gaussian features (N, dim), float32: a class centre N(0, I) per class plus
  N(0, I) noise, so that classes overlap as real penultimate features do."""
  rng = np.random.default_rng(seed)
  centres = rng.standard_normal((int(labels.max()) + 1, dim))
  return (centres[labels] + rng.standard_normal((len(labels), dim))).astype(np.float32)


def grad_norm_probe():
  """An optax transformation that passes updates through unchanged and keeps their global norm
  (the gradient's, when first in a chain) in its state."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top

  class ProbeState(NamedTuple):
    norm: Any

  def init_fn(params):
    del params
    return ProbeState(norm=jnp.zeros((), jnp.float32))

  def update_fn(updates, state, params=None):
    del state, params
    return updates, ProbeState(norm=optax.tree.norm(updates))

  return optax.GradientTransformation(init_fn, update_fn)


class LtjaxFlowSide:
  """ltjax's flow, mixture means and jitted flow step (flow_training.make_flow_step) as
  train_flow sets them up, its SGD behind a gradient-norm probe."""

  def __init__(self, fc, dim, seed, stage=0):
    import jax  # pylint: disable=g-import-not-at-top
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    import optax  # pylint: disable=g-import-not-at-top
    from ltjax.dlsa import flow_training, mixture  # pylint: disable=g-import-not-at-top
    from ltjax.models import flows  # pylint: disable=g-import-not-at-top
    self.fc = fc
    self.flow = flows.build_flow(fc.kind, dim, num_blocks=fc.num_blocks, hidden=fc.hidden)
    means_key, init_key = jax.random.split(jax.random.fold_in(jax.random.key(seed), stage))
    self.means = mixture.random_means(means_key, fc.num_clusters, dim, fc.center_std)
    variables = self.flow.init(init_key, jnp.zeros((2, dim), jnp.float32))
    tx = optax.chain(grad_norm_probe(),
                     optax.inject_hyperparams(optax.sgd)(learning_rate=fc.learning_rate))
    self.state = flow_training.FlowState(
        step=jnp.zeros((), jnp.int32), params=variables["params"],
        batch_stats=variables["batch_stats"], opt_state=tx.init(variables["params"]),
        balance_ema=jnp.zeros((fc.num_clusters,), jnp.float32),
        skipped=jnp.zeros((), jnp.int32))
    self._step = jax.jit(flow_training.make_flow_step(self.flow, self.means, tx, fc))

  def variables(self):
    import jax  # pylint: disable=g-import-not-at-top
    return jax.device_get({"params": self.state.params, "batch_stats": self.state.batch_stats})

  def load(self, variables, ema, step: int):
    """The reference's flow weights, BN statistics and balance EMA before global step `step`
    (the EMA's bias correction reads the step counter)."""
    import jax  # pylint: disable=g-import-not-at-top
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    as_jnp = lambda t: jax.tree.map(jnp.asarray, t)
    self.state = self.state.replace(
        step=jnp.asarray(step, jnp.int32),
        params=as_jnp(variables["params"]), batch_stats=as_jnp(variables["batch_stats"]),
        balance_ema=jnp.asarray(ema if ema is not None else np.zeros(self.fc.num_clusters),
                                jnp.float32))

  def step(self, batch):
    import jax  # pylint: disable=g-import-not-at-top
    self.state, m = self._step(self.state, {k: batch[k] for k in ("anchor", "negative",
                                                                   "weight")})
    m = jax.device_get(m)
    return {"loss": float(m["loss"]), "lr": self.fc.learning_rate,
            "grad_norm": float(jax.device_get(self.state.opt_state[0].norm)),
            "finite": bool(m["finite"])}


class TorchFlowSide(TorchSide):
  """silicx/DLSA's FlowGMM and its flow loss (the finetune_representations step, written out),
  torch.optim.SGD without momentum, constant lr."""

  def __init__(self, reference, fc, dim, means, contrast_cls, flowgmm_cls):
    import torch  # pylint: disable=g-import-not-at-top
    ns = types.SimpleNamespace
    ref_args = ns(feat_dim=dim, gmflow=ns(model=ns(
        num_cluster=fc.num_clusters, gmm_center_std=fc.center_std, n_blocks=fc.num_blocks,
        n_hidden=1, input_order="sequential", batch_norm=True)))
    del reference
    self.fc = fc
    self.model = flowgmm_cls(ref_args)
    with torch.no_grad():
      self.model.means.copy_(torch.from_numpy(np.asarray(means))[None])
    self.optimizer = torch.optim.SGD(self.model.parameters(), lr=fc.learning_rate, momentum=0.0)
    self.contrast = contrast_cls(None)
    self.ema = 0.0  # finetune_representations' posterior_p_k_momentum
    self.iteration = 1

  def ema_numpy(self):
    return None if isinstance(self.ema, float) else self.ema.numpy().copy()

  def load_ema(self, ema, iteration):
    import torch  # pylint: disable=g-import-not-at-top
    self.ema = 0.0 if ema is None else torch.from_numpy(np.array(ema))
    self.iteration = iteration

  def step(self, batch):
    import torch  # pylint: disable=g-import-not-at-top
    fc = self.fc
    self.model.train()
    _, log_p_pos, log_lh_pos = self.model(batch["pos"])
    _, log_p_neg, _ = self.model(batch["neg"])
    total = -(log_lh_pos * batch["rev_wgt"]).mean() * fc.lambda_lh
    total = total + self.contrast(log_p_neg, log_p_pos.detach()) * fc.lambda_pur
    posterior = torch.softmax(log_p_pos, -1).mean(0) + 1e-7
    posterior = self.ema * fc.ema_momentum + posterior * (1.0 - fc.ema_momentum)
    self.ema = posterior.detach()
    posterior = posterior * (1.0 / (1.0 - math.pow(fc.ema_momentum, self.iteration)))
    self.iteration += 1
    balance = (posterior.log() * posterior).sum() + math.log(fc.num_clusters)
    total = total + balance * fc.lambda_bal
    self.optimizer.zero_grad()
    total.backward()
    grad_norm = torch_grad_norm(self.model)
    self.optimizer.step()
    return {"loss": float(total.item()), "grad_norm": grad_norm,
            "lr": self.optimizer.param_groups[0]["lr"]}


@contextlib.contextmanager
def stub_missing_modules(names, stubbed: list):
  """Puts empty placeholder modules in sys.modules for those of `names` that cannot be
  imported, for the duration (the reference's utils/datasets.py imports easydict and, through
  utils/io.py, tensorboard's SummaryWriter at module level; ContrastiveDataset uses neither).
  The names actually stubbed are appended to `stubbed` and stated in the report."""
  added = []
  for name in names:
    try:
      importlib.import_module(name)
    except ImportError:
      module = types.ModuleType(name)
      leaf = name.rsplit(".", 1)[-1]
      placeholder = type("Unavailable_" + leaf, (), {"__init__": _unavailable})
      for attr in ("EasyDict", "SummaryWriter"):
        setattr(module, attr, placeholder)
      sys.modules[name] = module
      added.append(name)
  stubbed.extend(added)
  try:
    yield
  finally:
    for name in added:
      sys.modules.pop(name, None)


def _unavailable(self, *args, **kwargs):
  raise RuntimeError(f"{type(self).__name__}: a module stubbed by lockstep.py was used")


def reference_flow_weights(dataset_module, features, labels, q: float) -> np.ndarray:
  """The reference ContrastiveDataset's per-class NLL weights, indexed by true class (it
  numbers classes by first appearance; an item's weight is its anchor's class weight)."""
  import torch  # pylint: disable=g-import-not-at-top
  ds = dataset_module.ContrastiveDataset(torch.from_numpy(features), torch.from_numpy(labels), q)
  out = np.zeros(int(labels.max()) + 1, np.float64)
  for new_index, cls in enumerate(dict.fromkeys(labels.tolist())):
    if set(labels[ds.ids_per_class[new_index]].tolist()) != {cls}:
      raise SystemExit("the reference ContrastiveDataset numbers classes unexpectedly")
    out[cls] = ds.reverse_freq[new_index]
  return out


def setup_flow(args) -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  from ltjax.data import datasets  # pylint: disable=g-import-not-at-top
  from ltjax.dlsa import flow_training  # pylint: disable=g-import-not-at-top
  from ltjax.dlsa import stage as dlsa_stage  # pylint: disable=g-import-not-at-top
  from ltjax.models import flows  # pylint: disable=g-import-not-at-top
  # The features' labels: the CIFAR-10-LT train split from ltjax's dataset builder.
  cifar = load_config("configs/cifar10_lt/ce.py", {"dataset.data_dir": args.data_dir})
  splits = datasets.build_splits(cifar)
  labels = np.asarray(splits.train.labels, np.int64)
  num_classes = splits.num_classes
  features = synthetic_features(labels, args.feature_dim, args.seed)
  dim = features.shape[1]
  config = load_config(CONFIGS["dlsa_flow"], {"dlsa.flow.batch_size": args.flow_batch})
  fc = dlsa_stage.dlsa_config(config.dlsa).flow
  ours_weights = flow_training.class_weights(labels, num_classes, fc.weight_q,
                                             fc.nll_class_scaling)
  reference = os.path.abspath(args.reference)
  if reference not in sys.path:
    sys.path.insert(0, reference)
  from models import FlowGMM as flowgmm_module  # pylint: disable=g-import-not-at-top
  from models import losses as dlsa_losses  # pylint: disable=g-import-not-at-top
  stubbed = []
  with stub_missing_modules(("easydict", "tensorboard", "torch.utils.tensorboard",
                             "torch.utils.tensorboard.writer"), stubbed):
    dataset_module = _load_module("dlsa_ref_datasets",
                                  os.path.join(reference, "utils", "datasets.py"))
  ref_weights = reference_flow_weights(dataset_module, features, labels, fc.weight_q)
  # ltjax's nll_class_scaling is the reference's loss with its weights times C / 1000.
  scale = num_classes / flow_training.REFERENCE_NUM_CLASSES if fc.nll_class_scaling else 1.0
  weight_diff = float(np.abs(ours_weights - ref_weights * scale).max()
                      / np.abs(ref_weights * scale).max())
  batch = min(fc.batch_size, len(labels))
  steps_per_epoch = max(1, len(labels) // batch)
  first = {}

  def make_ltjax():
    side = LtjaxFlowSide(fc, dim, args.seed)
    first.setdefault("means", np.asarray(side.means))
    return side

  def make_ref():
    torch.manual_seed(args.seed)
    if "means" not in first:
      raise RuntimeError("build the ltjax side first (its means go to the reference)")
    side = TorchFlowSide(reference, fc, dim, first["means"],
                         dlsa_losses.SoftCrossEntropyContrastLoss, flowgmm_module.FlowGMM)
    if "mask_diff" not in first:
      sd = side.model.state_dict()
      diff = 0.0
      for b in range(fc.num_blocks):
        masks = flows.made_masks(dim, fc.hidden or dim, bool(b % 2))
        for m, key in zip(masks, ("net_input", "net.1", "net.3")):
          diff = max(diff, float(np.abs(sd[f"nf.net.{2 * b}.{key}.mask"].numpy() - m.T).max()))
      first["mask_diff"] = diff
    return side

  pairs = {}

  def batch_at(step):
    epoch, b = divmod(step, steps_per_epoch)
    if pairs.get("epoch") != epoch:
      pairs["epoch"] = epoch
      pairs["a"], pairs["n"] = flow_training.sample_pairs(labels, steps_per_epoch, batch,
                                                          args.seed, 0, epoch)
    a_idx, n_idx = pairs["a"][b], pairs["n"][b]
    return {"anchor": features[a_idx], "negative": features[n_idx],
            "weight": ours_weights[labels[a_idx]],
            "pos": torch.from_numpy(features[a_idx]), "neg": torch.from_numpy(features[n_idx]),
            # The reference's DataLoader collates its float64 numpy weights to float64.
            "rev_wgt": torch.from_numpy(ref_weights[labels[a_idx]] * scale)}

  info = {"fc": fc, "dim": dim, "n": len(labels), "batch": batch, "num_classes": num_classes,
          "steps_per_epoch": steps_per_epoch, "weight_diff": weight_diff, "first": first,
          "scale": scale, "stubbed": stubbed}
  return {"make_ltjax": make_ltjax, "make_ref": make_ref, "batch_at": batch_at,
          "entries": lambda v: _weights().flow_entries(fc.num_blocks), "info": info}


# ----------------------------------------------------------------------- the engine
def _compare(ours_state, ref_state, buffer_names):
  rel = relative_differences(ours_state, ref_state)
  params = {k: v for k, v in rel.items() if k not in buffer_names}
  stats = {k: v for k, v in rel.items() if k in buffer_names}
  p, p_name = worst(params)
  s, s_name = worst(stats)
  return {"param_rel": p, "param_name": p_name, "stat_rel": s, "stat_name": s_name,
          "median_param_rel": float(np.median(list(params.values())))}


def _metrics(a, b):
  return {"loss_ltjax": a["loss"], "loss_ref": b["loss"], "dloss": abs(a["loss"] - b["loss"]),
          "gn_ltjax": a["grad_norm"], "gn_ref": b["grad_norm"],
          "dgn": abs(a["grad_norm"] - b["grad_norm"]) / max(b["grad_norm"], 1e-30)}


def run(args, setup) -> dict:
  """The lockstep loop: free-running ltjax vs reference, the perturbed-reference control and
  the re-synchronised one-step check, on the same batches."""
  is_flow = args.method == "dlsa_flow"
  ours = setup["make_ltjax"]()
  ref = setup["make_ref"]()
  init = ours.variables()
  entries = setup["entries"](init)
  where = {e.name: e.ltjax_path for e in entries}
  names = [e.name for e in entries]
  buffer_names = {e.name for e in entries if e.collection == "batch_stats"}
  param_names = [e.name for e in entries if e.collection == "params"]
  start_state = _weights().to_torch_layout(init, entries)
  load_into_torch(ref.model, start_state)
  if max(relative_differences(start_state, ref.state(names)).values()) != 0:
    raise SystemExit("the transplant did not copy the weights exactly")
  # The mapping both ways: the reference's state read back into ltjax's layout is ltjax's.
  back = _weights().from_torch_layout(ref.state(names), entries, init)
  import jax  # pylint: disable=g-import-not-at-top
  roundtrip = max(float(np.abs(np.asarray(x) - np.asarray(y)).max())
                  for x, y in zip(jax.tree.leaves(back), jax.tree.leaves(init)))
  if roundtrip != 0:
    raise SystemExit(f"the reference -> ltjax mapping is not the inverse ({roundtrip})")
  ref_params = sum(p.numel() for p in ref.model.parameters())
  ours_params = sum(int(np.prod(np.shape(x))) for x in jax.tree.leaves(init["params"]))
  if ref_params != ours_params:
    raise SystemExit(f"parameter counts differ: ltjax {ours_params}, reference {ref_params}")
  constants = setup["constants"](ref) if "constants" in setup else {}
  for k, v in constants.items():
    print(f"constant check: {k}: max rel diff {v:.2g}", flush=True)
  control = resync = None
  if args.control:
    control = setup["make_ref"]()
    load_into_torch(control.model, start_state)
    control.perturb(CONTROL_PERTURBATION, args.seed + 7)
  if args.resync:
    resync = setup["make_ltjax"]()

  spe = setup["info"]["steps_per_epoch"]
  records, times = [], {"ltjax": 0.0, "reference": 0.0, "control": 0.0, "resync": 0.0}
  for step in range(args.steps):
    epoch, b = divmod(step, spe)
    if not is_flow and b == 0:
      for side in (ref, control):
        if side is not None:
          side.before_epoch(epoch)
    batch = setup["batch_at"](step)
    # Every k-th step, every epoch's first step (the hooks, the lr and DRW switch there) and
    # the summary steps.
    check = resync is not None and ((step + 1) % args.resync_every == 0 or b == 0
                                    or step + 1 in (*SUMMARY_STEPS, args.steps))
    if check:
      before = ref.state(names)
      resync.load(_weights().from_torch_layout(before, entries, init),
                  ref.ema_numpy() if is_flow else _trace(ref.momentum(), entries, init), step)
    tick = time.time()
    a = ours.step(batch)
    times["ltjax"] += time.time() - tick
    tick = time.time()
    r = ref.step(batch)
    times["reference"] += time.time() - tick
    record = {"step": step + 1, "epoch": epoch, "lr_ltjax": a["lr"], "lr_ref": r["lr"],
              **_metrics(a, r)}
    after = ref.state(names)
    record.update(_compare(_weights().to_torch_layout(ours.variables(), entries), after, buffer_names))
    if control is not None and step < args.control_steps:
      tick = time.time()
      c = control.step(batch)
      times["control"] += time.time() - tick
      cmp = _compare(control.state(names), after, buffer_names)
      record.update({"control_rel": cmp["param_rel"], "control_name": cmp["param_name"],
                     "control_dloss": abs(c["loss"] - r["loss"])})
    if check:
      tick = time.time()
      o = resync.step(batch)
      times["resync"] += time.time() - tick
      one = _weights().to_torch_layout(resync.variables(), entries)
      cmp = _compare(one, after, buffer_names)
      update_rel = relative_differences({k: one[k] - before[k] for k in param_names},
                                        {k: after[k] - before[k] for k in param_names})
      u, u_name = worst(update_rel)
      # What float32 can resolve of that tensor's step: half an ulp of the weights relative to
      # the size of the step (near 1 when lr is so small that w + d rounds back to ~w).
      step_norm = float(np.linalg.norm((after[u_name] - before[u_name]).astype(np.float64)))
      floor = (2.0 ** -24 * float(np.linalg.norm(before[u_name].astype(np.float64)))
               / max(step_norm, 1e-30))
      record.update({"resync_" + k: v for k, v in {**_metrics(o, r), **cmp}.items()})
      record.update({"resync_update_rel": u, "resync_update_name": u_name,
                     "resync_update_floor": floor,
                     "resync_median_update_rel": float(np.median(list(update_rel.values())))})
    if not is_flow and b == spe - 1:
      for side in (ref, control):
        if side is not None:
          side.after_epoch()
    records.append(record)
    _print_record(record, args.every)
  return {"records": records, "where": where, "times": times, "params": ref_params,
          "constants": constants}


def _trace(momentum: dict, entries, template):
  """The reference's momentum buffers as an ltjax params-shaped trace (None before step 1)."""
  if all(v is None for v in momentum.values()):
    return None
  if any(v is None for v in momentum.values()):
    raise SystemExit("some momentum buffers exist and others not")
  return _weights().from_torch_layout(momentum, entries, template, collections=("params",))["params"]


def _print_record(r, every):
  line = (f"step {r['step']:4d} ep {r['epoch']:3d} lr {r['lr_ltjax']:.3g}/{r['lr_ref']:.3g} "
          f"loss {r['loss_ltjax']:.6f}/{r['loss_ref']:.6f} |d| {r['dloss']:.2e} "
          f"rel dgn {r['dgn']:.2e} drift {r['param_rel']:.2e}")
  if "control_rel" in r:
    line += f" control {r['control_rel']:.2e}"
  if "resync_update_rel" in r:
    line += (f" | one-step |d| {r['resync_dloss']:.1e} dgn {r['resync_dgn']:.1e} "
             f"update {r['resync_update_rel']:.1e}")
  if r["step"] % every == 0 or r["step"] == 1:
    line += f" [{r['param_name']}]"
  print(line, flush=True)


# ----------------------------------------------------------------------- reporting
def _e(x, digits=2):
  if x is None:
    return "-"
  if x == 0:
    return "0"
  return f"{x:.{digits}e}"


def plot(records, path, title, events):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  steps = [r["step"] for r in records]
  floor = lambda v: max(v, 1e-12)
  fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
  ax1.plot(steps, [r["loss_ref"] for r in records], label="reference (PyTorch)", lw=1.6)
  ax1.plot(steps, [r["loss_ltjax"] for r in records], "--", label="ltjax (free-running)", lw=1.1)
  ax1.set_ylabel("training loss (batch)")
  ax1.set_title(title)
  ax1.legend(fontsize=8)
  ax2.semilogy(steps, [floor(r["param_rel"]) for r in records], lw=1.4,
               label="free-running ltjax vs reference: max over tensors")
  ax2.semilogy(steps, [floor(r["median_param_rel"]) for r in records], lw=0.8,
               label="free-running: median over tensors")
  with_control = [r for r in records if "control_rel" in r]
  with_resync = [r for r in records if "resync_update_rel" in r]
  if with_control:
    ax2.semilogy([r["step"] for r in with_control],
                 [floor(r["control_rel"]) for r in with_control], lw=1.0,
                 label=f"control: reference vs reference with weights x(1+{CONTROL_PERTURBATION:g}"
                       "·N(0,1)), max")
  if with_resync:
    ax2.semilogy([r["step"] for r in with_resync],
                 [floor(r["resync_update_rel"]) for r in with_resync], lw=0.8,
                 label="re-synchronised one step: max rel update diff")
    ax2.semilogy([r["step"] for r in with_resync],
                 [floor(r["resync_median_update_rel"]) for r in with_resync], lw=0.8,
                 label="re-synchronised one step: median rel update diff")
  ax2.axhline(1e-3, color="grey", lw=0.6, ls=":")
  ax2.set_ylabel("relative parameter difference")
  ax2.set_xlabel("step")
  for ax in (ax1, ax2):
    for x, name in events:
      if x > steps[-1]:
        continue
      ax.axvline(x, color="k", lw=0.5, ls="--")
      ax.text(x, 0.98, " " + name, transform=ax.get_xaxis_transform(), fontsize=7, va="top")
  ax2.legend(fontsize=7, loc="lower right")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def write_report(args, setup, result, wall):
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  info = setup["info"]
  records = result["records"]
  n = len(records)
  by_step = {r["step"]: r for r in records}
  spe = info["steps_per_epoch"]
  controlled = [r for r in records if "control_rel" in r]
  checked = [r for r in records if "resync_update_rel" in r]
  has_control, has_resync = bool(controlled), bool(checked)
  os.makedirs(args.out_dir, exist_ok=True)
  out_md = os.path.join(args.out_dir, f"lockstep_{args.method}.md")
  out_png = os.path.join(args.out_dir, f"lockstep_{args.method}.png")
  if args.method == "dlsa_flow":
    events = [(spe * e + 1, f"epoch {e}") for e in range(1, (n - 1) // spe + 1)]
    title = "DLSA flow (MAF + flow loss): ltjax vs silicx/DLSA"
  else:
    events = [(args.warmup_epochs * spe + 1, "warm-up done"), (args.drw_epoch * spe + 1, "DRW"),
              (args.decay_epochs[0] * spe + 1, "lr drop 1"),
              (args.decay_epochs[1] * spe + 1, "lr drop 2")]
    title = {"ride": "RIDE-3: ltjax vs frank-xwang/RIDE-LongTailRecognition",
             "ldam_drw": "LDAM-DRW: ltjax vs kaidic/LDAM-DRW"}[args.method]
  plot(records, out_png, title, events)
  where = result["where"]
  ref_commit = _git(args.reference, "rev-parse", "--short", "HEAD") or "unknown"
  t = result["times"]
  lines = [
      f"# Lockstep fidelity: {title}",
      "",
      f"Written {datetime.datetime.now():%Y-%m-%d %H:%M} by `experiments/lockstep.py` on "
      f"{machine()}; torch {torch.__version__}, jax {jax.__version__} "
      f"({jax.devices()[0].platform}), float32, {args.threads} intra-op thread(s) on each "
      f"side (XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}). ltjax at {ltjax_commit()}; "
      f"reference checkout "
      f"`{args.reference}` at {ref_commit}. Wall time {wall:.0f} s (inside the steps: ltjax "
      f"{t['ltjax']:.0f} s, reference {t['reference']:.0f} s, control {t['control']:.0f} s, "
      f"re-synchronised ltjax {t['resync']:.0f} s).",
      "",
      "Command:", "", "```", "python " + " ".join(sys.argv), "```", "",
  ]
  if args.method == "dlsa_flow":
    fc = info["fc"]
    first = info["first"]
    lines += [
        f"Setup: ltjax config `{CONFIGS['dlsa_flow']}`: flow {fc.kind}, {fc.num_blocks} "
        f"blocks, hidden = D = {info['dim']}, K = {fc.num_clusters} fixed means ~ "
        f"N(0, {fc.center_std}^2 I) (ltjax's, copied into the reference), SGD lr "
        f"{fc.learning_rate} constant without momentum, lambda lh {fc.lambda_lh} / purity "
        f"{fc.lambda_pur} / balance {fc.lambda_bal}, q {fc.weight_q}, EMA {fc.ema_momentum}, "
        f"NLL class scaling {fc.nll_class_scaling}; flow batch {info['batch']} (--flow-batch), "
        f"{spe} steps an epoch, {n} steps.",
        "",
        f"Features: SYNTHETIC, {info['n']:,} vectors of dimension {info['dim']} for the "
        f"CIFAR-10-LT IF 100 train labels (class centre N(0, I) + N(0, I) noise). (anchor, "
        f"negative) pairs from ltjax's `flow_training.sample_pairs`, the same for both sides. "
        f"The reference's NLL weights are its own ContrastiveDataset's, float64 as its "
        f"DataLoader delivers them"
        + (f", times C/1000 = {info['scale']:g} (what ltjax's nll_class_scaling means)"
           if fc.nll_class_scaling else "")
        + f"; relative difference to ltjax's `class_weights`: {info['weight_diff']:.2g}. MADE "
        f"masks, max |ltjax - reference| = {first.get('mask_diff', float('nan')):g}. Flow "
        f"parameters: {result['params']:,} on both sides (masked entries included). Imports "
        f"of utils/datasets.py that are not installed here and that ContrastiveDataset does "
        f"not use were stubbed while it was imported: {', '.join(info['stubbed']) or 'none'}.",
        "",
        "ltjax's flow step returns no gradient norm: its optimizer (train_flow's SGD) is "
        "chained behind a pass-through optax transformation that records the gradient norm.",
    ]
  else:
    c = info["config"]
    oc = c.optimizer
    lines += [
        f"Setup: ltjax config `{CONFIGS[args.method]}`, schedule compressed to {n} steps: an "
        f"epoch = {spe} steps on both sides, {c.train.num_epochs} epochs; batch {args.batch} "
        f"(the recipes use 128; 32 keeps four models' CPU time inside the run budget), lr "
        f"{oc.learning_rate} (not rescaled for the batch), per-epoch warm-up over "
        f"{oc.warmup_epochs} epochs, lr x{oc.decay_factors[0]:g} from epoch "
        f"{oc.decay_epochs[0]} and x{oc.decay_factors[1]:g} from {oc.decay_epochs[1]}, DRW"
        f"{' and the per-class diversity temperature' if args.method == 'ride' else ''} from "
        f"epoch {args.drw_epoch} (0-based epochs: step {args.drw_epoch * spe + 1} on, 1-based "
        f"steps); SGD momentum {oc.momentum}, Nesterov {oc.nesterov}, weight decay "
        f"{oc.weight_decay}.",
        "",
        f"Data: {info['describe'].splitlines()[0]}; batches from ltjax's IndexSampler (seed "
        f"{args.seed}), augmented once on the host by ltjax's augmentation (pad "
        f"{c.augment.crop_padding} crop, flip {c.augment.flip}, rotation "
        f"{c.augment.rotation_degrees:g} degrees) and fed as the same uint8 pixels to both "
        f"sides; max |ltjax normalised input - reference normalised input| on the first batch "
        f"= {info['input_diff'][0]:.2g}. Parameters: {result['params']:,} on both sides; the "
        f"reference module starts from ltjax's initial weights (copied exactly, and the "
        f"mapping read back is exactly ltjax's tree).",
        "",
        "Loss constants, largest per-class relative difference ltjax vs reference: "
        + "; ".join(f"{k}: {v:.2g}" for k, v in result.get("constants", {}).items()) + ".",
    ]
  lines += [
      "",
      "## Summary",
      "",
      "rel = ||ltjax - reference||_2 / ||reference||_2 per tensor; \"max\" = the largest over "
      "the parameter tensors (named). Free-running: both trained on their own since step 0. "
      "Control: the reference against itself started from weights x(1 + "
      f"{CONTROL_PERTURBATION:g} N(0,1)). One step: ltjax reset to the reference's state "
      "(weights, BN statistics, momentum) before the step.",
      "",
      "| step | free: max rel param diff | tensor | free: median | free: abs loss diff | "
      "free: rel grad-norm diff | control: max rel param diff | one step: rel update diff "
      "(max / median) | one step: abs loss diff | one step: rel grad-norm diff |",
      "|---|---|---|---|---|---|---|---|---|---|",
  ]
  for s in sorted({*SUMMARY_STEPS, n}):
    if s not in by_step:
      continue
    r = by_step[s]
    lines.append(
        f"| {s} | {_e(r['param_rel'])} | `{r['param_name']}` | {_e(r['median_param_rel'])} | "
        f"{_e(r['dloss'])} | {_e(r['dgn'])} | {_e(r.get('control_rel'))} | "
        + (f"{_e(r['resync_update_rel'])} / {_e(r['resync_median_update_rel'])} | "
           f"{_e(r['resync_dloss'])} | {_e(r['resync_dgn'])} |" if "resync_update_rel" in r
           else "- | - | - |"))
  lines.append("")
  first = next((r for r in records if r["param_rel"] > args.threshold), None)
  if first is None:
    lines.append(f"- Free-running relative parameter drift never exceeded {args.threshold:g} in "
                 f"{n} steps (largest {_e(max(r['param_rel'] for r in records))}).")
  else:
    lines.append(f"- Free-running: the first step where the relative parameter drift exceeds "
                 f"{args.threshold:g} is step {first['step']} (epoch {first['epoch']}), tensor "
                 f"`{first['param_name']}` (ltjax `{where.get(first['param_name'], '')}`), "
                 f"rel {first['param_rel']:.3g}.")
  if has_control:
    cfirst = next((r for r in controlled if r["control_rel"] > args.threshold), None)
    lines.append(f"- Control (reference vs itself, run for the first {len(controlled)} steps): "
                 + (f"first above {args.threshold:g} at step {cfirst['step']} "
                    f"(`{cfirst['control_name']}`, rel {cfirst['control_rel']:.3g})"
                    if cfirst else f"never above {args.threshold:g}")
                 + f"; at step {controlled[-1]['step']}: {_e(controlled[-1]['control_rel'])} "
                 f"(free-running ltjax vs reference there: "
                 f"{_e(by_step[controlled[-1]['step']]['param_rel'])}).")
  if has_resync:
    u = max(checked, key=lambda r: r["resync_update_rel"])
    dl = max(checked, key=lambda r: r["resync_dloss"] / max(abs(r["loss_ref"]), 1e-30))
    dg = max(checked, key=lambda r: r["resync_dgn"])
    big = [r for r in checked if r["resync_update_rel"] > args.threshold]
    lines.append(f"- One step from the reference's state ({len(checked)} of the {n} steps: "
                 f"every {args.resync_every}, each epoch's first and the summary steps): "
                 f"largest rel update diff {u['resync_update_rel']:.3g} (step {u['step']}, "
                 f"`{u['resync_update_name']}`; float32's resolution of that tensor's step "
                 f"there, 2^-24 ||w|| / ||d||: {u['resync_update_floor']:.2g}), above "
                 f"{args.threshold:g} at {len(big)} "
                 f"checked steps; median over the checked steps of the per-step median "
                 f"{np.median([r['resync_median_update_rel'] for r in checked]):.3g}; largest "
                 f"relative loss diff {dl['resync_dloss'] / abs(dl['loss_ref']):.2g} (step "
                 f"{dl['step']}); largest rel grad-norm diff {dg['resync_dgn']:.2g} (step "
                 f"{dg['step']}).")
    stat = max(checked, key=lambda r: r["resync_stat_rel"])
    if stat["resync_stat_rel"]:
      lines.append(f"- Running statistics after one step from the reference's state: largest "
                   f"rel diff {stat['resync_stat_rel']:.3g} (step {stat['step']}, "
                   f"`{stat['resync_stat_name']}`).")
  lr_gap = max(abs(r["lr_ltjax"] - r["lr_ref"]) / r["lr_ref"] for r in records)
  lines += [f"- Learning rate, largest relative difference ltjax vs reference over the run: "
            f"{lr_gap:.2g}.", ""]
  lines += [f"Plot: `lockstep_{args.method}.png` (both loss curves; drift per step).", "",
            "## Per step", "",
            f"Every step; the tensor with the largest free-running drift is named every "
            f"{args.every} steps.", "",
            "| step | epoch | lr ltjax | lr ref | loss ltjax | loss ref | abs loss diff | "
            "rel grad-norm diff | free: max rel param diff | tensor | control | one step: rel "
            "update diff | one step: abs loss diff |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in records:
    named = r["step"] % args.every == 0 or r["step"] == 1
    lines.append(
        f"| {r['step']} | {r['epoch']} | {r['lr_ltjax']:.4g} | {r['lr_ref']:.4g} | "
        f"{r['loss_ltjax']:.6f} | {r['loss_ref']:.6f} | {_e(r['dloss'])} | {_e(r['dgn'])} | "
        f"{_e(r['param_rel'])} | {('`' + r['param_name'] + '`') if named else ''} | "
        f"{_e(r.get('control_rel'))} | {_e(r.get('resync_update_rel'))} | "
        f"{_e(r.get('resync_dloss'))} |")
  text = "\n".join(lines) + "\n"
  with open(out_md, "w") as f:
    f.write(text)
  print("\n".join(lines[:60]))
  print(f"wrote {out_md} and {out_png}")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--method", required=True, choices=METHODS)
  parser.add_argument("--reference", required=True,
                      help="checkout of the method's reference repository")
  parser.add_argument("--data-dir", default="../shared/data")
  parser.add_argument("--steps", type=int, default=300)
  parser.add_argument("--steps-per-epoch", type=int, default=10,
                      help="image methods: an epoch of the compressed schedule, in steps")
  parser.add_argument("--warmup-epochs", type=int, default=3)
  parser.add_argument("--drw-epoch", type=int, default=15, help="0-based epoch DRW starts at")
  parser.add_argument("--decay-epochs", type=int, nargs=2, default=(20, 25))
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--flow-batch", type=int, default=256)
  parser.add_argument("--feature-dim", type=int, default=64)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--every", type=int, default=10, help="name the drifting tensor every k")
  parser.add_argument("--threshold", type=float, default=1e-3)
  parser.add_argument("--control", action=argparse.BooleanOptionalAction, default=True)
  parser.add_argument("--control-steps", type=int, default=0,
                      help="run the control for the first n steps only (0 = all)")
  parser.add_argument("--resync", action=argparse.BooleanOptionalAction, default=True)
  parser.add_argument("--resync-every", type=int, default=1,
                      help="the one-step check every k steps (and at each epoch's first step)")
  parser.add_argument("--threads", type=int, default=1,
                      help="intra-op threads of torch and XLA (1: on a shared 2-core machine "
                           "torch's 2 OpenMP threads spin for seconds a step when preempted)")
  parser.add_argument("--out-dir", default=os.path.join(REPO, "experiments", "results"))
  args = parser.parse_args()
  if not os.path.isfile(os.path.join(args.reference, REFERENCE_MARKERS[args.method])):
    raise SystemExit(f"--reference {args.reference!r} is not the {args.method} reference "
                     f"checkout ({REFERENCE_MARKERS[args.method]} missing)")
  args.control_steps = args.control_steps or args.steps
  if args.method != "dlsa_flow" and args.steps % args.steps_per_epoch:
    raise SystemExit("--steps must be a multiple of --steps-per-epoch")
  sys.path.insert(0, REPO)
  if args.threads == 1:  # before JAX creates its CPU backend
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                               "false intra_op_parallelism_threads=1").strip()
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads)
  import ltjax  # pylint: disable=g-import-not-at-top,unused-import  (its XLA CPU defaults)
  import ltjax.methods  # pylint: disable=g-import-not-at-top,unused-import  (the method rooms)
  start = time.time()
  setup = setup_flow(args) if args.method == "dlsa_flow" else setup_image(args)
  result = run(args, setup)
  write_report(args, setup, result, time.time() - start)


if __name__ == "__main__":
  main()
