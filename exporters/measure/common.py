"""What every measurement shares: the operators whose MACs are counted, FileCost, MeasureError."""

import dataclasses
from typing import Dict


TFLITE_COUNTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
# Builtin operators that also multiply-accumulate: never produced for our networks; if one
# appears the MAC count would be incomplete, so it is refused rather than ignored.
TFLITE_UNCOUNTED_MAC_OPS = ("BATCH_MATMUL", "CONV_3D", "TRANSPOSE_CONV", "CONV_3D_TRANSPOSE")
ONNX_COUNTED = ("Conv", "Gemm", "MatMul")
ONNX_UNCOUNTED_MAC_OPS = ("ConvTranspose", "ConvInteger", "MatMulInteger", "QLinearConv",
                          "QLinearMatMul", "Einsum")


class MeasureError(RuntimeError):
  """A file cannot be measured under the convention (dynamic shapes, an unexpected operator)."""


@dataclasses.dataclass
class FileCost:
  """What a file costs under the convention above."""

  macs: int
  params: int                       # kernel_params + bias_params
  kernel_params: int                # weight operands (conv / depthwise / dense kernels)
  bias_params: int                  # bias operands (folded BN shifts, zero biases, dense bias)
  counted_ops: Dict[str, int]       # operator type -> how many were counted
  macs_by_op: Dict[str, int]
  operators: Dict[str, int]         # every operator type in the file -> count
  macs_lowering_overhead: int = 0   # extra MACs a SPACE_TO_BATCH lowering executes (padding)

  def as_dict(self):
    """The fields as a JSON-ready dict (dataclasses.asdict)."""
    return dataclasses.asdict(self)
