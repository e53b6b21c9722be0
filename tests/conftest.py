"""Test set-up: 4 fake CPU devices (set before JAX starts) and shared fixtures."""

import importlib.util
import json
import os
import pickle

# Must happen before jax is imported anywhere: the tests exercise a 4-device `data` mesh.
# The suite's programs are tiny and run a few steps, so compiling them costs far more than
# running them: XLA's backend optimisation level 0 compiles about 3x faster on the CPU (the
# results agree to float tolerance; the tests compare runs made under the same flags).
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=4"
                           " --xla_backend_optimization_level=0").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Many smoke runs compile the same small programs (eval steps, tiny models): share XLA's
# persistent compilation cache across tests, workers and subprocesses.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", ".pytest_cache", "jax_compilation"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

import numpy as np  # pylint: disable=g-import-not-at-top

import ltjax.methods  # pylint: disable=g-import-not-at-top,unused-import  (the method rooms)
import pytest  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_CIFAR10 = os.path.join(os.path.dirname(REPO), "shared", "data", "cifar10.npz")


@pytest.fixture(scope="session")
def shared_cifar10_dir():
  """Directory holding the real (JPEG-degraded) cifar10.npz, or skip when absent."""
  if not os.path.exists(SHARED_CIFAR10):
    pytest.skip("../shared/data/cifar10.npz not present")
  return os.path.dirname(SHARED_CIFAR10)


# The real batches.meta names (configs select classes by name, e.g. the auxiliary demo).
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck")


def write_fake_cifar100(root: str, per_class: int = 20, test_per_class: int = 4,
                        seed: int = 0) -> str:
  """A small `cifar-100-python` folder in the real layout (pickled dicts with bytes keys)."""
  rng = np.random.RandomState(seed)
  folder = os.path.join(root, "cifar-100-python")
  os.makedirs(folder, exist_ok=True)

  def dump(name, n_per_class):
    labels = np.tile(np.arange(100), n_per_class)
    rng.shuffle(labels)
    data = rng.randint(0, 256, size=(len(labels), 3072), dtype=np.uint8)
    with open(os.path.join(folder, name), "wb") as f:
      pickle.dump({b"data": data, b"fine_labels": labels.tolist(),
                   b"coarse_labels": (labels // 5).tolist()}, f)

  dump("train", per_class)
  dump("test", test_per_class)
  with open(os.path.join(folder, "meta"), "wb") as f:
    pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, f)
  return root


@pytest.fixture
def fake_cifar100_dir(tmp_path):
  return write_fake_cifar100(str(tmp_path))


def write_fake_image_folder(root: str, num_classes: int = 4, per_class=(8, 6, 4, 2),
                            eval_per_class: int = 2, prefix: str = "ImageNet_LT") -> str:
  """JPEGs under root/train and root/val plus `relative/path label` lists, ImageNet-LT style."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(0)
  lists = {"train": [], "val": [], "test": []}
  for c in range(num_classes):
    for split, n in (("train", per_class[c]), ("val", eval_per_class), ("test", eval_per_class)):
      folder = os.path.join(root, split, f"n{c:08d}")
      os.makedirs(folder, exist_ok=True)
      for i in range(n):
        colour = (np.array([60 * c, 255 - 60 * c, 128]) + rng.randint(-20, 20, 3)).clip(0, 255)
        img = np.broadcast_to(colour, (48, 64, 3)).astype(np.uint8)
        rel = f"{split}/n{c:08d}/{i}.JPEG"
        Image.fromarray(img).save(os.path.join(root, rel), format="JPEG")
        lists[split].append(f"{rel} {c}")
  for split, lines in lists.items():
    with open(os.path.join(root, f"{prefix}_{split}.txt"), "w") as f:
      f.write("\n".join(lines) + "\n")
  return root


def pytest_configure(config):
  del config
  import jax  # pylint: disable=g-import-not-at-top

  # Silent rank promotion hides shape bugs; make it an error in every test.
  jax.config.update("jax_numpy_rank_promotion", "raise")


def write_fake_cifar10(root: str, per_class: int = 30, test_per_class: int = 4,
                       seed: int = 0) -> str:
  """A small `cifar-10-batches-py` folder in the real layout (5 train batches + test)."""
  rng = np.random.RandomState(seed)
  folder = os.path.join(root, "cifar-10-batches-py")
  os.makedirs(folder, exist_ok=True)
  labels = np.tile(np.arange(10), per_class)
  rng.shuffle(labels)
  parts = np.array_split(np.arange(len(labels)), 5)
  for i, part in enumerate(parts):
    with open(os.path.join(folder, f"data_batch_{i + 1}"), "wb") as f:
      pickle.dump({b"data": rng.randint(0, 256, (len(part), 3072), dtype=np.uint8),
                   b"labels": labels[part].tolist()}, f)
  test_labels = np.tile(np.arange(10), test_per_class)
  with open(os.path.join(folder, "test_batch"), "wb") as f:
    pickle.dump({b"data": rng.randint(0, 256, (len(test_labels), 3072), dtype=np.uint8),
                 b"labels": test_labels.tolist()}, f)
  with open(os.path.join(folder, "batches.meta"), "wb") as f:
    pickle.dump({b"label_names": [n.encode() for n in CIFAR10_NAMES]}, f)
  return root


def write_fake_aux_folder(root: str, prefix: str, target_names, num_aux: int = 3,
                          per_class: int = 4) -> str:
  """An auxiliary image folder beside a fake LT folder: `<prefix>_aux_train.txt`, the names
  file and a parents table (auxiliary j -> target j % T, and the first one also -> target 1)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(1)
  lines, names = [], [f"aux{j}" for j in range(num_aux)]
  for j in range(num_aux):
    folder = os.path.join(root, "aux_train", names[j])
    os.makedirs(folder, exist_ok=True)
    for i in range(per_class):
      img = rng.randint(0, 256, (48, 64, 3)).astype(np.uint8)
      rel = f"aux_train/{names[j]}/{i}.JPEG"
      Image.fromarray(img).save(os.path.join(root, rel), format="JPEG")
      lines.append(f"{rel} {j}")
  with open(os.path.join(root, f"{prefix}_aux_train.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
  with open(os.path.join(root, f"{prefix}_aux_names.txt"), "w") as f:
    f.write("\n".join(names) + "\n")
  parents = {n: [target_names[j % len(target_names)]] for j, n in enumerate(names)}
  parents[names[0]].append(target_names[1])
  with open(os.path.join(root, f"{prefix}_aux_parents.json"), "w") as f:
    json.dump(parents, f)
  return root


def load_config(relpath, arg="smoke"):
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(REPO, relpath))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)
