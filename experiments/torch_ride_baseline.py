r"""The PyTorch side of the CIFAR-LT RIDE wall-time comparison: the same RIDE-3 network, data,
schedule and batch as `configs/<name>/ride_e3.py`, trained the way the papers' code trains it.

  python experiments/torch_ride_baseline.py --data DIR [--epochs 200] [--max-seconds 90]

Same as ltjax's run: the long-tailed train subset (ltjax's own split code, so the same images),
the reduced RIDE ResNet-32 with 3 experts (parameter count printed, equal to ltjax's), SGD
Nesterov with the config's lr schedule read off ltjax's schedule step by step, weight decay,
batch 128, pad-4 crop + flip + rotation(15) augmentation. As in the reference code, augmentation
runs per image in DataLoader worker processes and the model runs eager, fp32 (cuDNN's default
TF32 convolutions on a GPU).

Not the same: the loss is the sum of the experts' cross-entropies, not the RIDE loss (LDAM
margins, diversity KL, DRW); that loss is a few elementwise ops on (3, 128, C) logits, so the
time it leaves out is small next to the network, and the torch top-1 is not a RIDE result.

`--max-seconds` stops after the epoch that crosses it and prints the measured seconds per epoch
and the extrapolated time for all epochs, labelled as such.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)


class _AugmentedCifar:
  """uint8 (N, 32, 32, 3) -> float CHW tensors with pad-crop-flip-rotate (torch Dataset)."""

  def __init__(self, images, labels, rotation_degrees):
    self.images, self.labels, self.rotation = images, labels, rotation_degrees

  def __len__(self):
    return len(self.labels)

  def __getitem__(self, i):
    from PIL import Image  # pylint: disable=g-import-not-at-top
    import torch  # pylint: disable=g-import-not-at-top
    rng = np.random.default_rng()
    padded = np.pad(self.images[i], ((4, 4), (4, 4), (0, 0)))
    y, x = rng.integers(0, 9, 2)
    image = padded[y:y + 32, x:x + 32]
    if rng.random() < 0.5:
      image = image[:, ::-1]
    if self.rotation:
      angle = rng.uniform(-self.rotation, self.rotation)
      image = np.asarray(Image.fromarray(np.ascontiguousarray(image)).rotate(
          angle, resample=Image.NEAREST))
    return torch.from_numpy(np.array(image)), int(self.labels[i])


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data", required=True, help="directory (or .npz) with CIFAR-10/100")
  parser.add_argument("--dataset", default="cifar10_lt", choices=("cifar10_lt", "cifar100_lt"))
  parser.add_argument("--epochs", type=int, default=200)
  parser.add_argument("--workers", type=int, default=8)
  parser.add_argument("--max-seconds", type=float, default=0.0,
                      help="stop after the epoch that crosses this many seconds (0: never)")
  args = parser.parse_args(argv)

  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  from experiments import bench  # pylint: disable=g-import-not-at-top
  from ltjax.core import optim  # pylint: disable=g-import-not-at-top
  import ltjax.methods  # pylint: disable=g-import-not-at-top,unused-import  (the method rooms)
  from ltjax.data import datasets  # pylint: disable=g-import-not-at-top
  from ltjax.ride import recipes as ride_recipes  # pylint: disable=g-import-not-at-top

  wall_start = time.perf_counter()
  config = ride_recipes.ride_cifar_recipe(args.dataset, num_experts=3)
  config.dataset.data_dir = args.data
  config.train.num_epochs = args.epochs
  splits = datasets.build_splits(config)
  train, test = splits.train, splits.test
  batch = config.train.batch_size
  steps_per_epoch = len(train.labels) // batch  # ltjax drops the last partial batch too
  lr = np.asarray(jax.vmap(optim.learning_rate_schedule(
      config.optimizer, steps_per_epoch, args.epochs))(jnp.arange(steps_per_epoch * args.epochs)))

  device = bench.torch_device()
  torch.backends.cudnn.benchmark = True
  model = bench.torch_models()["ride3"](splits.num_classes).to(device)
  params = sum(p.numel() for p in model.parameters())
  opt = torch.optim.SGD(model.parameters(), lr=float(lr[0]), momentum=config.optimizer.momentum,
                        nesterov=config.optimizer.nesterov,
                        weight_decay=config.optimizer.weight_decay)
  mean = torch.tensor(splits.mean, device=device).view(1, 3, 1, 1)
  std = torch.tensor(splits.std, device=device).view(1, 3, 1, 1)

  def to_input(images_u8):
    x = images_u8.to(device, non_blocking=True).permute(0, 3, 1, 2).float() / 255.0
    return (x - mean) / std

  loader = torch.utils.data.DataLoader(
      _AugmentedCifar(train.images, train.labels, config.augment.rotation_degrees),
      batch_size=batch, shuffle=True, drop_last=True, num_workers=args.workers,
      pin_memory=device == "cuda", persistent_workers=args.workers > 0)
  sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
  epoch_seconds, step = [], 0
  train_start = time.perf_counter()
  for _ in range(args.epochs):
    model.train()
    start = time.perf_counter()
    for images, labels in loader:
      for group in opt.param_groups:
        group["lr"] = float(lr[step])
      labels = labels.to(device, non_blocking=True)
      logits = model(to_input(images))  # (experts, B, C)
      loss = sum(F.cross_entropy(z, labels) for z in logits)
      opt.zero_grad(set_to_none=True)
      loss.backward()
      opt.step()
      step += 1
    sync()
    epoch_seconds.append(time.perf_counter() - start)
    if args.max_seconds and time.perf_counter() - train_start > args.max_seconds:
      break
  train_seconds = time.perf_counter() - train_start

  model.eval()
  correct = 0
  with torch.no_grad():
    for i in range(0, len(test.labels), 1000):
      images = torch.from_numpy(test.images[i:i + 1000])
      pred = model(to_input(images)).mean(0).argmax(-1).cpu().numpy()
      correct += int((pred == test.labels[i:i + 1000]).sum())
  done = len(epoch_seconds)
  # The first epoch carries cuDNN autotuning and worker start-up; later ones are steady.
  steady = float(np.median(epoch_seconds[1:])) if done > 1 else epoch_seconds[0]
  result = dict(framework=f"torch {torch.__version__}", device=device, params=params,
                epochs_run=done, epochs_planned=args.epochs, train_seconds=train_seconds,
                first_epoch_s=epoch_seconds[0], steady_epoch_s=steady,
                all_epochs_s_extrapolated=(None if done == args.epochs else
                                           epoch_seconds[0] + steady * (args.epochs - 1)),
                test_top1=correct / len(test.labels) if done == args.epochs else None,
                test_top1_after_run=correct / len(test.labels),
                wall_seconds=time.perf_counter() - wall_start)
  print(json.dumps(result))
  return result


if __name__ == "__main__":
  main()
