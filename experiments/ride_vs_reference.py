r"""RIDE side by side: ltjax against the reference PyTorch code on the same data, one run.

  pip install -e '.[bench]'                      # torch==2.13.0 (CPU build)
  git clone https://github.com/frank-xwang/RIDE-LongTailRecognition /tmp/ride_ref
  python experiments/ride_vs_reference.py --reference /tmp/ride_ref \
      --data-dir ../shared/data --epochs 5 --out experiments/results/ride_vs_reference_cpu.md

The PyTorch side imports the reference repository's own modules, unchanged: the RIDE ResNet-32
(`model/ldam_drw_resnets/ride_resnet_cifar.py`, 3 reduced experts, NormedLinear, s=30) and
`RIDELoss` (`model/loss.py`, lambda -0.45, DRW + per-class temperature after `reweight_epoch`).
Only the trainer loop is re-written here (the reference's needs its JSON config parser and
data loaders): SGD Nesterov lr 0.1, momentum 0.9, weight decay 5e-4, batch 128, the
reference's per-epoch warm-up and step schedule (`train.py`'s lambda), the loss hook called
before every epoch with the 1-based epoch, pad-4 crop, flip and +-15 degree nearest rotation.
The ltjax side is `python -m ltjax.main --config configs/cifar10_lt/ride_e3.py` with the same
shortened schedule given as overrides.

Both see the same CIFAR-10-LT subset (IF 100, Cao et al. protocol, built once by ltjax) and the
same test set; both report the last epoch's weights (no selection), evaluated by the same ltjax
metrics code. Parameter counts are printed and must be equal. Throughput is the median over
the run of training img/s including each side's own input feed (ltjax: host sampler + on-device
augmentation; PyTorch: augmentation on the batch tensor in the training process); the first
logging interval of ltjax (compilation) is excluded. Machine: use it to itself.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "configs/cifar10_lt/ride_e3.py"


def schedule_overrides(args) -> dict:
  """The shortened schedule, as ltjax config keys (0-based epochs)."""
  return {
      "dataset.data_dir": args.data_dir,
      "seed": args.seed,
      "train.num_epochs": args.epochs,
      "optimizer.warmup_epochs": args.warmup,
      "optimizer.decay_epochs": (args.step1, args.step2),
      "optimizer.decay_factors": (args.gamma, args.gamma ** 2),
      "loss.drw_epoch": args.drw_epoch,
      "train.eval_every_epochs": args.epochs,
      "train.checkpoint_every_epochs": args.epochs,
      "train.select": "last",
      "train.cache_features": False,
  }


def load_config(args):
  """The ltjax config of the comparison (used for the data and the parameter count)."""
  spec = importlib.util.spec_from_file_location("ride_config", os.path.join(REPO, CONFIG))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  for key, value in schedule_overrides(args).items():
    *parents, leaf = key.split(".")
    node = config
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  return config


# ------------------------------------------------------------------------------- ltjax
def run_ltjax(args, workdir: str) -> dict:
  overrides = [f"--config.{k}={v}".replace(" ", "")
               for k, v in schedule_overrides(args).items()]
  cmd = [sys.executable, "-m", "ltjax.main", f"--config={CONFIG}", f"--workdir={workdir}",
         *overrides]
  print("ltjax:", " ".join(cmd), flush=True)
  start = time.time()
  subprocess.run(cmd, cwd=REPO, check=True)
  wall = time.time() - start
  with open(os.path.join(workdir, "results.json")) as f:
    result = json.load(f)
  rates = []
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      record = json.loads(line)
      if "train/steps_per_sec" in record:
        rates.append(record["train/steps_per_sec"])
  return {"test": result["test"], "wall_s": wall,
          "img_per_s": statistics.median(rates[1:]) * args.batch}


def ltjax_param_count(config, num_classes: int) -> int:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  from ltjax import models  # pylint: disable=g-import-not-at-top
  model = models.build_model(config.model.name, num_classes,
                             **models.config_kwargs(config.model))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)),
                                                train=False))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables["params"]))


# ---------------------------------------------------------------------------- PyTorch
@contextlib.contextmanager
def cuda_calls_are_no_ops():
  """RIDELoss.__init__ calls `.cuda()` on a tensor unconditionally; on a CPU-only machine the
  call is made a no-op while the reference objects are built (nothing else is changed)."""
  import torch  # pylint: disable=g-import-not-at-top
  original = torch.Tensor.cuda
  torch.Tensor.cuda = lambda self, *a, **k: self
  try:
    yield
  finally:
    torch.Tensor.cuda = original


def reference_lr_factor(epoch0: int, args) -> float:
  """The reference `train.py` LambdaLR factor for 0-based epoch `epoch0` (its CustomLR)."""
  factor = args.gamma ** 2 if epoch0 >= args.step2 else args.gamma if epoch0 >= args.step1 else 1.
  if epoch0 < args.warmup:
    factor *= (1 + epoch0) / args.warmup
  return factor


def torch_augment(images_u8, generator, degrees: float):
  """Pad-4 random crop, horizontal flip, then RandomRotation(+-degrees, nearest, zero fill) on a
  (B, H, W, C) uint8 tensor; returns normalised (B, C, H, W) float32."""
  import torch  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top
  b, h, w, _ = images_u8.shape
  x = images_u8.permute(0, 3, 1, 2).float() / 255.0
  padded = F.pad(x, (4, 4, 4, 4))
  dy = torch.randint(0, 9, (b,), generator=generator)
  dx = torch.randint(0, 9, (b,), generator=generator)
  rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(b, 3, h, w)
  cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(b, 3, h, w)
  x = padded[torch.arange(b)[:, None, None, None], torch.arange(3)[None, :, None, None],
             rows, cols]
  flip = torch.rand(b, generator=generator) < 0.5
  x = torch.where(flip[:, None, None, None], x.flip(3), x)
  angle = (torch.rand(b, generator=generator) * 2 - 1) * degrees * np.pi / 180
  cos, sin = torch.cos(angle), torch.sin(angle)
  theta = torch.stack([torch.stack([cos, -sin, torch.zeros(b)], 1),
                       torch.stack([sin, cos, torch.zeros(b)], 1)], 1)
  grid = F.affine_grid(theta, list(x.shape), align_corners=False)
  x = F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)
  mean = torch.tensor((0.4914, 0.4822, 0.4465)).view(1, 3, 1, 1)
  std = torch.tensor((0.2023, 0.1994, 0.2010)).view(1, 3, 1, 1)
  return (x - mean) / std


def _import_reference(path: str):
  sys.path.insert(0, os.path.abspath(path))
  from model import loss as ride_loss  # pylint: disable=g-import-not-at-top
  from model.ldam_drw_resnets import ride_resnet_cifar  # pylint: disable=g-import-not-at-top
  return ride_resnet_cifar, ride_loss


def transplant(torch_model, num_experts: int) -> dict:
  """The reference RIDE ResNet-32's weights as ltjax RideCifarResNet variables."""
  sd = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
  conv = lambda w: np.transpose(w, (2, 3, 1, 0))  # (out, in, kh, kw) -> (kh, kw, in, out)

  def bn(prefix):
    return ({"scale": sd[prefix + ".weight"], "bias": sd[prefix + ".bias"]},
            {"mean": sd[prefix + ".running_mean"], "var": sd[prefix + ".running_var"]})

  def block(prefix):
    p, b = {}, {}
    for i in (1, 2):
      p[f"conv{i}"] = {"kernel": conv(sd[f"{prefix}.conv{i}.weight"])}
      p[f"bn{i}"], b[f"bn{i}"] = bn(f"{prefix}.bn{i}")
    return p, b

  params, stats = {"conv1": {"kernel": conv(sd["conv1.weight"])}}, {}
  params["bn1"], stats["bn1"] = bn("bn1")
  for i in range(5):
    params[f"layer1_{i}"], stats[f"layer1_{i}"] = block(f"layer1.{i}")
  experts_p, experts_s = {}, {}
  for layer in (2, 3):
    for i in range(5):
      per = [block(f"layer{layer}s.{e}.{i}") for e in range(num_experts)]
      experts_p[f"layer{layer}_{i}"] = _stack([q for q, _ in per])
      experts_s[f"layer{layer}_{i}"] = _stack([b for _, b in per])
  experts_p["head"] = {"kernel": np.stack([sd[f"linears.{e}.weight"]
                                           for e in range(num_experts)])}
  params["experts"], stats["experts"] = experts_p, experts_s
  return {"params": params, "batch_stats": stats}


