"""A trained network's input contract: raw RGB pixels -> the normalised images it was trained on.

The network is trained on images normalised with its training set's per-channel statistics
(data/): x = (pixel / 255 - mean) / std. Those statistics belong to the model, not to whatever
dataset it is later evaluated on or exported with, so they are recorded once at training time
(model_info.json, "preprocessing") and every later use reads them from there:

  prep = Preprocessing.from_source(source)        # rc-darts-train, from the training set
  info["preprocessing"] = prep.to_json_dict()     # model_info.json
  prep = Preprocessing.from_model_info(info)      # rc-darts-export, rc-darts-train --evaluate
  model = pixel_model(network, prep)              # Keras: pixels [B, S, S, 3] -> logits [B, K]

`pixel_model` puts the normalisation inside the graph (one keras.layers.Rescaling with
per-channel scale 1 / (255 std) and offset -mean / std), so the exported files take raw pixels:
float32 in [0, 255] for the float files, uint8 for the full-integer int8 TFLite file. Decoding
and resizing stay outside the file (an app decodes with its platform's codec): images whose side
is not S are resized to S x S (antialiased), or, from S >= 128 on, resized on the shorter side to
S / 0.875 and centre-cropped (data.eval_pipeline, IMAGENET_STYLE_MIN_SIZE).

This module imports no TensorFlow at import time (pixel_model imports Keras when called).
"""

import dataclasses
from typing import Dict, Sequence, Tuple

INPUT_NAME = "pixels"
IMAGENET_STYLE_MIN_SIZE = 128       # the same threshold as data.IMAGENET_STYLE_MIN_SIZE


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """Per-channel statistics of the training images (RGB, in [0, 1] units) and the input side S."""

  image_size: int
  mean: Tuple[float, float, float]
  std: Tuple[float, float, float]

  @property
  def resize(self) -> str:
    """How an image becomes S x S, as data.eval_pipeline does for this S:
    'stretch_to_SxS_bilinear_antialiased' (the whole image resized to S x S, aspect ratio not
    kept, when its size differs) or 'shorter_side_to_S/0.875_then_center_crop' (bilinear, then
    the central S x S crop)."""
    if self.image_size >= IMAGENET_STYLE_MIN_SIZE:
      return "shorter_side_to_S/0.875_then_center_crop"
    return "stretch_to_SxS_bilinear_antialiased"

  @property
  def scale(self) -> Tuple[float, float, float]:
    """Per-channel factor on raw pixels: 1 / (255 std)."""
    return tuple(1.0 / (255.0 * s) for s in self.std)

  @property
  def offset(self) -> Tuple[float, float, float]:
    """Per-channel offset after the scale: -mean / std."""
    return tuple(-m / s for m, s in zip(self.mean, self.std))

  @classmethod
  def from_source(cls, source) -> "Preprocessing":
    """From a data.Source (its image size and the statistics its pipelines normalise with)."""
    return cls(int(source.image_size), _triple(source.mean, "mean"), _triple(source.std, "std"))

  @classmethod
  def from_model_info(cls, info: Dict[str, object]) -> "Preprocessing":
    """From model_info.json: its "preprocessing" entry, or (files written before it existed) the
    top-level image_size / mean / std. Raises ValueError when neither is complete."""
    entry = info.get("preprocessing") or info
    try:
      return cls(int(entry["image_size"]), _triple(entry["mean"], "mean"),
                 _triple(entry["std"], "std"))
    except KeyError as missing:
      raise ValueError(f"no {missing.args[0]} recorded (expected 'preprocessing' with "
                       "image_size, mean and std)") from None

  def to_json_dict(self) -> Dict[str, object]:
    """The record embedded in exported files and reports: the input described in words,
    image_size, resize, mean, std and the normalisation formula."""
    return {"input": f"RGB pixels [batch, {self.image_size}, {self.image_size}, 3] (NHWC) in "
                     "[0, 255]: float32 for float files, uint8 for the int8 TFLite file",
            "image_size": self.image_size, "resize": self.resize, "mean": list(self.mean),
            "std": list(self.std), "normalisation": "(pixel / 255 - mean) / std per channel, "
                                                    "inside the exported files"}


def _triple(values: Sequence[float], name: str) -> Tuple[float, float, float]:
  values = tuple(float(v) for v in values)
  if len(values) != 3:
    raise ValueError(f"{name} should have 3 values (R, G, B), got {len(values)}")
  if name == "std" and min(values) <= 0:
    raise ValueError(f"std should be positive, got {values}")
  return values


def normalisation_layer(prep: Preprocessing):
  """keras.layers.Rescaling mapping pixels in [0, 255] to (pixel / 255 - mean) / std."""
  import keras
  return keras.layers.Rescaling(scale=list(prep.scale), offset=list(prep.offset),
                                name="normalise")


def pixel_model(network, prep: Preprocessing):
  """Keras model: float32 pixels [B, S, S, 3] in [0, 255] (input named 'pixels') -> the
  network's logits [B, K]. Shares weights with `network` (a logits-only Keras model)."""
  import keras
  side = prep.image_size
  if tuple(network.inputs[0].shape[1:]) != (side, side, 3):
    raise ValueError(f"the network takes {tuple(network.inputs[0].shape[1:])}, the "
                     f"preprocessing gives ({side}, {side}, 3)")
  pixels = keras.Input((side, side, 3), name=INPUT_NAME)
  logits = network(normalisation_layer(prep)(pixels), training=False)
  return keras.Model(pixels, logits, name=f"{network.name}_pixels")
