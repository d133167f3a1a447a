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
"""

import collections
import dataclasses
import os
import statistics
import time
from typing import Callable, Dict, List, Optional

import numpy as np

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


# ---------------------------------------------------------------------------------------------
# TFLite


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


# ---------------------------------------------------------------------------------------------
# ONNX


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


# ---------------------------------------------------------------------------------------------
# Latency


@dataclasses.dataclass
class Latency:
  """Batch-1 latency statistics of `runs` timed calls, in ms; `threads` None when the runtime
  uses its own thread pools; `runtime` names the runtime and its version."""

  median_ms: float
  p90_ms: float
  mean_ms: float
  min_ms: float
  runs: int
  warmup: int
  threads: Optional[int]
  runtime: str

  def as_dict(self):
    """For the report: median, p90, mean, min (ms, rounded to 4 decimals), runs, warmup,
    threads, runtime."""
    return {"median": round(self.median_ms, 4), "p90": round(self.p90_ms, 4),
            "mean": round(self.mean_ms, 4), "min": round(self.min_ms, 4), "runs": self.runs,
            "warmup": self.warmup, "threads": self.threads, "runtime": self.runtime}


def time_calls(call: Callable[[], object], runs: int, warmup: int, threads, runtime) -> Latency:
  """Batch-1 latency of `call`: `warmup` untimed calls, then `runs` timed ones."""
  for _ in range(warmup):
    call()
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    call()
    times.append((time.perf_counter() - start) * 1e3)
  return Latency(statistics.median(times), float(np.percentile(times, 90)),
                 statistics.fmean(times), min(times), runs, warmup, threads, runtime)


def _interpreter(data: bytes, threads: int):
  from ai_edge_litert.interpreter import Interpreter
  from rc_darts_tf.io_utils import redirect_fd2
  with redirect_fd2():  # the runtime's "INFO: Created TensorFlow Lite XNNPACK delegate" line
    interpreter = Interpreter(model_content=bytes(data), num_threads=threads)
    interpreter.allocate_tensors()
  return interpreter


def tflite_latency(data: bytes, threads: int, runs: int, warmup: int,
                   image: Optional[np.ndarray] = None) -> Latency:
  """Batch-1 latency of the TFLite file's invoke in ai-edge-litert's interpreter with `threads`
  threads, on `image` [H, W, 3] (quantised for an int8 file) or zeros of the input's shape."""
  import ai_edge_litert
  interpreter = _interpreter(data, threads)
  detail = interpreter.get_input_details()[0]
  x = np.zeros(detail["shape"], detail["dtype"]) if image is None else quantize_input(
      image[None], detail)
  interpreter.set_tensor(detail["index"], x)
  version = getattr(ai_edge_litert, "__version__", "")
  return time_calls(interpreter.invoke, runs, warmup, threads,
                    f"ai-edge-litert {version} interpreter".replace("  ", " "))


def onnxruntime_module():
  """Imports onnxruntime with its usage telemetry off, unless the caller's environment says
  otherwise (ORT_DISABLE_TELEMETRY, onnxruntime >= 1.29): the 1DS uploader would make network
  calls during latency timing and, where the home directory is read-only (sandboxes, CI), prints
  "Failed to persist telemetry device ID" on stderr."""
  os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
  import onnxruntime
  return onnxruntime


def onnx_session(data: bytes, threads: int):
  """An onnxruntime CPU InferenceSession of the serialized model: `threads` intra-op threads,
  1 inter-op thread, warnings and info not logged."""
  ort = onnxruntime_module()
  options = ort.SessionOptions()
  options.intra_op_num_threads = threads
  options.inter_op_num_threads = 1
  options.log_severity_level = 3
  return ort.InferenceSession(bytes(data), sess_options=options,
                              providers=["CPUExecutionProvider"])


def onnx_latency(data: bytes, threads: int, runs: int, warmup: int,
                 image: Optional[np.ndarray] = None) -> Latency:
  """Batch-1 latency of the ONNX model in onnxruntime (CPU, `threads` intra-op threads), on
  `image` [H, W, 3] or zeros [1, H, W, 3] float32."""
  ort = onnxruntime_module()
  session = onnx_session(data, threads)
  inp = session.get_inputs()[0]
  shape = [1] + [int(d) for d in inp.shape[1:]]
  x = np.zeros(shape, np.float32) if image is None else image[None].astype(np.float32)
  feed = {inp.name: x}
  return time_calls(lambda: session.run(None, feed), runs, warmup, threads,
                    f"onnxruntime {ort.__version__} (CPU)")


def keras_latency(model, runs: int, warmup: int, image: Optional[np.ndarray] = None) -> Latency:
  """The Keras model at batch 1 inside one tf.function (TensorFlow's own thread pools)."""
  import keras
  import tensorflow as tf
  shape = (1,) + tuple(int(d) for d in model.inputs[0].shape[1:])
  x = tf.zeros(shape) if image is None else tf.constant(image[None], tf.float32)
  predict = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
  return time_calls(lambda: predict(x).numpy(), runs, max(warmup, 1), None,
                    f"keras {keras.__version__} / tensorflow {tf.__version__} tf.function")


# ---------------------------------------------------------------------------------------------
# Running a file on images


def quantize_input(x: np.ndarray, detail) -> np.ndarray:
  """`x` as the TFLite input `detail` takes it: float32 as is, otherwise round(x / scale +
  zero point) clipped to the integer dtype's range."""
  dtype = np.dtype(detail["dtype"])
  if dtype == np.float32:
    return x.astype(np.float32)
  scale, zero = detail["quantization"]
  info = np.iinfo(dtype)
  return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail) -> np.ndarray:
  """A TFLite output of `detail` as float32: (y − zero point) · scale for an integer output."""
  if np.dtype(detail["dtype"]) == np.float32:
    return y.astype(np.float32)
  scale, zero = detail["quantization"]
  return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


def tflite_predict(data: bytes, images: np.ndarray, threads: int = 1) -> np.ndarray:
  """Logits of a TFLite file (batch-1 input) for every image, de-quantised for int8 files."""
  interpreter = _interpreter(data, threads)
  inp = interpreter.get_input_details()[0]
  out = interpreter.get_output_details()[0]
  results = []
  for image in images:
    interpreter.set_tensor(inp["index"], quantize_input(image[None], inp))
    interpreter.invoke()
    results.append(dequantize_output(interpreter.get_tensor(out["index"]), out)[0])
  return np.stack(results)


def onnx_predict(data: bytes, images: np.ndarray, threads: int = 1,
                 batch_size: int = 32) -> np.ndarray:
  """Logits of the ONNX model for images [N, H, W, 3] in batches of `batch_size`: float32
  [N, num_classes]."""
  session = onnx_session(data, threads)
  name = session.get_inputs()[0].name
  parts = [session.run(None, {name: images[i:i + batch_size].astype(np.float32)})[0]
           for i in range(0, len(images), batch_size)]
  return np.concatenate(parts).astype(np.float32)


def file_size(path: str) -> int:
  """Size of the file at `path` in bytes."""
  return os.path.getsize(path)
