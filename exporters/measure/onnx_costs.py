"""Params and MACs of an .onnx file (read with onnx, shape-inferred at batch 1), and onnx_tool's
independent count."""

import collections
from typing import Dict, Optional

import numpy as np

from exporters.measure.common import FileCost, MeasureError, ONNX_COUNTED, ONNX_UNCOUNTED_MAC_OPS


def _batch_one(proto):
  """A copy of `proto` with every symbolic input dimension set to 1, shapes inferred."""
  import onnx
  model = onnx.ModelProto()
  model.CopyFrom(proto)
  for value in model.graph.input:
    for dim in value.type.tensor_type.shape.dim:
      if not dim.HasField("dim_value"):
        dim.Clear()
        dim.dim_value = 1
  del model.graph.value_info[:]
  for value in model.graph.output:
    for dim in value.type.tensor_type.shape.dim:
      if not dim.HasField("dim_value"):
        dim.Clear()
        dim.dim_value = 1
  return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)


def onnx_cost(data: bytes) -> FileCost:
  """MACs and artifact params of an ONNX file (shape inference at batch 1)."""
  import onnx
  from onnx import numpy_helper
  model = _batch_one(onnx.load_from_string(data))
  graph = model.graph
  shapes = {}
  for value in list(graph.input) + list(graph.value_info) + list(graph.output):
    dims = value.type.tensor_type.shape.dim
    shapes[value.name] = tuple(int(d.dim_value) if d.HasField("dim_value") else -1 for d in dims)
  constants = {t.name: tuple(int(d) for d in t.dims) for t in graph.initializer}
  for node in graph.node:
    if node.op_type == "Constant":
      for attr in node.attribute:
        if attr.name == "value":
          constants[node.output[0]] = tuple(numpy_helper.to_array(attr.t).shape)
  producer = {t: node for node in graph.node for t in node.output}
  consumers = collections.defaultdict(list)
  for node in graph.node:
    for t in node.input:
      consumers[t].append(node)

  def constant_size(name: str) -> Optional[int]:
    """Elements of a constant (looking through Identity / Cast / DequantizeLinear), else None."""
    seen = name
    while seen not in constants and seen in producer and producer[seen].op_type in (
        "Identity", "DequantizeLinear", "Cast"):
      seen = producer[seen].input[0]
    return int(np.prod(constants[seen])) if seen in constants else None

  def constant_elements(name: str) -> int:
    size = constant_size(name)
    if size is None:
      raise MeasureError(f"operand {name!r} of a counted node is not a constant")
    return size

  def shape_of(name: str) -> tuple:
    shape = shapes.get(name) or constants.get(name)
    if shape is None or any(d <= 0 for d in shape):
      raise MeasureError(f"tensor {name!r} has no static shape after inference ({shape})")
    return shape

  operators = dict(collections.Counter(node.op_type for node in graph.node))
  unexpected = sorted(set(operators) & set(ONNX_UNCOUNTED_MAC_OPS))
  if unexpected:
    raise MeasureError(f"nodes outside the MAC convention: {unexpected}")
  macs = kernel = bias = 0
  counted = collections.Counter()
  by_op = collections.Counter()
  for node in graph.node:
    if node.op_type not in ONNX_COUNTED:
      continue
    out = shape_of(node.output[0])
    if node.op_type == "Conv":
      weight = shape_of(node.input[1])             # [M, C / group, kh, kw]
      per_output = int(np.prod(weight[1:]))
      kernel += constant_elements(node.input[1])
      if len(node.input) > 2 and node.input[2]:
        bias += constant_elements(node.input[2])
    elif node.op_type == "Gemm":
      a = shape_of(node.input[0])
      trans_a = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
      per_output = a[0] if trans_a else a[1]
      kernel += constant_elements(node.input[1])
      if len(node.input) > 2 and node.input[2]:
        bias += constant_elements(node.input[2])
    else:  # MatMul: [.., K] x [K, N]
      per_output = shape_of(node.input[0])[-1]
      sizes = [constant_size(t) for t in node.input]
      if all(size is None for size in sizes):
        raise MeasureError(f"MatMul {node.name!r} has no constant operand (not a dense layer)")
      kernel += sum(size for size in sizes if size is not None)
      # A dense layer's bias: the Add right after the MatMul, with a constant operand.
      users = consumers.get(node.output[0], [])
      if len(users) == 1 and users[0].op_type == "Add":
        for t in users[0].input:
          if t != node.output[0] and constant_size(t) is not None:
            bias += constant_size(t)
    op_macs = int(np.prod(out)) * int(per_output)
    macs += op_macs
    counted[node.op_type] += 1
    by_op[node.op_type] += op_macs
  return FileCost(macs=int(macs), params=int(kernel + bias), kernel_params=int(kernel),
                  bias_params=int(bias), counted_ops=dict(counted), macs_by_op=dict(by_op),
                  operators=operators)


def onnx_tool_macs(data: bytes) -> Dict[str, object]:
  """onnx_tool's own profile of the file, an independent counter: its per-node MACs summed over
  Conv / Gemm / MatMul nodes (onnx_tool charges a bias input one extra addition per output
  element), and its total (which also charges pooling and element-wise ops). None when onnx_tool
  is not installed (it is a test dependency)."""
  try:
    import onnx
    import onnx_tool
  except ImportError:
    return {"conv_gemm_matmul": None, "total_all_ops": None,
            "note": "onnx_tool not installed (pip install onnx-tool)"}
  import contextlib
  import io
  model = _batch_one(onnx.load_from_string(data))
  with contextlib.redirect_stdout(io.StringIO()):
    graph = onnx_tool.Model(model).graph
    graph.shape_infer()
    graph.profile()
  if not graph.valid_profile:
    raise MeasureError("onnx_tool could not profile the ONNX file")
  from onnx_tool import node as onnx_tool_node
  counted = bias_adds = 0.0
  for node in graph.nodemap.values():
    if node.op_type in ONNX_COUNTED:
      counted += float(node.macs[0])
      if len(node.input) == 3 and node.input[2]:
        shape = graph.tensormap[node.output[0]].get_shape()
        bias_adds += float(np.prod(shape)) * onnx_tool_node.ADD_MACS
  total = sum(float(node.macs[0]) for node in graph.nodemap.values())
  return {"conv_gemm_matmul": int(round(counted)),
          "conv_gemm_matmul_less_bias": int(round(counted - bias_adds)),
          "total_all_ops": int(round(total)),
          "note": "onnx_tool's per-node forward MACs. conv_gemm_matmul: summed over Conv, Gemm "
                  "and MatMul nodes, as onnx_tool charges them (a node with a bias input, e.g. "
                  "a folded BN, is charged one extra per output element for the bias addition); "
                  "conv_gemm_matmul_less_bias: the same without those additions (the "
                  "convention of costs.py); total_all_ops: every node, incl. pooling, ReLU, Add, "
                  "Mul and the other element-wise ops"}
