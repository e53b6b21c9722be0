r"""ltjax against the same model in PyTorch, measured in one run on one machine.

  pip install -e '.[bench]'                      # torch==2.13.0 (CPU build)
  python experiments/bench.py all                # everything below + the summary table
  python experiments/bench.py train [--dtype fp32,bf16] [--models resnet32,ride3]
  python experiments/bench.py input [--workers 2]  # input pipelines alone, no model
  python experiments/bench.py memory             # peak host memory / XLA buffer plan of a step
  python experiments/bench.py levers             # the speed levers one by one (subprocesses)
  python experiments/bench.py population [--members 4]  # a seed population vs separate runs

train: CIFAR ResNet-32 and RIDE-3 (batch 128), img/s after warm-up, ltjax compile seconds, and
the forward-only (evaluation) img/s; parameter counts printed and checked equal. ltjax runs the
trainer's own step: images on the device as uint8, the batch gathered from indices and
augmented (pad-crop-flip) inside the jitted step, `--steps-per-dispatch` steps per dispatch.
PyTorch gets ready float tensors (its reference does augmentation in DataLoader workers) and
runs autocast for bf16; ltjax's bf16 is `model.dtype="bfloat16"` (fp32 master weights).
RIDE-3's loss is the sum of the experts' cross-entropies on both sides.

input: the data pipeline without a model. CIFAR-style arrays: ltjax's host path (gather +
copy), its device path (jitted gather + augmentation) and a torch DataLoader doing the same
pad-crop-flip in `--workers` worker processes. A synthetic JPEG folder (written by the script):
ltjax's grain workers (decode + resize + centre square, then random-resized-crop on device)
against a DataLoader decoding + RandomResizedCrop + flip with the same number of workers.

Use the machine to itself: any other job on the cores makes the figures meaningless.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

GOAL_RATIO = 1.0  # ltjax / PyTorch train-step throughput
GOAL_INPUT = 5.0  # input pipeline img/s over the step's img/s


def cpu_name() -> str:
  """The CPU's model name (/proc/cpuinfo), else what `platform` knows."""
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  return cpu


