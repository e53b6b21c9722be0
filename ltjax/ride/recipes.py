"""RIDE recipes (ride.md): the CIFAR-LT and ImageNet-LT / iNaturalist experts, the router stage."""

from __future__ import annotations

import ml_collections

from ltjax.config.defaults import default_config
from ltjax.config.recipes import cifar_lt_recipe
from ltjax.config.recipes import digits_lt_recipe
from ltjax.decoupled.recipes import decoupled_stage


def ride_cifar_recipe(name: str, num_experts: int) -> ml_collections.ConfigDict:
  """RIDE on CIFAR-LT (ride.md): reduced-width RIDE ResNet-32, the RIDE loss (lambda -0.45,
  gamma 0.05, LDAM margins, DRW and per-class temperature from epoch 160), SGD Nesterov, lr 0.1,
  weight decay 5e-4, batch 128, 200 epochs, 5-epoch warm-up, x0.01 at 160 and 180, and the
  reference's extra RandomRotation(15) after pad-crop-flip."""
  c = cifar_lt_recipe(name)
  c.model.name = "ride_cifar_resnet32"
  c.model.num_experts = num_experts
  c.model.reduced = True
  c.loss.name = "ride"
  c.loss.drw_epoch = 160
  c.loss.ride_diversity_factor = -0.45
  c.loss.ride_reweight_factor = 0.05
  c.optimizer.nesterov = True
  c.optimizer.weight_decay = 5e-4
  c.augment.rotation_degrees = 15.0
  return c


def ride_digits_recipe(num_experts: int) -> ml_collections.ConfigDict:
  """RIDE on digits-LT, a CPU-sized stand-in: the RIDE loss of the CIFAR recipe (DRW and
  per-class temperature from epoch 48 of 60, the digits recipe's 80%) on a tiny RIDE network,
  the digits recipe's data, optimizer and schedule otherwise."""
  c = digits_lt_recipe()
  c.model.name = "ride_cifar_tiny"
  c.model.num_experts = num_experts
  c.loss.name = "ride"
  c.loss.ride_diversity_factor = -0.45
  c.loss.ride_reweight_factor = 0.05
  return c


def ride_imagenet_recipe(num_experts: int, model_name: str = "ride_resnext50",
                         inat: bool = False) -> ml_collections.ConfigDict:
  """RIDE on ImageNet-LT (or iNaturalist 2018 with inat=True): shared stem/layer1/layer2,
  reduced experts, lambda -0.2, gamma 0.02 (iNat 0.015), DRW at 80, SGD Nesterov lr 0.1
  (iNat 0.2), weight decay 2e-4, batch 256 (iNat 512), 100 epochs, warm-up 5, x0.1 at 60 and
  80. RandomResizedCrop 224 + flip on device (ColorJitter not applied)."""
  c = default_config()
  c.dataset.name = "image_folder"
  c.dataset.source = "image_folder"
  prefix = "iNaturalist18" if inat else "ImageNet_LT"
  c.dataset.train_list = f"{prefix}_train.txt"
  # iNaturalist has no published validation split: its official val list is the test set.
  c.dataset.val_list = "" if inat else f"{prefix}_val.txt"
  c.dataset.test_list = f"{prefix}_val.txt" if inat else f"{prefix}_test.txt"
  c.dataset.num_classes = 8142 if inat else 1000
  c.dataset.image_size = 224
  c.dataset.train_image_size = 256
  c.augment.kind = "random_resized_crop"
  c.model.name = model_name
  c.model.num_experts = num_experts
  c.loss.name = "ride"
  c.loss.drw_epoch = 80
  c.loss.ride_diversity_factor = -0.2
  c.loss.ride_reweight_factor = 0.015 if inat else 0.02
  c.optimizer.learning_rate = 0.2 if inat else 0.1
  c.optimizer.nesterov = True
  c.optimizer.weight_decay = 2e-4
  c.optimizer.decay_epochs = (60, 80)
  c.optimizer.decay_factors = (0.1, 0.01)
  c.train.batch_size = 512 if inat else 256
  c.train.num_epochs = 100
  c.train.eval_batch_size = 1000
  c.train.checkpoint_every_epochs = 1
  c.train.log_every_steps = 100
  return c


def ride_router_stage(c: ml_collections.ConfigDict,
                      stage1_workdir: str) -> ml_collections.ConfigDict:
  """RIDE stage 2 (expert assignment): routers on the frozen experts, 5 epochs, batch 512,
  class-balanced sampling, SGD Nesterov lr 0.01 cosine, weight decay 5e-4, pos_weight 100."""
  decoupled_stage(c, "ride_router", stage1_workdir)
  c.decoupled.num_epochs = 5
  c.decoupled.batch_size = 512
  c.decoupled.learning_rate = 0.01
  c.decoupled.weight_decay = 5e-4
  c.decoupled.nesterov = True
  c.decoupled.router_pos_weight = 100.0
  return c