def _stack(trees):
  import jax  # pylint: disable=g-import-not-at-top
  return jax.tree.map(lambda *xs: np.stack(xs), *trees)


def check_equivalence(args, config, counts) -> dict:
  """Same weights, same batch: ltjax's RIDE forward and loss against the reference modules.

  Returns the largest absolute differences of the logits (eval and train-mode BatchNorm) and
  of the loss before and after the DRW epoch.
  """
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top

  from ltjax import losses  # pylint: disable=g-import-not-at-top
  from ltjax import models  # pylint: disable=g-import-not-at-top
  ride_resnet_cifar, ride_loss = _import_reference(args.reference)
  torch.manual_seed(1)
  ref = ride_resnet_cifar.ResNet_s(ride_resnet_cifar.BasicBlock, [5, 5, 5], num_experts=3,
                                   num_classes=len(counts), reduce_dimension=True,
                                   use_norm=True)
  # Non-trivial BN statistics, so that eval mode is really compared.
  ref.train()
  with torch.no_grad():
    for _ in range(3):
      ref(torch.randn(16, 3, 32, 32))
  ours = models.build_model(config.model.name, len(counts), **models.config_kwargs(config.model))
  variables = transplant(ref, 3)
  x = np.random.RandomState(0).randn(16, 32, 32, 3).astype(np.float32)
  labels = np.arange(16) % len(counts)
  out = {}
  for mode in ("eval", "train"):
    ref.train(mode == "train")
    with torch.no_grad():
      ref_logits = ref(torch.from_numpy(x).permute(0, 3, 1, 2))
      ref_experts = torch.stack(ref.logits).numpy()
    if mode == "eval":
      logits, feats = ours.apply(variables, jnp.asarray(x), train=False)
    else:
      (logits, feats), _ = ours.apply(variables, jnp.asarray(x), train=True,
                                      mutable=["batch_stats"])
    out[f"logits_{mode}"] = float(np.abs(np.asarray(logits) - ref_logits.numpy()).max())
    out[f"expert_logits_{mode}"] = float(np.abs(np.asarray(feats["expert_logits"])
                                                - ref_experts).max())
  with cuda_calls_are_no_ops():
    criterion = ride_loss.RIDELoss(cls_num_list=[int(c) for c in counts],
                                   additional_diversity_factor=-0.45, reweight=True,
                                   reweight_epoch=args.drw_epoch)
  expert = np.random.RandomState(2).randn(3, 16, len(counts)).astype(np.float32) * 5
  for drw in (False, True):
    criterion._hook_before_epoch(args.drw_epoch + (1 if drw else 0))  # pylint: disable=protected-access
    ref_loss = float(criterion(output_logits=torch.from_numpy(expert.mean(0)),
                               target=torch.from_numpy(labels),
                               extra_info={"logits": list(torch.from_numpy(expert))}))
    our_loss = float(losses.ride_loss(jnp.asarray(expert), jnp.asarray(labels),
                                      jnp.asarray(counts), drw_active=drw))
    out[f"loss_{'drw' if drw else 'pre_drw'}"] = abs(our_loss - ref_loss)
    out[f"loss_{'drw' if drw else 'pre_drw'}_value"] = ref_loss
  return out


