"""Operators, params and MACs of a .tflite file, parsed as a flatbuffer with the schema module that
ships with ai-edge-litert; its input and output tensors."""

import collections
from typing import Dict, List

import numpy as np

from exporters.measure.common import (
    FileCost, MeasureError, TFLITE_COUNTED, TFLITE_UNCOUNTED_MAC_OPS)
from exporters.measure.runtime import _interpreter


def _tflite_schema():
  from ai_edge_litert import schema_py_generated as schema
  return schema


def _builtin_names():
  schema = _tflite_schema()
  return {value: name for name, value in vars(schema.BuiltinOperator).items()
          if not name.startswith("_") and isinstance(value, int)}


def read_tflite(data: bytes):
  """The flatbuffer as the schema's object API (ModelT)."""
  schema = _tflite_schema()
  return schema.ModelT.InitFromPackedBuf(bytearray(data), 0)


def tflite_operator_names(model) -> List[str]:
  """Operator of every op of every subgraph: builtin name, or 'CUSTOM:<code>' (Flex ops are
  custom ops named 'Flex...')."""
  names = _builtin_names()
  codes = []
  for code in model.operatorCodes:
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    name = names.get(builtin, f"UNKNOWN_{builtin}")
    if name == "CUSTOM":
      custom = code.customCode.decode() if isinstance(code.customCode, bytes) else str(
          code.customCode)
      name = f"CUSTOM:{custom}"
    codes.append(name)
  return [codes[op.opcodeIndex] for sg in model.subgraphs for op in (sg.operators or [])]


def _shape(tensor) -> tuple:
  """The tensor's shape; -1 where the file marks a dimension as dynamic (shape_signature)."""
  shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))
  signature = getattr(tensor, "shapeSignature", None)
  if signature is not None and len(signature) == len(shape):
    shape = tuple(-1 if int(s) < 0 else d for d, s in zip(shape, signature))
  return shape


def tflite_cost(data: bytes) -> FileCost:
  """MACs and artifact params of a TFLite file (any flavour: fp32, fp16 weights behind
  DEQUANTIZE, full-integer int8)."""
  model = read_tflite(data)
  if len(model.subgraphs) != 1:
    raise MeasureError(f"expected one subgraph, the file has {len(model.subgraphs)}")
  sg = model.subgraphs[0]
  op_names = tflite_operator_names(model)
  operators = dict(collections.Counter(op_names))
  unexpected = sorted(set(op_names) & set(TFLITE_UNCOUNTED_MAC_OPS))
  if unexpected:
    raise MeasureError(f"operators outside the MAC convention: {unexpected}")
  producer = {}
  for op in sg.operators:
    for t in op.outputs:
      producer[int(t)] = op
  consumers = collections.defaultdict(list)
  for i, op in enumerate(sg.operators):
    for t in op.inputs:
      consumers[int(t)].append(i)

  def is_constant(index: int) -> bool:
    buffer = model.buffers[sg.tensors[index].buffer]
    return (buffer.data is not None and len(buffer.data) > 0) or bool(getattr(buffer, "size", 0))

  def constant_elements(index: int) -> int:
    """Elements of a constant operand, looking through a DEQUANTIZE of an fp16/int8 constant."""
    if is_constant(index):
      return int(np.prod(_shape(sg.tensors[index])))
    op = producer.get(index)
    if op is not None and op_names[sg.operators.index(op)] == "DEQUANTIZE" and \
        is_constant(int(op.inputs[0])):
      return int(np.prod(_shape(sg.tensors[int(op.inputs[0])])))
    raise MeasureError(f"operand {sg.tensors[index].name!r} of a counted operator is not a "
                       "constant")

  macs = kernel = bias = overhead = 0
  counted = collections.Counter()
  by_op = collections.Counter()
  for i, op in enumerate(sg.operators):
    name = op_names[i]
    if name not in TFLITE_COUNTED:
      continue
    out_index = int(op.outputs[0])
    out = _shape(sg.tensors[out_index])
    weight = _shape(sg.tensors[int(op.inputs[1])])
    if not out or min(out) <= 0 or min(weight) <= 0:
      raise MeasureError(f"{name} has a dynamic shape {out}: export with a static batch")
    if name == "CONV_2D":
      per_output = int(np.prod(weight[1:]))       # [C_out, kh, kw, C_in / groups]
    elif name == "DEPTHWISE_CONV_2D":
      per_output = weight[1] * weight[2]          # [1, kh, kw, C * multiplier]
    else:
      per_output = weight[-1]                     # [units, K]
    op_macs = int(np.prod(out)) * per_output
    # A dilated conv lowered as SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND: the logical
    # output is the BATCH_TO_SPACE_ND's (the batched one includes padding blocks).
    users = consumers.get(out_index, [])
    if len(users) == 1 and op_names[users[0]] == "BATCH_TO_SPACE_ND":
      logical = _shape(sg.tensors[int(sg.operators[users[0]].outputs[0])])
      logical_macs = int(np.prod(logical)) * per_output
      overhead += op_macs - logical_macs
      op_macs = logical_macs
    macs += op_macs
    counted[name] += 1
    by_op[name] += op_macs
    kernel += constant_elements(int(op.inputs[1]))
    if len(op.inputs) > 2 and int(op.inputs[2]) >= 0:
      bias += constant_elements(int(op.inputs[2]))
  return FileCost(macs=int(macs), params=int(kernel + bias), kernel_params=int(kernel),
                  bias_params=int(bias), counted_ops=dict(counted), macs_by_op=dict(by_op),
                  operators=operators, macs_lowering_overhead=int(overhead))


def tflite_io(data: bytes) -> Dict[str, object]:
  """Input/output shapes and dtypes (and int8 quantisation) as the interpreter sees them."""
  interpreter = _interpreter(data, 1)
  detail = lambda d: {"shape": [int(x) for x in d["shape"]], "dtype": np.dtype(d["dtype"]).name,  # noqa: E731
                      "quantization": [float(d["quantization"][0]), int(d["quantization"][1])]}
  return {"inputs": [detail(d) for d in interpreter.get_input_details()],
          "outputs": [detail(d) for d in interpreter.get_output_details()]}
