"""Latency at batch 1 on ai-edge-litert's interpreter, onnxruntime and Keras: median and p90 of
timed calls after warm-up, and the median of the quietest of `rounds` blocks of them (the
statistic latency tables are measured with, exporters/latency_table.time_files)."""

import dataclasses
import math
import statistics
import time
from typing import Callable, Optional

import numpy as np

from exporters.measure.runtime import onnx_session, onnxruntime_module, _interpreter, quantize_input


@dataclasses.dataclass
class Latency:
  """Batch-1 latency statistics of `runs` timed calls, in ms; `threads` None when the runtime
  uses its own thread pools; `runtime` names the runtime and its version. The calls are timed in
  `rounds` blocks with a pause between blocks; `best_block_median_ms` is the smallest block
  median: on a shared machine a busy spell slows every call timed during it (one 500-call median
  of one file ranged 0.45-0.66 ms here from one minute to the next), and the quietest block is
  what the file needs when the machine is its own, as latency tables measure their parts."""

  median_ms: float
  p90_ms: float
  mean_ms: float
  min_ms: float
  runs: int
  warmup: int
  threads: Optional[int]
  runtime: str
  rounds: int = 1
  best_block_median_ms: float = math.nan

  def as_dict(self):
    """For the report: median, p90, mean, min of all timed calls, best_block_median (ms, rounded
    to 4 decimals), runs, rounds, warmup, threads, runtime."""
    return {"median": round(self.median_ms, 4), "p90": round(self.p90_ms, 4),
            "mean": round(self.mean_ms, 4), "min": round(self.min_ms, 4),
            "best_block_median": round(self.best_block_median_ms, 4), "runs": self.runs,
            "rounds": self.rounds, "warmup": self.warmup, "threads": self.threads,
            "runtime": self.runtime}


def time_calls(call: Callable[[], object], runs: int, warmup: int, threads, runtime,
               rounds: int = 1, pause_s: float = 0.0,
               clock: Callable[[], float] = time.perf_counter,
               sleep: Callable[[float], None] = time.sleep) -> Latency:
  """Batch-1 latency of `call`: `warmup` untimed calls, then `runs` timed ones in `rounds`
  blocks (sizes differing by at most one; rounds > runs is capped at runs) with `pause_s`
  seconds between blocks. `clock` (seconds) and `sleep` are for tests. ValueError for runs or
  rounds < 1."""
  if runs < 1 or rounds < 1:
    raise ValueError(f"time_calls needs runs >= 1 and rounds >= 1, got {runs} and {rounds}")
  rounds = min(rounds, runs)
  for _ in range(warmup):
    call()
  times, block_medians = [], []
  for block in range(rounds):
    if block and pause_s > 0:
      sleep(pause_s)
    block_times = []
    for _ in range(runs // rounds + (block < runs % rounds)):
      start = clock()
      call()
      block_times.append((clock() - start) * 1e3)
    block_medians.append(statistics.median(block_times))
    times += block_times
  return Latency(statistics.median(times), float(np.percentile(times, 90)),
                 statistics.fmean(times), min(times), runs, warmup, threads, runtime, rounds,
                 min(block_medians))


def tflite_latency(data: bytes, threads: int, runs: int, warmup: int,
                   image: Optional[np.ndarray] = None, rounds: int = 1,
                   pause_s: float = 0.0) -> Latency:
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
                    f"ai-edge-litert {version} interpreter".replace("  ", " "), rounds, pause_s)


def onnx_latency(data: bytes, threads: int, runs: int, warmup: int,
                 image: Optional[np.ndarray] = None, rounds: int = 1,
                 pause_s: float = 0.0) -> Latency:
  """Batch-1 latency of the ONNX model in onnxruntime (CPU, `threads` intra-op threads), on
  `image` [H, W, 3] or zeros [1, H, W, 3] float32."""
  ort = onnxruntime_module()
  session = onnx_session(data, threads)
  inp = session.get_inputs()[0]
  shape = [1] + [int(d) for d in inp.shape[1:]]
  x = np.zeros(shape, np.float32) if image is None else image[None].astype(np.float32)
  feed = {inp.name: x}
  return time_calls(lambda: session.run(None, feed), runs, warmup, threads,
                    f"onnxruntime {ort.__version__} (CPU)", rounds, pause_s)


def keras_latency(model, runs: int, warmup: int, image: Optional[np.ndarray] = None,
                  rounds: int = 1, pause_s: float = 0.0) -> Latency:
  """The Keras model at batch 1 inside one tf.function (TensorFlow's own thread pools)."""
  import keras
  import tensorflow as tf
  shape = (1,) + tuple(int(d) for d in model.inputs[0].shape[1:])
  x = tf.zeros(shape) if image is None else tf.constant(image[None], tf.float32)
  predict = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
  return time_calls(lambda: predict(x).numpy(), runs, max(warmup, 1), None,
                    f"keras {keras.__version__} / tensorflow {tf.__version__} tf.function",
                    rounds, pause_s)