def run_reference(args, splits) -> dict:
  """Trains the reference RIDE-3 with its own model and loss classes; returns test metrics."""
  import torch  # pylint: disable=g-import-not-at-top

  from ltjax.core import metrics  # pylint: disable=g-import-not-at-top
  ride_resnet_cifar, ride_loss = _import_reference(args.reference)

  torch.manual_seed(args.seed)
  generator = torch.Generator().manual_seed(args.seed)
  counts = [int(n) for n in splits.class_counts]
  with cuda_calls_are_no_ops():
    # What the reference's ResNet32Model builds for configs/config_imbalance_cifar100_ride.json.
    model = ride_resnet_cifar.ResNet_s(ride_resnet_cifar.BasicBlock, [5, 5, 5], num_experts=3,
                                       num_classes=splits.num_classes, reduce_dimension=True,
                                       use_norm=True)
    criterion = ride_loss.RIDELoss(cls_num_list=counts, additional_diversity_factor=-0.45,
                                   reweight=True, reweight_epoch=args.drw_epoch)
  params = sum(p.numel() for p in model.parameters())
  optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4,
                              nesterov=True)
  train_x = torch.from_numpy(np.asarray(splits.train.images))
  train_y = torch.from_numpy(np.asarray(splits.train.labels, np.int64))
  rates = []
  start = time.time()
  for epoch0 in range(args.epochs):
    for group in optimizer.param_groups:
      group["lr"] = 0.1 * reference_lr_factor(epoch0, args)
    model.train()
    criterion._hook_before_epoch(epoch0 + 1)  # pylint: disable=protected-access
    order = torch.randperm(len(train_y), generator=generator)
    steps = len(order) // args.batch  # ltjax drops the last partial batch too
    for step in range(steps):
      tick = time.time()
      idx = order[step * args.batch:(step + 1) * args.batch]
      x = torch_augment(train_x[idx], generator, 15.0)
      y = train_y[idx]
      optimizer.zero_grad()
      output = model(x)
      loss = criterion(output_logits=output, target=y, extra_info={"logits": model.logits})
      loss.backward()
      optimizer.step()
      rates.append(args.batch / (time.time() - tick))
      if step % 20 == 0:
        print(f"reference epoch {epoch0 + 1} step {step}/{steps} loss {loss.item():.4f} "
              f"{rates[-1]:.1f} img/s", flush=True)
  wall = time.time() - start
  model.eval()
  logits = []
  with torch.no_grad():
    test_x = torch.from_numpy(np.asarray(splits.test.images))
    for i in range(0, len(test_x), 500):
      x = test_x[i:i + 500].permute(0, 3, 1, 2).float() / 255.0
      mean = torch.tensor((0.4914, 0.4822, 0.4465)).view(1, 3, 1, 1)
      std = torch.tensor((0.2023, 0.1994, 0.2010)).view(1, 3, 1, 1)
      logits.append(model((x - mean) / std).numpy())
  test = metrics.evaluate_logits(np.concatenate(logits), np.asarray(splits.test.labels),
                                 splits.class_counts)
  return {"test": test, "wall_s": wall, "img_per_s": statistics.median(rates),
          "params": params}


