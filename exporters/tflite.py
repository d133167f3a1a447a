"""Keras network -> TFLite flatbuffer: float32, float16 weights, or full-integer int8.

  data = tflite.convert(model, "tflite_int8", representative=images)   # bytes

Every file has a static batch of 1 (what phones run; static shapes are also what makes the
file's own tensor shapes exact for measurement) and builtin operators only: the converter is
limited to TFLITE_BUILTINS (TFLITE_BUILTINS_INT8 for int8), so an op that would need the Flex
delegate (SELECT_TF_OPS) fails the conversion instead of slipping in, and `check_builtin_only`
re-checks the operator list of the written file.

  tflite_fp32   float32 weights and activations
  tflite_fp16   float16 weights (DEQUANTIZE to float32 at load), float32 activations
  tflite_int8   full-integer: int8 weights, activations and output, calibrated on a
                representative dataset from the project's data pipeline; the input is uint8 raw
                pixels for a pixel model (preprocessing.pixel_model: scale 1, zero point 0, so
                the app feeds its pixels unchanged), otherwise int8 with the file's input scale
                and zero point

Conversion goes through the batch-1 concrete function without the Keras model as trackable
object: the converter then freezes the variables directly (it logs that this path is
deprecated) instead of exporting a SavedModel first, which was ~8x faster here (DARTS_V2 C = 8,
5 cells: 1.9 s vs 15.8 s with from_keras_model) and gives the same operators and MACs.
"""

import contextlib
import io
import warnings
from typing import Iterable, List, Optional

import numpy as np

from exporters import measure
from rc_darts_tf import io_utils

FLAVOURS = ("tflite_fp32", "tflite_fp16", "tflite_int8")


class ConversionError(RuntimeError):
  """The TFLite converter failed (the first line of its error) or the file holds non-builtin
  (Flex / custom) operators."""
  pass


def frozen_function(model):
  """The inference function at batch 1 as a concrete function. Converting it without the Keras
  model as trackable object makes the converter freeze the variables into constants directly,
  which is several times faster than `from_keras_model` (a SavedModel export) and gives the
  same operators. A model of several inputs (exporters/latency_table.py's node sums) takes them
  as positional arguments, in model.inputs' order."""
  import tensorflow as tf
  specs = [tf.TensorSpec((1,) + tuple(int(d) for d in inp.shape[1:]), tf.float32,
                         name="images" if len(model.inputs) == 1 else f"input_{k}")
           for k, inp in enumerate(model.inputs)]
  if len(specs) == 1:
    function = tf.function(lambda images: model(images, training=False))
  else:
    function = tf.function(lambda *inputs: model(list(inputs), training=False))
  return function.get_concrete_function(*specs)


def _converter(function):
  """TFLiteConverter for the concrete `function`, without the converter's absl WARNING that asks
  for the trackable object: leaving it out is this module's choice (see the module doc), not
  something the user can act on, and an API user's stderr would carry it once per file."""
  import logging

  import tensorflow as tf
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)
  try:
    return tf.lite.TFLiteConverter.from_concrete_functions([function])
  finally:
    absl_logger.setLevel(level)


def int8_converter(model, representative: np.ndarray, pixel_input: bool = False):
  """The TFLiteConverter of `model`'s full-integer file, configured but not run: the int8 export
  form, calibration on `representative` (see `convert`), builtin int8 operators, uint8 input with
  `pixel_input`, int8 output. exporters/int8_attribution.py hands it to TensorFlow's quantization
  debugger. Raises ValueError without representative images."""
  import tensorflow as tf
  from rc_darts_tf import ops
  if representative is None or len(representative) == 0:
    raise ValueError("int8 conversion needs representative images")
  with ops.tflite_export_form(int8=True):
    converter = _converter(frozen_function(model))
  images = np.array(representative[0] if len(model.inputs) > 1 else representative, np.float32)
  if pixel_input:
    # The uint8 input is the pixels as they are (scale 1, zero point 0) only when the calibrated
    # input range is exactly [0, 255]: one black and one white pixel in the first image make
    # it so for any calibration set (e.g. dark photos), at the cost of two pixels.
    images[0, 0, 0, :] = 0.0
    images[0, 0, 1, :] = 255.0
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if len(model.inputs) == 1:
    converter.representative_dataset = lambda: ([image[None]] for image in images)
  else:   # one array [N, ...] per input: the k-th sample is [a[k] for a in representative]
    converter.representative_dataset = lambda: (
        [np.asarray(a[k:k + 1], np.float32) for a in representative]
        for k in range(len(representative[0])))
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  converter.inference_input_type = tf.uint8 if pixel_input else tf.int8
  converter.inference_output_type = tf.int8
  return converter


def convert(model, flavour: str, representative: Optional[np.ndarray] = None,
            pixel_input: bool = False) -> bytes:
  """The TFLite flatbuffer of `model` (a logits-only Keras model) in `flavour`. `representative`
  (int8 only): images [N, H, W, 3] as the model takes them (for a model of several inputs, a list
  of one array [N, ...] per input). `pixel_input`: the model takes raw
  pixels in [0, 255], so the int8 file's input is uint8. Raises ConversionError; ValueError for
  an unknown flavour or int8 without representative images."""
  import tensorflow as tf
  from rc_darts_tf import ops
  if flavour not in FLAVOURS:
    raise ValueError(f"unknown TFLite flavour {flavour!r}: {', '.join(FLAVOURS)}")
  if flavour == "tflite_int8":
    converter = int8_converter(model, representative, pixel_input)
  else:
    # same numbers, fewer operators XNNPACK cannot run (rc_darts_tf/ops.py, TFLite export form)
    with ops.tflite_export_form():
      converter = _converter(frozen_function(model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if flavour == "tflite_fp16":
      converter.optimizations = [tf.lite.Optimize.DEFAULT]
      converter.target_spec.supported_types = [tf.float16]
  with quiet():
    try:
      data = converter.convert()
    except Exception as error:  # the converter raises a handful of unrelated types
      first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
      raise ConversionError(f"TFLite conversion ({flavour}) failed: {first}") from error
  check_builtin_only(data)
  return bytes(data)


@contextlib.contextmanager
def quiet():
  """The converter prints the SavedModel it writes on stdout and warns on stderr (Python warnings,
  and its C++ quantizer's settings on file descriptor 2); keep all of it out of the user's output
  (the first line of a failure is in the ConversionError)."""
  with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), \
      io_utils.redirect_fd2():
    warnings.simplefilter("ignore")
    yield


def operators(data: bytes) -> List[str]:
  """Every operator of the file, in order (builtin names, 'CUSTOM:<code>' for custom ops)."""
  return measure.tflite_operator_names(measure.read_tflite(data))


def non_builtin(names: Iterable[str]) -> List[str]:
  """The operator names that are not builtin (CUSTOM..., UNKNOWN...), sorted, no repeats."""
  return sorted({n for n in names if n.startswith("CUSTOM") or n.startswith("UNKNOWN")})


def check_builtin_only(data: bytes) -> None:
  """ConversionError naming the operators of the TFLite file `data` that are not builtin."""
  bad = non_builtin(operators(data))
  if bad:
    raise ConversionError(f"the TFLite file uses non-builtin operators {bad} (Flex / custom)")