def machine_line() -> str:
  cpu = cpu_name()
  import jax  # pylint: disable=g-import-not-at-top
  try:
    import torch  # pylint: disable=g-import-not-at-top
    torch_version = torch.__version__
  except ImportError:
    torch_version = "not installed"
  return (f"machine: {cpu}, {os.cpu_count()} cores, {platform.machine()}; jax {jax.__version__} "
          f"({jax.devices()[0].platform}: {jax.devices()[0].device_kind}), torch {torch_version}; "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")


# ---------------------------------------------------------------- PyTorch side
def torch_models():
  """PyTorch CIFAR ResNet-32 (option-A shortcuts) and RIDE-3 with the same shapes as ltjax."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  class Block(nn.Module):
    def __init__(self, cin, cout, stride):
      super().__init__()
      self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
      self.b1 = nn.BatchNorm2d(cout)
      self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
      self.b2 = nn.BatchNorm2d(cout)
      self.pad = cout - cin
      self.stride = stride

    def forward(self, x):
      y = F.relu(self.b1(self.c1(x)))
      y = self.b2(self.c2(y))
      s = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
      if self.pad:
        s = F.pad(s, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
      return F.relu(y + s)

  def stage(cin, cout, n, stride):
    return nn.Sequential(*[Block(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                           for i in range(n)])

  class ResNet32(nn.Module):
    def __init__(self, classes):
      super().__init__()
      self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
      self.bn = nn.BatchNorm2d(16)
      self.layers = nn.Sequential(stage(16, 16, 5, 1), stage(16, 32, 5, 2), stage(32, 64, 5, 2))
      self.fc = nn.Linear(64, classes)

    def forward(self, x):
      x = self.layers(F.relu(self.bn(self.conv(x))))
      return self.fc(x.mean((2, 3)))

  class Ride(nn.Module):
    def __init__(self, classes, experts=3):
      super().__init__()
      self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
      self.bn = nn.BatchNorm2d(16)
      self.layer1 = stage(16, 16, 5, 1)
      self.experts = nn.ModuleList(
          nn.Sequential(stage(16, 24, 5, 2), stage(24, 48, 5, 2)) for _ in range(experts))
      self.heads = nn.ParameterList(nn.Parameter(torch.randn(48, classes)) for _ in range(experts))

    def forward(self, x):
      x = self.layer1(F.relu(self.bn(self.conv(x))))
      outs = []
      for expert, w in zip(self.experts, self.heads):
        f = F.normalize(expert(x).mean((2, 3)), dim=1)
        outs.append(30.0 * f @ F.normalize(w, dim=0))
      return torch.stack(outs)

  return {"resnet32": ResNet32, "ride3": Ride}


def _torch_threads():
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count())
  return torch


def torch_device() -> str:
  """"cuda" where PyTorch sees a GPU (then ltjax's JAX runs on it too), else "cpu"."""
  import torch  # pylint: disable=g-import-not-at-top
  return "cuda" if torch.cuda.is_available() else "cpu"


# PyTorch execution modes: as the papers run it, and as a PyTorch expert would.
TORCH_MODES = {"eager": None, "compile": "default", "cudagraphs": "reduce-overhead"}


def bench_torch(name, batch, steps, classes, bf16, mode="eager"):
  """(params, train img/s, eval img/s) of the PyTorch model: `mode` "eager" (the papers'
  code), "compile" (torch.compile) or "cudagraphs" (torch.compile's reduce-overhead mode,
  CUDA graphs on a GPU)."""
  torch = _torch_threads()
  device = torch_device()
  sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
  model = torch_models()[name](classes).to(device)
  params = sum(p.numel() for p in model.parameters())
  if TORCH_MODES[mode] is not None:
    model = torch.compile(model, mode=TORCH_MODES[mode])
  opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
  x = torch.randn(batch, 3, 32, 32, device=device)
  y = torch.randint(0, classes, (batch,), device=device)

  def step():
    with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
      out = model(x)
      loss = (sum(torch.nn.functional.cross_entropy(o.float(), y) for o in out)
              if out.dim() == 3 else torch.nn.functional.cross_entropy(out.float(), y))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()

  model.train()
  for _ in range(3):
    step()
  sync()
  start = time.perf_counter()
  for _ in range(steps):
    step()
  sync()
  train_ips = batch * steps / (time.perf_counter() - start)
  model.eval()
  with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
    model(x)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
      model(x)
    sync()
    eval_ips = batch * steps / (time.perf_counter() - start)
  return params, train_ips, eval_ips


# ---------------------------------------------------------------- ltjax side
def _ltjax_setup(name, classes, bf16):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  from ltjax import config as config_lib  # pylint: disable=g-import-not-at-top
  from ltjax import losses  # pylint: disable=g-import-not-at-top
  from ltjax import models  # pylint: disable=g-import-not-at-top
  from ltjax.core import optim  # pylint: disable=g-import-not-at-top

  dtype = jnp.bfloat16 if bf16 else jnp.float32
  if name == "resnet32":
    model = models.build_model("cifar_resnet32", classes, dtype=dtype)
    objective = losses.objective(config_lib.default_config().loss, jnp.ones((classes,)))
  else:
    model = models.build_model("ride_cifar_resnet32", classes, num_experts=3, dtype=dtype)

    def objective(logits, features, labels, epoch, teacher_logits=None):
      del logits, epoch, teacher_logits
      per_expert = jax.vmap(lambda z: losses.cross_entropy(z, labels).mean())
      return jnp.sum(per_expert(features["expert_logits"]))
  oc = config_lib.default_config().optimizer
  schedule = optim.learning_rate_schedule(oc, 100, 10)
  return model, objective, optim.build_optimizer(oc, schedule), schedule, dtype


def bench_ltjax(name, batch, steps, classes, bf16, data="device", per_dispatch=1, unroll=None):
  """(params, train img/s, eval img/s, compile s, step function) of the ltjax trainer's step.

  data: "device" (uint8 split on the device, batches gathered in the step) or "host" (gather
  on the host and copy every step, the pipeline before issue 8).
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  from ltjax.core import sharding  # pylint: disable=g-import-not-at-top
  from ltjax.data import arrays  # pylint: disable=g-import-not-at-top
  from ltjax.data import device_data
  from ltjax.data import samplers
  from ltjax.train import steps as steps_lib  # pylint: disable=g-import-not-at-top

  model, objective, tx, schedule, dtype = _ltjax_setup(name, classes, bf16)
  mesh = sharding.make_data_mesh()
  state = jax.jit(lambda r: steps_lib.init_state(model, tx, r, (32, 32, 3)),
                  out_shardings=sharding.replicated(mesh))(jax.random.key(0))
  params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(state.params))
  step_fn = steps_lib.make_train_step(model, tx, objective, schedule, mean=(0.5,) * 3,
                                      std=(0.25,) * 3, steps_per_epoch=100)
  rng = np.random.RandomState(0)
  n = 50 * batch
  split = arrays.ArraySplit(rng.randint(0, 256, (n, 32, 32, 3)).astype(np.uint8),
                            rng.randint(0, classes, (n,)).astype(np.int32))
  sampler = samplers.IndexSampler(split.labels, "instance", 0, batch)
  key = jax.random.key(1)
  if data == "device":
    on_device = device_data.put_replicated(split, sharding.replicated(mesh))
    fn = device_data.scan_steps(step_fn, unroll) if per_dispatch > 1 else device_data.indexed_step(
        step_fn)
    jitted = jax.jit(fn, donate_argnums=(0,))
    axis = 1 if per_dispatch > 1 else 0

    def run(state, step):
      idx = [sampler.local_indices(*sampler.position(step + i)).astype(np.int32)
             for i in range(per_dispatch)]
      idx = np.stack(idx) if per_dispatch > 1 else idx[0]
      idx = sharding.global_batch(mesh, {"i": idx}, axis=axis)["i"]
      return jitted(state, on_device, idx, key)
  else:
    per_dispatch = 1
    jitted = jax.jit(step_fn, donate_argnums=(0,))

    def run(state, step):
      idx = sampler.local_indices(*sampler.position(step))
      batch_arrays = sharding.global_batch(mesh, {"image": split.gather(idx),
                                                  "label": split.labels[idx]})
      return jitted(state, batch_arrays, key)
  start = time.perf_counter()
  state, m = run(state, 0)
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - start
  dispatches = max(1, steps // per_dispatch)
  for i in range(2):
    state, m = run(state, (1 + i) * per_dispatch)
  jax.block_until_ready(m)
  start = time.perf_counter()
  for i in range(dispatches):
    state, m = run(state, (3 + i) * per_dispatch)
  jax.block_until_ready(m)
  train_ips = batch * dispatches * per_dispatch / (time.perf_counter() - start)
  forward = jax.jit(lambda s, x: model.apply({"params": s.params, "batch_stats": s.batch_stats},
                                             x.astype(dtype), train=False)[0])
  x = jnp.asarray(rng.randn(batch, 32, 32, 3), jnp.float32)
  jax.block_until_ready(forward(state, x))
  start = time.perf_counter()
  for _ in range(steps):
    out = forward(state, x)
  jax.block_until_ready(out)
  eval_ips = batch * steps / (time.perf_counter() - start)
  return params, train_ips, eval_ips, compile_s


def cmd_train(args) -> list[dict]:
  rows = []
  for dtype in args.dtype.split(","):
    bf16 = dtype == "bf16"
    for name in args.models.split(","):
      jp, jtrain, jeval, compile_s = bench_ltjax(name, args.batch, args.steps, args.classes,
                                                 bf16, per_dispatch=args.steps_per_dispatch,
                                                 unroll=args.unroll)
      tp, ttrain, teval = bench_torch(name, args.batch, args.steps, args.classes, bf16)
      if jp != tp:
        raise SystemExit(f"{name}: parameter counts differ (ltjax {jp}, torch {tp})")
      rows.append(dict(model=name, dtype=dtype, params=jp, ltjax_train=jtrain,
                       torch_train=ttrain, ltjax_eval=jeval, torch_eval=teval,
                       compile_s=compile_s, torch_modes={}))
      for mode in [m for m in args.torch_modes.split(",") if m and m != "eager"]:
        try:
          rows[-1]["torch_modes"][mode] = bench_torch(name, args.batch, args.steps,
                                                      args.classes, bf16, mode)[1]
        except Exception as e:  # pylint: disable=broad-except  (a backend without a compiler)
          print(f"torch {mode} failed for {name} {dtype}: {type(e).__name__}: {e}"[:300])
  print(f"\n## train step and forward pass (batch {args.batch}, {args.steps} timed steps, "
        f"{args.steps_per_dispatch} step(s) per dispatch)")
  print("| model | dtype | params | ltjax train img/s | torch train img/s | ratio | "
        "ltjax eval img/s | torch eval img/s | ratio | ltjax compile s |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['model']} | {r['dtype']} | {r['params']:,} | {r['ltjax_train']:.1f} | "
          f"{r['torch_train']:.1f} | {r['ltjax_train'] / r['torch_train']:.2f} | "
          f"{r['ltjax_eval']:.1f} | {r['torch_eval']:.1f} | "
          f"{r['ltjax_eval'] / r['torch_eval']:.2f} | {r['compile_s']:.1f} |")
  compiled = [(r, m, v) for r in rows for m, v in r["torch_modes"].items()]
  if compiled:
    print("\n| model | dtype | torch mode | torch train img/s | ltjax train img/s | ratio |")
    print("|---|---|---|---|---|---|")
    for r, m, v in compiled:
      print(f"| {r['model']} | {r['dtype']} | {m} | {v:.1f} | {r['ltjax_train']:.1f} | "
            f"{r['ltjax_train'] / v:.2f} |")
  return rows


# ---------------------------------------------------------------- input pipelines
def _write_jpegs(root, count, seed=0):
  """`count` random-texture JPEGs of ImageNet-like sizes and a `path label` list."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(seed)
  os.makedirs(os.path.join(root, "train"), exist_ok=True)
  lines = []
  for i in range(count):
    w, h = rng.randint(400, 501), rng.randint(300, 376)
    small = rng.randint(0, 256, (h // 8, w // 8, 3)).astype(np.uint8)
    img = Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR)
    rel = f"train/{i:05d}.jpg"
    img.save(os.path.join(root, rel), quality=90)
    lines.append(f"{rel} {i % 10}")
  with open(os.path.join(root, "train.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
  return os.path.join(root, "train.txt")


def _time_batches(iterator, batches, batch):
  next(iterator)  # workers started, first batch ready
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  return batch * batches / (time.perf_counter() - start)


def cmd_input(args) -> list[dict]:
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top

  from ltjax.core import sharding  # pylint: disable=g-import-not-at-top
  from ltjax.data import arrays  # pylint: disable=g-import-not-at-top
  from ltjax.data import augment
  from ltjax.data import device_data
  from ltjax.data import image_folder
  from ltjax.data import prefetch
  from ltjax.data import samplers

  torch.set_num_threads(1)
  rows, batch, workers = [], args.batch, args.workers
  rng = np.random.RandomState(0)
  n = 40 * batch
  split = arrays.ArraySplit(rng.randint(0, 256, (n, 32, 32, 3)).astype(np.uint8),
                            rng.randint(0, 100, (n,)).astype(np.int32))
  sampler = samplers.IndexSampler(split.labels, "instance", 0, batch)
  mesh = sharding.make_data_mesh()
  key = jax.random.key(0)
  mean, std = (125.3, 123.0, 113.9), (63.0, 62.1, 66.7)

  def augment_fn(images, step):
    images = augment.augment_batch(images, jax.random.fold_in(key, step), kind="pad_crop_flip")
    return augment.normalize(images, tuple(m / 255 for m in mean), tuple(s / 255 for s in std))
  jit_augment = jax.jit(augment_fn)

  def host_path():
    step = 0
    while True:
      idx = sampler.local_indices(*sampler.position(step))
      b = sharding.global_batch(mesh, {"image": split.gather(idx), "label": split.labels[idx]})
      yield jax.block_until_ready(jit_augment(b["image"], step))
      step += 1

  data = device_data.put_replicated(split, sharding.replicated(mesh))
  dev_fn = jax.jit(lambda d, i, s: augment_fn(device_data.gather(d, i)["image"], s))

  def device_path():
    step = 0
    while True:
      idx = sampler.local_indices(*sampler.position(step)).astype(np.int32)
      yield jax.block_until_ready(dev_fn(data, sharding.global_batch(mesh, {"i": idx})["i"],
                                         step))
      step += 1

  class CifarLike(torch.utils.data.Dataset):
    """uint8 HWC arrays -> RandomCrop(32, padding=4) + flip + ToTensor + Normalize."""

    def __init__(self, images, labels):
      self.images, self.labels = torch.from_numpy(images), torch.from_numpy(labels)
      self.mean = torch.tensor(mean).view(3, 1, 1) / 255
      self.std = torch.tensor(std).view(3, 1, 1) / 255

    def __len__(self):
      return len(self.labels)

    def __getitem__(self, i):
      x = self.images[i].permute(2, 0, 1).float().div(255)
      x = torch.nn.functional.pad(x, (4, 4, 4, 4))
      top, left = torch.randint(0, 9, (2,)).tolist()
      x = x[:, top:top + 32, left:left + 32]
      if torch.rand(()) < 0.5:
        x = x.flip(2)
      return (x - self.mean) / self.std, self.labels[i]

  loader = torch.utils.data.DataLoader(CifarLike(split.images, split.labels), batch_size=batch,
                                       shuffle=True, num_workers=workers, drop_last=True,
                                       persistent_workers=workers > 0)

  def torch_path():
    while True:
      yield from loader

  timed = max(8, args.steps)
  rows.append(dict(pipeline="CIFAR arrays, pad-crop-flip", ltjax_host=_time_batches(
      host_path(), timed, batch), ltjax=_time_batches(device_path(), timed, batch),
                   torch=_time_batches(torch_path(), min(timed, 30), batch)))

  # JPEG folder: decode + resize/crop to 224 on both sides.
  root = tempfile.mkdtemp(prefix="ltjax_bench_jpeg_")
  jpeg_batch = 64
  list_file = _write_jpegs(root, jpeg_batch * (args.jpeg_batches + 2))
  folder = image_folder.ImageFolderSplit(root, list_file, image_size=224, resize_size=256)
  folder_sampler = samplers.IndexSampler(folder.labels, "instance", 0, jpeg_batch)
  rrc = jax.jit(lambda x, s: augment.augment_batch(x, jax.random.fold_in(key, s),
                                                   kind="random_resized_crop", size=224))

  def grain_path():
    stream = prefetch.host_batches(folder, folder_sampler, 0, folder_sampler.steps_per_epoch,
                                   num_workers=workers)
    for step, (images, labels) in enumerate(stream):
      b = sharding.global_batch(mesh, {"image": images, "label": labels})
      yield jax.block_until_ready(rrc(b["image"], step))

  from PIL import Image  # pylint: disable=g-import-not-at-top

  class JpegFolder(torch.utils.data.Dataset):
    """PIL decode + RandomResizedCrop(224) + flip + ToTensor (torchvision's recipe)."""

    def __init__(self, paths, labels):
      self.paths, self.labels = paths, labels

    def __len__(self):
      return len(self.paths)

    def __getitem__(self, i):
      with Image.open(self.paths[i]) as img:
        img = img.convert("RGB")
        w, h = img.size
        g = torch.Generator().manual_seed(i)
        area = w * h * float(torch.empty(()).uniform_(0.08, 1.0, generator=g))
        ratio = float(torch.empty(()).uniform_(np.log(3 / 4), np.log(4 / 3), generator=g).exp())
        cw = int(min(w, max(1, round((area * ratio) ** 0.5))))
        ch = int(min(h, max(1, round((area / ratio) ** 0.5))))
        left = int(torch.randint(0, w - cw + 1, (), generator=g))
        top = int(torch.randint(0, h - ch + 1, (), generator=g))
        img = img.resize((224, 224), Image.Resampling.BILINEAR,
                         box=(left, top, left + cw, top + ch))
        if torch.rand((), generator=g) < 0.5:
          img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.array(img, np.uint8)).permute(2, 0, 1).float().div(255)
      return x, int(self.labels[i])

  jpeg_loader = torch.utils.data.DataLoader(JpegFolder(folder.paths, folder.labels),
                                            batch_size=jpeg_batch, shuffle=True,
                                            num_workers=workers, drop_last=True)
  def grain_decode_only():
    stream = prefetch.host_batches(folder, folder_sampler, 0, folder_sampler.steps_per_epoch,
                                   num_workers=workers)
    for images, labels in stream:
      yield sharding.global_batch(mesh, {"image": images, "label": labels})

  rows.append(dict(pipeline=f"JPEG folder (~450x340) -> 224, {workers} workers",
                   ltjax_host=_time_batches(grain_decode_only(), args.jpeg_batches, jpeg_batch),
                   ltjax=_time_batches(grain_path(), args.jpeg_batches, jpeg_batch),
                   torch=_time_batches(iter(jpeg_loader), args.jpeg_batches, jpeg_batch)))
  if args.resnet50_steps:
    rows[-1]["step"] = _resnet50_step_ips(args.resnet50_steps)
  print(f"\n## input pipeline alone (no model), img/s; {workers} worker processes on both sides")
  print("| pipeline | ltjax host part (gather or grain decode) + copy | ltjax as the trainer "
        "runs it (+ on-device augmentation) | torch DataLoader | ratio |")
  print("|---|---|---|---|---|")
  for r in rows:
    host = f"{r['ltjax_host']:.0f}"
    print(f"| {r['pipeline']} | {host} | {r['ltjax']:.0f} | {r['torch']:.0f} | "
          f"{r['ltjax'] / r['torch']:.2f} |")
  return rows


def _resnet50_step_ips(steps, batch=16):
  """ltjax ResNet-50 train-step img/s at 224x224 (the model an image-folder run trains)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  from ltjax import config as config_lib  # pylint: disable=g-import-not-at-top
  from ltjax import losses  # pylint: disable=g-import-not-at-top
  from ltjax import models  # pylint: disable=g-import-not-at-top
  from ltjax.core import optim  # pylint: disable=g-import-not-at-top
  from ltjax.train import steps as steps_lib  # pylint: disable=g-import-not-at-top
  model = models.build_model("resnet50", 1000)
  oc = config_lib.default_config().optimizer
  schedule = optim.learning_rate_schedule(oc, 100, 10)
  tx = optim.build_optimizer(oc, schedule)
  objective = losses.objective(config_lib.default_config().loss, jnp.ones((1000,)))
  state = jax.jit(lambda r: steps_lib.init_state(model, tx, r, (224, 224, 3)))(
      jax.random.key(0))
  step = jax.jit(steps_lib.make_train_step(model, tx, objective, schedule, mean=(0.5,) * 3,
                                           std=(0.25,) * 3,
                                           augment_spec=steps_lib.AugmentSpec(
                                               kind="random_resized_crop", image_size=224)),
                     donate_argnums=(0,))
  rng = np.random.RandomState(0)
  b = {"image": rng.randint(0, 256, (batch, 224, 224, 3)).astype(np.uint8),
       "label": rng.randint(0, 1000, (batch,)).astype(np.int32)}
  key = jax.random.key(1)
  state, m = step(state, b, key)
  jax.block_until_ready(m)
  start = time.perf_counter()
  for _ in range(steps):
    state, m = step(state, b, key)
  jax.block_until_ready(m)
  return batch * steps / (time.perf_counter() - start)


# ---------------------------------------------------------------- memory
_MEMORY_CHILD = r"""
import json, sys
sys.path.insert(0, {repo!r}); sys.path.insert(0, {experiments!r})
import bench
import ltjax.methods  # the method rooms (the configs bench builds have their sections)
framework, name, bf16 = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
before = bench.peak_rss_mb()
extra = {{}}
if framework == "torch":
  bench.bench_torch(name, {batch}, 3, 100, bf16)
else:
  bench.bench_ltjax(name, {batch}, 3, 100, bf16)
  import jax
  stats = jax.devices()[0].memory_stats() or {{}}
  extra["device_peak_mb"] = stats.get("peak_bytes_in_use", 0) / 2**20 or None
print(json.dumps(dict(rss_before_mb=before, peak_rss_mb=bench.peak_rss_mb(), **extra)))
"""


def peak_rss_mb() -> float:
  """This process's peak resident memory (VmHWM: unlike ru_maxrss it is not inherited from
  the parent across fork + exec)."""
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024
  raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _xla_plan_mb(name, batch, bf16):
  """XLA's buffer plan for one ltjax train step: arguments + outputs + temporaries (MB)."""
  import jax  # pylint: disable=g-import-not-at-top

  from ltjax.train import steps as steps_lib  # pylint: disable=g-import-not-at-top
  model, objective, tx, schedule, _ = _ltjax_setup(name, 100, bf16)
  state = jax.eval_shape(lambda r: steps_lib.init_state(model, tx, r, (32, 32, 3)),
                         jax.random.key(0))
  step_fn = steps_lib.make_train_step(model, tx, objective, schedule, mean=(0.5,) * 3,
                                      std=(0.25,) * 3)
  batch_spec = {"image": jax.ShapeDtypeStruct((batch, 32, 32, 3), np.uint8),
                "label": jax.ShapeDtypeStruct((batch,), np.int32)}
  compiled = jax.jit(step_fn, donate_argnums=(0,)).lower(state, batch_spec,
                                                         jax.random.key(1)).compile()
  m = compiled.memory_analysis()
  if m is None:
    return None
  return (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
          - m.alias_size_in_bytes) / 2**20


def cmd_memory(args) -> list[dict]:
  rows = []
  experiments = os.path.dirname(os.path.abspath(__file__))
  code = _MEMORY_CHILD.format(repo=REPO, experiments=experiments, batch=args.batch)
  for dtype in args.dtype.split(","):
    for name in args.models.split(","):
      row = dict(model=name, dtype=dtype)
      for framework in ("ltjax", "torch"):
        out = subprocess.run([sys.executable, "-c", code, framework, name,
                              "1" if dtype == "bf16" else "0"], capture_output=True, text=True,
                             check=True, env=os.environ)
        row[framework] = json.loads(out.stdout.strip().splitlines()[-1])
      row["xla_plan_mb"] = _xla_plan_mb(name, args.batch, dtype == "bf16")
      rows.append(row)
  print(f"\n## memory of a train step (batch {args.batch}, 3 steps + forward; one fresh process "
        "each, peak RSS (VmHWM) in MB)")
  print("| model | dtype | ltjax peak RSS | torch peak RSS | ltjax XLA buffer plan | "
        "ltjax device peak |")
  print("|---|---|---|---|---|---|")
  for r in rows:
    plan = "-" if r["xla_plan_mb"] is None else f"{r['xla_plan_mb']:.0f}"
    dev = r["ltjax"].get("device_peak_mb")
    print(f"| {r['model']} | {r['dtype']} | {r['ltjax']['peak_rss_mb']:.0f} | "
          f"{r['torch']['peak_rss_mb']:.0f} | {plan} | "
          f"{'n/a (CPU)' if not dev else f'{dev:.0f}'} |")
  return rows


# ---------------------------------------------------------------- levers
_LEVER_CHILD = r"""
import json, sys
sys.path.insert(0, {repo!r}); sys.path.insert(0, {experiments!r})
if {no_materialize}:
  from ltjax.models import resnet_cifar
  resnet_cifar.materialize = lambda x: x
import bench
p, train, ev, c = bench.bench_ltjax({name!r}, {batch}, {steps}, 100, {bf16}, data={data!r},
                                    per_dispatch={per_dispatch})
print(json.dumps(dict(train=train, eval=ev, compile=c)))
"""

LEVERS = (
    # (label, no_materialize, XLA defaults on, data, steps per dispatch, bf16)
    ("before issue 8 (host batches, XLA defaults)", True, False, "host", 1, False),
    ("+ stored block outputs (materialize)", False, False, "host", 1, False),
    ("+ ltjax XLA CPU flags (Eigen convolutions)", False, True, "host", 1, False),
    ("+ data on device, gather in the step", False, True, "device", 1, False),
    ("+ 4 steps per dispatch (lax.scan)", False, True, "device", 4, False),
    ("bf16 compute, fp32 master weights", False, True, "device", 1, True),
    ("bf16, XLA's default (YNNPACK) convolutions", False, False, "device", 1, True),
)


def cmd_levers(args) -> list[dict]:
  experiments = os.path.dirname(os.path.abspath(__file__))
  rows = []
  for name in args.models.split(","):
    torch_fp32 = bench_torch(name, args.batch, args.steps, 100, False)[1]
    torch_bf16 = bench_torch(name, args.batch, args.steps, 100, True)[1]
    for label, no_mat, flags_on, data, per_dispatch, bf16 in LEVERS:
      env = dict(os.environ, LTJAX_XLA_DEFAULTS="1" if flags_on else "0")
      code = _LEVER_CHILD.format(repo=REPO, experiments=experiments, no_materialize=no_mat,
                                 name=name, batch=args.batch, steps=args.steps, bf16=bf16,
                                 data=data, per_dispatch=per_dispatch)
      out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=env)
      r = json.loads(out.stdout.strip().splitlines()[-1])
      reference = torch_bf16 if bf16 else torch_fp32
      rows.append(dict(model=name, lever=label, ltjax=r["train"], torch=reference,
                       compile_s=r["compile"]))
  print(f"\n## levers, one at a time (train step, batch {args.batch}; torch fp32 / bf16 "
        "autocast measured in the same run)")
  print("| model | lever | ltjax train img/s | torch train img/s | ratio | compile s |")
  print("|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['model']} | {r['lever']} | {r['ltjax']:.1f} | {r['torch']:.1f} | "
          f"{r['ltjax'] / r['torch']:.2f} | {r['compile_s']:.1f} |")
  return rows


# ---------------------------------------------------------------- population
def _time_run(run, steps: int) -> tuple[float, float]:
  """(compile + first step s, timed s for `steps` steps) of a trainer run object's own
  jitted step (single or population), batches from its own sampler(s)."""
  import jax  # pylint: disable=g-import-not-at-top

  from ltjax.core import sharding  # pylint: disable=g-import-not-at-top
  state, run.state = run.state, None
  members = run.index_axis > 0

  def step(state, i):
    idx = run.indices(*run.sampler.position(i)).astype(np.int32)
    idx = sharding.global_batch(run.mesh, {"i": idx}, run.index_axis, members)["i"]
    return run.jitted.one(state, run.jitted.data, idx, run.rng, run.input_variables)

  start = time.perf_counter()
  state, m = step(state, 0)
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - start
  for i in range(1, 3):
    state, m = step(state, i)
  jax.block_until_ready(m)
  start = time.perf_counter()
  for i in range(3, 3 + steps):
    state, m = step(state, i)
  jax.block_until_ready(m)
  return compile_s, time.perf_counter() - start


def _population_config(workload: str, data_dir: str):
  from ltjax import config as config_lib  # pylint: disable=g-import-not-at-top
  if workload == "digits":
    c = config_lib.digits_lt_recipe()
  else:
    c = config_lib.cifar_lt_recipe("cifar10_lt")
    c.dataset.data_dir = data_dir
  c.train.num_epochs = 1000  # the schedule's length only; the bench times `steps` steps
  return c


def cmd_population(args) -> list[dict]:
  """A population of `--members` seeds in one program against as many separate runs, timed
  on the trainer's own run objects (`train.single_run`, `train.population`)."""
  import jax  # pylint: disable=g-import-not-at-top

  from ltjax.core import sharding  # pylint: disable=g-import-not-at-top
  from ltjax.train import members as members_lib  # pylint: disable=g-import-not-at-top
  from ltjax.train import population  # pylint: disable=g-import-not-at-top
  from ltjax.train import setup as setup_lib  # pylint: disable=g-import-not-at-top
  from ltjax.train import single_run  # pylint: disable=g-import-not-at-top
  rows = []
  for workload in args.workloads.split(","):
    config = _population_config(workload, args.data_dir)
    config.population.seeds = tuple(range(args.members))
    steps = args.population_steps if workload == "digits" else args.population_cifar_steps
    splits = setup_lib.build_splits(config)
    members = members_lib.expand(config)
    with tempfile.TemporaryDirectory() as tmp:
      sequential_compile = sequential = 0.0
      for m in members:
        run = single_run.SingleRun(m.config, splits, sharding.make_data_mesh(),
                                   os.path.join(tmp, m.name))
        c, t = _time_run(run, steps)
        sequential_compile, sequential = sequential_compile + c, sequential + t
      for execution in args.executions.split(","):
        config.population.execution = execution
        run = population.PopulationRun(config, members, splits,
                                       sharding.make_population_mesh(1),
                                       os.path.join(tmp, f"pop_{execution}"))
        timed = steps if execution == "loop" or jax.default_backend() != "cpu" else max(
            10, steps // 10)  # vmapped convolutions are slow on CPU: fewer steps
        c, t = _time_run(run, timed)
        rows.append(dict(workload=workload, members=len(members), execution=execution,
                         batch=config.train.batch_size, steps=timed,
                         population_steps_per_s=timed / t, population_compile_s=c,
                         sequential_steps_per_s=len(members) * steps / sequential,
                         sequential_compile_s=sequential_compile, sequential_steps=steps))
  print(f"\n## population of {args.members} seeds in one program vs {args.members} separate "
        "runs (the trainer's own step objects; member-steps/s = members x steps / s)")
  print("| workload | batch | execution | population member-steps/s | separate runs "
        "member-steps/s | speed-up | population compile s | separate compile s (sum) | "
        "timed steps |")
  print("|---|---|---|---|---|---|---|---|---|")
  for r in rows:
    pop = r["members"] * r["population_steps_per_s"]
    print(f"| {r['workload']} | {r['batch']} | {r['execution']} | {pop:.1f} | "
          f"{r['sequential_steps_per_s']:.1f} | {pop / r['sequential_steps_per_s']:.2f} | "
          f"{r['population_compile_s']:.1f} | {r['sequential_compile_s']:.1f} | "
          f"{r['steps']} (separate: {r['sequential_steps']} each) |")
  return rows


# ---------------------------------------------------------------- summary
def summary(train_rows, input_rows):
  print("\n## summary against the goals")
  print("| check | figure | goal | met |")
  print("|---|---|---|---|")
  for r in train_rows:
    ratio = r["ltjax_train"] / r["torch_train"]
    print(f"| train step {r['model']} {r['dtype']}: ltjax / torch | {ratio:.2f} | "
          f">= {GOAL_RATIO:.1f} | {'yes' if ratio >= GOAL_RATIO else 'no'} |")
  step = {r["model"]: r["ltjax_train"] for r in train_rows if r["dtype"] == "fp32"}
  if input_rows and "resnet32" in step:
    times = input_rows[0]["ltjax"] / step["resnet32"]
    print(f"| CIFAR input pipeline / ResNet-32 fp32 step img/s | {times:.0f}x | "
          f">= {GOAL_INPUT:.0f}x | {'yes' if times >= GOAL_INPUT else 'no'} |")
  if input_rows and input_rows[-1].get("step"):
    times = input_rows[-1]["ltjax"] / input_rows[-1]["step"]
    print(f"| JPEG input pipeline / ResNet-50 fp32 step img/s ({input_rows[-1]['step']:.1f}) | "
          f"{times:.0f}x | >= {GOAL_INPUT:.0f}x | {'yes' if times >= GOAL_INPUT else 'no'} |")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("command", choices=("train", "input", "memory", "levers", "population",
                                          "all"))
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--classes", type=int, default=100)
  parser.add_argument("--models", default="resnet32,ride3")
  parser.add_argument("--dtype", default="fp32,bf16", help="comma list of fp32, bf16")
  parser.add_argument("--steps-per-dispatch", type=int, default=1)
  parser.add_argument("--unroll", choices=("auto", "yes", "no"), default="auto",
                      help="unroll the multi-step scan (auto: on CPU only, as the trainer)")
  parser.add_argument("--workers", type=int, default=os.cpu_count(),
                      help="input-pipeline worker processes (both frameworks)")
  parser.add_argument("--jpeg-batches", type=int, default=20)
  parser.add_argument("--resnet50-steps", type=int, default=2,
                      help="time the ResNet-50 step the JPEG pipeline feeds (0 = skip)")
  parser.add_argument("--torch-modes", default="eager",
                      help="train: PyTorch modes besides eager (compile, cudagraphs)")
  parser.add_argument("--members", type=int, default=4, help="population: seeds")
  parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(REPO), "shared", "data"),
                      help="population: the directory holding cifar10.npz")
  parser.add_argument("--workloads", default="digits,cifar10_lt",
                      help="population: digits (small CNN) and/or cifar10_lt (ResNet-32)")
  parser.add_argument("--executions", default="loop,vmap", help="population: loop and/or vmap")
  parser.add_argument("--population-steps", type=int, default=300,
                      help="population: timed steps on digits")
  parser.add_argument("--population-cifar-steps", type=int, default=30,
                      help="population: timed steps on CIFAR-10-LT ResNet-32")
  args = parser.parse_args()
  args.unroll = {"auto": None, "yes": True, "no": False}[args.unroll]
  import ltjax  # noqa: F401  (sets the XLA CPU defaults before JAX starts)
  import ltjax.methods  # pylint: disable=g-import-not-at-top,unused-import  (the method rooms)
  from ltjax.core import cli  # pylint: disable=g-import-not-at-top
  with cli.user_errors_as_one_sentence("experiments/bench.py"):
    run(args)


def run(args):
  """The commands `args.command` names, then the summary against the goals."""
  print(machine_line())
  print(f"command: python experiments/bench.py {' '.join(sys.argv[1:])}")
  train_rows, input_rows = [], []
  if args.command in ("train", "all"):
    train_rows = cmd_train(args)
  if args.command in ("input", "all"):
    input_rows = cmd_input(args)
  if args.command in ("memory", "all"):
    cmd_memory(args)
  if args.command in ("levers", "all"):
    cmd_levers(args)
  if args.command in ("population", "all"):
    cmd_population(args)
  if train_rows or input_rows:
    summary(train_rows, input_rows)
  print(f"\ngoals: ltjax / PyTorch >= {GOAL_RATIO:.1f} for the fp32 and bf16 train steps; "
        f"input pipeline >= {GOAL_INPUT:.0f}x the step's img/s")


if __name__ == "__main__":
  main()
