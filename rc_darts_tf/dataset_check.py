"""What a --dataset is, checked without TensorFlow: entry points call this before importing it, so
a bad dataset (unknown name, missing folder, bad image tree, unprepared tfds data) is refused
within about a second, and the budget can be checked against the dataset's classes and input size
before any TensorFlow work.

  facts = dataset_check.dataset_facts(dataset, data_dir, manual_dir, download, image_size)
  ...                                 # checks that need the classes and the input size (budget)
  dataset_check.verify_images(facts)  # decode every image of an ImageFolder tree (~1 s / 12,000)
  source = data.load_source(dataset, ..., facts=facts)   # TensorFlow from here on

Every refusal is a DatasetError with a one-line message.
"""

import dataclasses
import math
import os
import socket
import threading
from typing import Optional

from rc_darts_tf import dataset_names, image_tree
from rc_darts_tf.errors import DatasetError

# Host probed before tfds tries to download a missing dataset ("host:port"); overridable so tests
# can simulate a machine without network.
PROBE_ENV = "RC_DARTS_TF_PROBE"
DEFAULT_PROBE = "www.cs.toronto.edu:443"
SAMPLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_data")


@dataclasses.dataclass
class DatasetFacts:
  """What the network needs to know of a dataset, and what data.load_source reuses."""

  name: str                       # the dataset as given
  kind: str                       # 'tfds', 'imagefolder' or 'sample'
  num_classes: int
  image_size: int                 # the network input side (given, native or inferred)
  tree: Optional[image_tree.Tree] = None        # imagefolder and sample
  builder: object = None                         # tfds: the tfds builder
  prepare: Optional[dict] = None                 # tfds, not prepared yet: how to prepare it


def dataset_facts(dataset: str, data_dir: Optional[str] = None, manual_dir: Optional[str] = None,
                  download: bool = True, image_size: int = 0) -> DatasetFacts:
  """Classes and input size of `dataset`, and whether it can be read; DatasetError otherwise.

  imagefolder and sample: the tree is listed and its layout checked (image_tree.scan; images are
  decoded by `verify_images`). tfds names: the number of classes and the native size are known;
  the data must be prepared under data_dir, or preparable (imagenet2012: the archives in
  manual_dir; cifar: download allowed and the network reachable).
  """
  kind, arg = dataset_names.parse(dataset)
  if kind == "sample":
    if not os.path.isdir(os.path.join(SAMPLE_DIR, "train")):
      raise DatasetError(f"the bundled sample dataset is missing from {SAMPLE_DIR}: reinstall "
                         "rc-darts-tf (pip install -e .) or use --dataset=imagefolder:PATH")
    tree = image_tree.scan("sample", SAMPLE_DIR, image_size)
    return DatasetFacts(dataset, kind, tree.num_classes, tree.image_size, tree=tree)
  if kind == "imagefolder":
    tree = image_tree.scan(dataset, arg, image_size)
    return DatasetFacts(dataset, kind, tree.num_classes, tree.image_size, tree=tree)
  builder, prepare = tfds_builder(arg, data_dir, manual_dir, download)
  return DatasetFacts(dataset, kind, dataset_names.TFDS_NUM_CLASSES[arg],
                      image_size or dataset_names.TFDS_IMAGE_SIZE[arg], builder=builder,
                      prepare=prepare)


def verify_images(facts: DatasetFacts) -> None:
  """Decode every image an ImageFolder tree will give (image_tree.verify); nothing for tfds."""
  if facts.tree is not None:
    image_tree.verify(facts.tree)


def check_halves(name: str, num_train: int, batch_size: int, train_portion: float) -> None:
  """The search's two halves of `num_train` training images (floor(train_portion * N) for the
  weights, the rest for θ) must each hold one batch of `batch_size`; DatasetError otherwise."""
  num_w = math.floor(train_portion * num_train)     # as data.search_subsets
  num_a = num_train - num_w
  if min(num_w, num_a) < batch_size:
    raise DatasetError(
        f"dataset {name}: {num_train} training images split {num_w}/{num_a} "
        f"(train_portion={train_portion}) give less than one batch of {batch_size}; lower "
        "--batch_size or use more data")


def tfds_builder(name: str, data_dir: Optional[str], manual_dir: Optional[str], download: bool):
  """(tfds builder, None) when `name` is prepared under data_dir, (builder, {'manual_dir': ...})
  when it can be prepared now; DatasetError (one line saying how to provide the data) when not.
  tensorflow-datasets opens a builder without importing TensorFlow."""
  import tensorflow_datasets as tfds
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as error:  # noqa: BLE001 - tfds raises many kinds
    raise DatasetError(f"dataset {name}: tensorflow-datasets cannot open it ({error})") from None
  if builder.is_prepared():
    return builder, None
  root = data_dir or os.path.dirname(os.path.dirname(builder.data_dir))
  elsewhere = ("or use --dataset=imagefolder:PATH for images on disk, or --dataset=sample for "
               "the bundled sample")
  if name == "imagenet2012":
    if not manual_dir or not os.path.isdir(manual_dir):
      what = f"--manual_dir={manual_dir} does not exist" if manual_dir else "no --manual_dir given"
      raise DatasetError(
          f"dataset imagenet2012 is not prepared under {root} and {what}: put "
          "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in a directory and pass "
          "--manual_dir=DIR (prepared once into --data_dir), or pass --data_dir of a prepared "
          f"copy, {elsewhere}")
    return builder, {"manual_dir": manual_dir, "root": root}
  how = (f"run `tfds build {name} --data_dir=DIR` on a machine with network access and pass "
         f"--data_dir=DIR, {elsewhere}")
  if not download:
    raise DatasetError(f"dataset {name} is not prepared under {root} and --nodownload is set: "
                       f"{how}")
  probe = os.environ.get(PROBE_ENV, DEFAULT_PROBE)
  if not _reachable(probe):
    raise DatasetError(f"dataset {name} is not prepared under {root} and the network is "
                       f"unreachable ({probe}): {how}")
  return builder, {"manual_dir": None, "root": root}


def _reachable(host_port: str, timeout: float = 5.0) -> bool:
  """Whether a TCP connection to host:port opens within `timeout` s (DNS included)."""
  host, _, port = host_port.rpartition(":")
  result = []

  def attempt():
    try:
      with socket.create_connection((host, int(port)), timeout=timeout):
        result.append(True)
    except (OSError, ValueError):
      result.append(False)

  thread = threading.Thread(target=attempt, daemon=True)
  thread.start()
  thread.join(timeout)
  return bool(result and result[0])
