r"""Cross-entropy, ResNeXt-50 (32x4d), ImageNet-LT, the decoupling (Kang et al.) recipe.

  python -m ltjax.main --config configs/imagenet_lt/ce.py --workdir runs/imagenet_lt_ce \
      --config.dataset.data_dir=/data/imagenet   # holds train/..., val/... and the lists
  # smoke test (seconds, on a generated folder): --config configs/imagenet_lt/ce.py:smoke

Data: `ImageNet_LT_{train,val,test}.txt` (lines `relative/path label`) relative to data_dir;
train 115,846 images (1280..5 per class), val 20,000 (20/class, the published split used for
selection), test 50,000 (= ILSVRC2012 val). Recipe: 90 epochs, batch 512, SGD momentum 0.9,
lr 0.2 with cosine decay, weight decay 5e-4; train: RandomResizedCrop 224 + flip (on device,
from the host's 256 centre square; the recipe's ColorJitter is not applied); test: resize 256,
centre crop 224. Reference: top-1 44.4, many/medium/few 65.9/37.5/7.7 (decoupling paper).
"""

from ltjax import config as config_lib


def get_config(arg: str | None = None):
  c = config_lib.default_config()
  c.dataset.name = "image_folder"
  c.dataset.source = "image_folder"
  c.dataset.train_list = "ImageNet_LT_train.txt"
  c.dataset.val_list = "ImageNet_LT_val.txt"
  c.dataset.test_list = "ImageNet_LT_test.txt"
  c.dataset.num_classes = 1000
  c.dataset.image_size = 224
  c.dataset.train_image_size = 256
  c.augment.kind = "random_resized_crop"
  c.model.name = "resnext50_32x4d"
  c.optimizer.learning_rate = 0.2  # for batch 512
  c.optimizer.weight_decay = 5e-4
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_epochs = 0
  c.train.batch_size = 512
  c.train.num_epochs = 90
  c.train.eval_batch_size = 1000
  c.train.checkpoint_every_epochs = 1
  c.train.log_every_steps = 100
  if arg == "smoke":
    config_lib.shrink_for_smoke(c, "resnet_tiny")
    c.dataset.image_size = 32
    c.dataset.train_image_size = 40
  elif arg:
    raise ValueError(f"unknown config argument {arg!r}; use 'smoke' or nothing")
  return c
