"""Running a .tflite or .onnx file on images (float or quantized input and output)."""

import os

import numpy as np

from exporters.measure.runtime import _interpreter, dequantize_output, onnx_session, quantize_input


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
