"""Where a full-integer file loses the Keras network's decisions: each part kept in float in turn.

  records = int8_attribution.attribute(model, parity, calibration, pixel_input=True)

The int8 file of `model` (exporters/tflite.int8_converter: the export's own conversion) is made
once as it ships and once per part of the network with that part's operators left in float32
(TensorFlow's quantization debugger, `denylisted_nodes`; QUANTIZE / DEQUANTIZE at the part's
borders). The debugger's files take and give float32 (a QUANTIZE after the input, exact for
integer pixels at scale 1, and a DEQUANTIZE before the output), so with the head in float the
logits are float and never tie. Every file is compared with the Keras model on the
same parity images (exporters/parity.compare: top-1 disagreements, ties included, and tied ones)
plus the standard deviation of the logit error, `logit_error_std` (file logits - Keras logits,
over all images and classes). A part whose float version removes much of the error is where
the int8 file loses agreement; error spread evenly over the parts is the rounding of every
operator (each int8 tensor carries about 0.29 of its step, 1 / sqrt(12)).

Parts (`parts`): "stem" (the pixel normalisation and the stem convolutions), "cell<k>" (every
operator of the k-th cell, its connection ops included), "head" (global pooling and classifier).
The part of an operator is read from its output tensor's name, which holds the Keras layer path
of the traced network (e.g. network_cifar_pixels_1/network_cifar_1/cell7_1/sep_conv_11_1/...).

The miss counts of two files differ by several images even for equal logit error (which near-tie
images the rounding flips), so compare parts by `logit_error_std`, and over several calibration
sets (scripts/int8_attribution.py --seeds).
"""

import re
from typing import Dict, List, Optional, Sequence

import numpy as np

from exporters import measure, parity, tflite

_CELL = re.compile(r"(?:^|/)cell(\d+)(?:_\d+)?/")
_HEAD = re.compile(r"(?:^|/)(?:global_pool|classifier)(?:_\d+)?/")


def parts(names: Sequence[str]) -> Dict[str, List[str]]:
  """Operator output tensor names grouped by part (see module doc), in network order: "stem",
  "cell0", ..., "head". A name without a layer path is a graph output (the classifier's output
  takes the function's output name, e.g. 'Identity'): head."""
  grouped: Dict[str, List[str]] = {"stem": []}
  cells: Dict[int, List[str]] = {}
  head: List[str] = []
  for name in names:
    cell = _CELL.search(name)
    if "/" not in name or _HEAD.search(name):
      head.append(name)
    elif cell:
      cells.setdefault(int(cell.group(1)), []).append(name)
    else:
      grouped["stem"].append(name)
  for k in sorted(cells):
    grouped[f"cell{k}"] = cells[k]
  grouped["head"] = head
  return grouped


def _quantized_names(debugger) -> List[str]:
  """Output tensor names of the quantized operators the debugger compares, in file order."""
  import csv
  import io
  buffer = io.StringIO()
  debugger.layer_statistics_dump(buffer)
  return [row["tensor_name"] for row in csv.DictReader(io.StringIO(buffer.getvalue()))]


def attribute(model, parity_images: np.ndarray, calibration: np.ndarray,
              pixel_input: bool = True, labels: Optional[np.ndarray] = None,
              only: Optional[Sequence[str]] = None) -> List[Dict[str, object]]:
  """One record per file: {"part": "int8" (nothing in float) or a part name, "float_operators":
  how many of the file's "quantized_operators" it keeps in float, "logit_error_std", and
  parity.compare's top-1 fields}, in the order int8, then the parts. `model`: a logits-only Keras
  model (a pixel model with `pixel_input`); parity_images [N, H, W, 3] and calibration
  [M, H, W, 3] as the model takes them; `labels` [N] adds accuracies; `only`: the parts to try
  (default all). Raises ValueError for an unknown part name."""
  import tensorflow as tf

  from exporters import artifacts
  reference = artifacts.keras_logits(model, parity_images)
  sample = lambda: ([image[None]] for image in calibration[:1])  # noqa: E731

  def debugger(denylisted=()):
    converter = tflite.int8_converter(model, calibration, pixel_input)
    # operators left in float need the float builtins too
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS]
    options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_nodes=list(denylisted))
    with tflite.quiet():
      return tf.lite.experimental.QuantizationDebugger(
          converter=converter, debug_dataset=sample, debug_options=options)

  full = debugger()
  with tflite.quiet():
    full.run()
  names = _quantized_names(full)
  grouped = parts(names)
  wanted = list(grouped) if only is None else list(only)
  unknown = [p for p in wanted if p not in grouped]
  if unknown:
    raise ValueError(f"unknown parts {unknown}: {', '.join(grouped)}")
  records = []
  for part in ["int8"] + wanted:
    denylisted = [] if part == "int8" else grouped[part]
    with tflite.quiet():
      data = (full if part == "int8" else debugger(denylisted)).get_nondebug_quantized_model()
    logits = measure.tflite_predict(bytes(data), parity_images, 1)
    record = {"part": part, "float_operators": len(denylisted),
              "quantized_operators": len(names),
              "logit_error_std": float(np.std(logits.astype(np.float64) - reference))}
    record.update(parity.compare("tflite_int8", reference, logits, labels))
    records.append(record)
  return records
