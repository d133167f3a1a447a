"""A trained-model directory (what rc-darts-train writes): read it, check it, load its network.

  trained = model_dir.read("runs/train")          # no TensorFlow: model_info.json only
  trained.genotype, trained.geometry, trained.preprocessing, trained.class_names
  net = model_dir.load_network(trained)           # logits-only keras.Model [B, S, S, 3] -> [B, K]

Used by rc-darts-export and `rc-darts-train --evaluate`, so both read a model the same way and
normalise every image with the model's own statistics (preprocessing.py). Directories written
before class names were recorded (no "class_names" in model_info.json) read with
class_names = None; a model_info.json without mean/std (not written by rc-darts-train) reads with
preprocessing = None, and `preprocessing_for` then takes the dataset's statistics. Every
problem raises RcDartsError naming the directory and the bad part.
"""

import dataclasses
import json
import os
from typing import Dict, List, Optional

from rc_darts_tf import genotype as genotype_lib
from rc_darts_tf.errors import RcDartsError
from rc_darts_tf.preprocessing import Preprocessing

MODEL_FILE = "model.keras"
INFO_FILE = "model_info.json"
GEOMETRY = ("init_channels", "layers", "stem", "image_size", "num_classes")


@dataclasses.dataclass
class TrainedModel:
  """A checked trained-model directory as `read` returns it (no TensorFlow needed)."""
  path: str                                   # absolute path of the directory
  flag: str                                   # how the user named it, for messages
  info: Dict[str, object]                     # model_info.json as read
  genotype: genotype_lib.Genotype
  geometry: Dict[str, object]                 # GEOMETRY keys
  preprocessing: Optional[Preprocessing]     # None when model_info.json records no mean/std
  class_names: Optional[List[str]]            # None in directories from before they were kept


def read(path: str, flag: str = "--model_dir") -> TrainedModel:
  """Read and check `path`/model_info.json (and that model.keras exists)."""
  shown = f"{flag}={path}"
  full = os.path.abspath(path)
  if not os.path.isdir(full):
    raise RcDartsError(f"{shown} does not exist or is not a directory")
  for name in (MODEL_FILE, INFO_FILE):
    if not os.path.isfile(os.path.join(full, name)):
      raise RcDartsError(f"{shown} holds no {name} (expected a directory written by "
                         "rc-darts-train)")
  try:
    with open(os.path.join(full, INFO_FILE)) as f:
      info = json.load(f)
    geometry = {k: info[k] for k in GEOMETRY}
    genotype = genotype_lib.Genotype.from_json_dict(info["genotype"],
                                                    source=f"{full}/{INFO_FILE}").validate()
    prep = (Preprocessing.from_model_info(info)
            if "preprocessing" in info or "mean" in info or "std" in info else None)
    names = info.get("class_names")
    if names is not None and (len(names) != geometry["num_classes"] or
                              not all(isinstance(n, str) for n in names)):
      raise ValueError(f"class_names should be {geometry['num_classes']} strings")
  except (OSError, ValueError, KeyError, TypeError) as error:
    raise RcDartsError(f"{shown}: {INFO_FILE} is unreadable ({type(error).__name__}: "
                       f"{error})") from None
  if prep is not None and prep.image_size != geometry["image_size"]:
    raise RcDartsError(f"{shown}: {INFO_FILE} records image_size {geometry['image_size']} and "
                       f"preprocessing for {prep.image_size}")
  return TrainedModel(full, shown, info, genotype, geometry, prep,
                      list(names) if names is not None else None)


def load_network(trained: TrainedModel):
  """The logits-only Keras network of the directory (drops an auxiliary head)."""
  import keras
  from rc_darts_tf import network  # registers the custom layers
  try:
    model = keras.saving.load_model(os.path.join(trained.path, MODEL_FILE), compile=False)
  except Exception as error:  # Keras raises many types for a bad file
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    raise RcDartsError(f"{trained.flag}: {MODEL_FILE} cannot be loaded ({first})") from None
  classes = trained.geometry["num_classes"]
  net = network.inference_model(model)
  if len(net.outputs) != 1 or tuple(net.outputs[0].shape[1:]) != (classes,):
    raise RcDartsError(f"{trained.flag}: {MODEL_FILE} should output logits [batch, {classes}], "
                       f"it outputs {[tuple(o.shape) for o in net.outputs]}")
  side = trained.geometry["image_size"]
  if tuple(net.inputs[0].shape[1:]) != (side, side, 3):
    raise RcDartsError(f"{trained.flag}: {MODEL_FILE} takes {tuple(net.inputs[0].shape[1:])}, "
                       f"{INFO_FILE} says {side}x{side}x3")
  return net


def check_classes(trained: TrainedModel, source) -> None:
  """Refuse a dataset whose classes are not the model's (count, and names when both are known):
  accuracy on it would compare unrelated indices."""
  if source.num_classes != trained.geometry["num_classes"]:
    raise RcDartsError(f"dataset {source.name} has {source.num_classes} classes, the model in "
                       f"{trained.flag} was trained on {trained.geometry['num_classes']}")
  if trained.class_names is not None and list(source.class_names) != trained.class_names:
    diff = [(i, a, b) for i, (a, b) in enumerate(zip(trained.class_names, source.class_names))
            if a != b]
    i, a, b = diff[0]
    raise RcDartsError(f"dataset {source.name}: class {i} is {b!r}, the model in {trained.flag} "
                       f"calls it {a!r} (classes are matched by sorted folder name)")


def preprocessing_for(trained: TrainedModel, source=None):
  """(Preprocessing, where it comes from): the model's own; for a model_info.json without
  statistics, the dataset's (RcDartsError without a dataset)."""
  if trained.preprocessing is not None:
    return trained.preprocessing, "the model's (model_info.json)"
  if source is None:
    raise RcDartsError(f"{trained.flag}: {INFO_FILE} records no mean/std of the training images; "
                       "give --dataset=<the training dataset> to take its statistics")
  return (Preprocessing(trained.geometry["image_size"], tuple(source.mean), tuple(source.std)),
          f"dataset {source.name}'s ({INFO_FILE} records none)")


def labels_for(trained: Optional[TrainedModel], source, num_classes: int):
  """(class names in output order, where they come from): the model's own, else the dataset's
  (same class count), else class_<i>."""
  if trained is not None and trained.class_names is not None:
    return trained.class_names, INFO_FILE
  if source is not None and source.num_classes == num_classes:
    return list(source.class_names), f"dataset {source.name}"
  return [f"class_{i}" for i in range(num_classes)], "none recorded: class_<index>"
