"""The runtimes a file runs on: an ai-edge-litert interpreter and an onnxruntime session, and the
conversion of float images to a quantized input (and of a quantized output back to float)."""

import os

import numpy as np


def _interpreter(data: bytes, threads: int):
  from ai_edge_litert.interpreter import Interpreter
  from rc_darts_tf.io_utils import redirect_fd2
  with redirect_fd2():  # the runtime's "INFO: Created TensorFlow Lite XNNPACK delegate" line
    interpreter = Interpreter(model_content=bytes(data), num_threads=threads)
    interpreter.allocate_tensors()
  return interpreter


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
