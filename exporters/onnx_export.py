"""Keras network -> ONNX (tf2onnx, opset >= 17).

  data = onnx_export.convert(model, opset=17)   # bytes of the ModelProto

The input is `images` [batch, H, W, 3] (NHWC, like the Keras model) with a symbolic batch named
`batch`, the output `logits` [batch, classes]. Grouped 1x1 convolutions arrive as split -> per-group Conv ->
concat (ops.GroupConv1x1), which tf2onnx converts; a dilated depthwise conv becomes a Conv with
group = channels and dilations 2. The file is checked with onnx.checker before it is returned.
"""

import contextlib
import io
import warnings

MIN_OPSET = 17


class ConversionError(RuntimeError):
  """tf2onnx failed (the first line of its error) or the graph has not exactly one output."""
  pass


def convert(model, opset: int = MIN_OPSET) -> bytes:
  """The serialized ONNX ModelProto of `model` (a logits-only Keras model): input `images`
  [batch, H, W, 3] float32, output `logits` [batch, num_classes], checked by onnx.checker.
  ValueError if opset < MIN_OPSET (17); ConversionError when tf2onnx fails."""
  import onnx
  import tensorflow as tf
  import tf2onnx
  if opset < MIN_OPSET:
    raise ValueError(f"opset {opset}: the exporters need opset >= {MIN_OPSET}")
  shape = (None,) + tuple(int(d) for d in model.inputs[0].shape[1:])
  signature = [tf.TensorSpec(shape, tf.float32, name="images")]
  with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
      proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset,
                                            output_path=None)
    except Exception as error:
      first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
      raise ConversionError(f"ONNX conversion (tf2onnx, opset {opset}) failed: {first}") \
          from error
  if len(proto.graph.output) != 1:
    raise ConversionError(f"expected one output (logits), the ONNX graph has "
                          f"{len(proto.graph.output)}")
  for value in (proto.graph.input[0], proto.graph.output[0]):   # tf2onnx names it unk__N
    dim = value.type.tensor_type.shape.dim[0]
    if not dim.HasField("dim_value"):
      dim.dim_param = "batch"
  old = proto.graph.output[0].name
  if old != "logits":
    for node in proto.graph.node:
      for i, name in enumerate(node.output):
        if name == old:
          node.output[i] = "logits"
    proto.graph.output[0].name = "logits"
  onnx.checker.check_model(proto)
  return proto.SerializeToString()


def opset_of(data: bytes) -> int:
  """The default-domain ('' / ai.onnx) opset version of a serialized ONNX model."""
  import onnx
  proto = onnx.load_from_string(data)
  return max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