def _fmt(value):
  return "empty" if value is None else f"{100 * value:.2f}"


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--reference", required=True,
                      help="a checkout of frank-xwang/RIDE-LongTailRecognition")
  parser.add_argument("--data-dir", default="../shared/data")
  parser.add_argument("--epochs", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--step1", type=int, default=3, help="0-based epoch of the first lr drop")
  parser.add_argument("--step2", type=int, default=4)
  parser.add_argument("--gamma", type=float, default=0.1)
  parser.add_argument("--drw-epoch", type=int, default=3,
                      help="DRW and the diversity temperature act from this 0-based epoch on "
                           "(the reference's reweight_epoch: active when 1-based epoch > it)")
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--workdir", default="/tmp/ride_vs_reference")
  parser.add_argument("--out", default="")
  parser.add_argument("--check-only", action="store_true",
                      help="only the same-weights forward / loss comparison (seconds)")
  args = parser.parse_args()
  if not os.path.isfile(os.path.join(args.reference, "model", "loss.py")):
    raise SystemExit(f"--reference {args.reference!r} is not a RIDE-LongTailRecognition checkout "
                     "(model/loss.py missing); clone it and pass its path")
  sys.path.insert(0, REPO)  # this checkout's ltjax, as the subprocess's `-m ltjax.main` uses

  from ltjax.data import datasets  # pylint: disable=g-import-not-at-top
  import ltjax.methods  # pylint: disable=g-import-not-at-top,unused-import  (the method rooms)
  config = load_config(args)
  splits = datasets.build_splits(config)
  print(datasets.describe(splits), flush=True)
  check = check_equivalence(args, config, splits.class_counts)
  print("same weights, same batch, max |ltjax - reference|:", check, flush=True)
  if args.check_only:
    return

  reference = run_reference(args, splits)
  ours_params = ltjax_param_count(config, splits.num_classes)
  ours = run_ltjax(args, os.path.join(args.workdir, f"ltjax_seed{args.seed}"))
  if ours_params != reference["params"]:
    raise SystemExit(f"parameter counts differ: ltjax {ours_params}, reference "
                     f"{reference['params']}")

  rows = [("ltjax", ours), ("reference (PyTorch)", reference)]
  if REPO not in sys.path:
    sys.path.insert(0, REPO)
  from experiments import bench  # pylint: disable=g-import-not-at-top  (the checkout's, above)
  cpu = bench.cpu_name()
  lines = [
      "# RIDE-3 (reduced ResNet-32) on CIFAR-10-LT: ltjax vs the reference PyTorch code",
      "",
      f"Written {datetime.datetime.now():%Y-%m-%d %H:%M} on {cpu}, {os.cpu_count()} cores; "
      f"torch {__import__('torch').__version__}, jax {__import__('jax').__version__}.",
      "",
      "Command:", "", "```", "python " + " ".join(sys.argv), "```", "",
      f"Schedule: {args.epochs} epochs, batch {args.batch}, warm-up {args.warmup}, lr x{args.gamma}"
      f" from epoch {args.step1} and x{args.gamma ** 2:g} from {args.step2} (0-based), DRW and "
      f"the diversity temperature from epoch {args.drw_epoch}; seed {args.seed}; last-epoch "
      f"weights; parameters {ours_params:,} on both sides.",
      "",
      "| implementation | test top-1 | many | medium | few | ECE | train img/s | wall (s) |",
      "|---|---|---|---|---|---|---|---|",
  ]
  for name, r in rows:
    t = r["test"]
    lines.append(f"| {name} | {_fmt(t['top1'])} | {_fmt(t['many'])} | {_fmt(t['medium'])} | "
                 f"{_fmt(t['few'])} | {_fmt(t['ece'])} | {r['img_per_s']:.1f} | "
                 f"{r['wall_s']:.0f} |")
  lines += ["", f"Train throughput ratio ltjax / reference: "
            f"{ours['img_per_s'] / reference['img_per_s']:.2f}", "",
            "Same weights (the reference's, transplanted), same batch, max |ltjax - reference|: "
            + ", ".join(f"{k} {v:.2g}" for k, v in check.items())]
  # Per class: where in the tail the two differ (both scored by the same ltjax metrics code).
  lines += ["", "Per-class test accuracy (%), classes by training count:", "",
            "| class | train images | ltjax | reference | ltjax - reference |",
            "|---|---|---|---|---|"]
  for c, count in enumerate(splits.class_counts):
    a, b = ours["test"]["per_class"][c], reference["test"]["per_class"][c]
    lines.append(f"| {c} | {int(count)} | {_fmt(a)} | {_fmt(b)} | "
                 f"{100 * (a - b):+.2f} |" if a is not None and b is not None else
                 f"| {c} | {int(count)} | {_fmt(a)} | {_fmt(b)} | - |")
  text = "\n".join(lines) + "\n"
  print(text)
  if args.out:
    with open(args.out, "w") as f:
      f.write(text)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
      json.dump({"seed": args.seed, "epochs": args.epochs, "check": check,
                 "class_counts": [int(c) for c in splits.class_counts],
                 **{name: {"test": r["test"], "wall_s": r["wall_s"],
                           "img_per_s": r["img_per_s"]} for name, r in rows}}, f, indent=1,
                default=float)


if __name__ == "__main__":
  main()
