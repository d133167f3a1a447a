"""Measurement on the exported files themselves: operators, params, MACs, latency, size.

Nothing here looks at the Keras model: a TFLite file is parsed as a flatbuffer with the schema
module that ships with ai-edge-litert (operators, tensor shapes, constant buffers), an ONNX file is
read with `onnx` and shape-inferred at batch 1, and latency is timed on ai-edge-litert's
interpreter and onnxruntime.

Conventions (README "Exporters"):
  MACs     multiply-accumulates of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (TFLite) or of
           Conv, Gemm and MatMul (ONNX), from the weight shape and the output shape at batch 1:
             conv       out_elements * kh * kw * (C_in / groups)
             depthwise  out_elements * kh * kw
             dense      out_elements * K
           the same convention as costs.py (pooling, BN, ReLU, add, concat free). Dilation does
           not change the count. A dilated conv that a converter lowers as SPACE_TO_BATCH_ND ->
           conv -> BATCH_TO_SPACE_ND is counted at its un-batched output (the padding blocks
           the lowering adds are reported separately as `macs_lowering_overhead`).
  params   "artifact params": elements of the constant weight and bias operands of those
           operators, counted per operator (a constant shared by several operators, such as the
           zero bias a converter gives a conv without one, counts for each). Constants stored in
           fp16 (behind a DEQUANTIZE) or int8/int32 count the same. BN is folded into the conv
           before it where the converter can fold it, so this differs from costs.py's DARTS
           count: see `kernel_params` / `bias_params` and README.

The package's modules, one concern each: common (the counted operators, FileCost, MeasureError),
tflite_costs and onnx_costs (what a file holds), runtime (an interpreter or session on a file,
quantized input and output), latency, predict (a file's outputs on images). Everything public is
importable from `exporters.measure`.
"""

from exporters.measure.common import (  # noqa: F401
    MeasureError, FileCost, TFLITE_COUNTED, TFLITE_UNCOUNTED_MAC_OPS, ONNX_COUNTED,
    ONNX_UNCOUNTED_MAC_OPS)
from exporters.measure.tflite_costs import (  # noqa: F401
    read_tflite, tflite_operator_names, tflite_cost, tflite_io)
from exporters.measure.onnx_costs import (  # noqa: F401
    onnx_cost, onnx_tool_macs)
from exporters.measure.latency import (  # noqa: F401
    Latency, time_calls, tflite_latency, onnx_latency, keras_latency)
from exporters.measure.runtime import (  # noqa: F401
    onnxruntime_module, onnx_session, quantize_input, dequantize_output)
from exporters.measure.predict import (  # noqa: F401
    tflite_predict, onnx_predict, file_size)
