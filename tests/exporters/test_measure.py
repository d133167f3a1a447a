"""exporters/measure/: a file with dynamic shapes is refused, not miscounted; onnxruntime
is quiet where the home directory is read-only; latency is timed in blocks (fake clock)."""

import os
import subprocess
import sys

import keras
import pytest

from exporters import measure
from tests.helpers import REPO, error_lines


def test_measurement_refuses_dynamic_shapes():
  """Counting needs static shapes; a file with a dynamic batch is refused, not miscounted."""
  import tensorflow as tf
  x = keras.Input((8, 8, 3))
  model = keras.Model(x, keras.layers.Conv2D(4, 3, padding="same")(x))
  converter = tf.lite.TFLiteConverter.from_concrete_functions([
      tf.function(lambda t: model(t)).get_concrete_function(
          tf.TensorSpec((None, 8, 8, 3), tf.float32))])
  data = converter.convert()
  with pytest.raises(measure.MeasureError, match="dynamic"):
    measure.tflite_cost(data)


ORT_SESSION_SCRIPT = r'''
import sys
import onnx
from onnx import TensorProto, helper
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
data = helper.make_model(graph).SerializeToString()
if sys.argv[1] == "measure":
  from exporters import measure
  measure.onnx_session(data, threads=1)
else:                                       # an entry point: cli first, onnxruntime later
  from rc_darts_tf import cli  # noqa: F401
  import onnxruntime
  onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
print("session")
'''


@pytest.mark.parametrize("way", ["measure", "cli"])
def test_onnxruntime_is_quiet_where_home_is_read_only(way):
  """onnxruntime >= 1.29 warns "Failed to persist telemetry device ID" when it cannot write under
  the home directory (Bazel's sandbox, CI); the tools turn its telemetry off before it is imported
  (ORT_DISABLE_TELEMETRY), so nothing reaches stderr."""
  env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
  env.update(HOME="/proc/no-home", XDG_CACHE_HOME="/proc/no-home", PYTHONPATH=REPO)
  run = subprocess.run([sys.executable, "-c", ORT_SESSION_SCRIPT, way], capture_output=True,
                       text=True, timeout=120, env=env, cwd=REPO)
  assert run.returncode == 0 and run.stdout.strip() == "session", run.stderr[-2000:]
  assert error_lines(run.stderr) == []


def test_time_calls_blocks_and_the_quietest_block_median():
  """runs split into `rounds` blocks (sizes 3, 3, 2 for 8 in 3), a pause between blocks, and the
  best-block median is the smallest block median, beside the median of all runs."""
  from exporters.measure.latency import time_calls
  durations = iter([5.0, 6.0, 7.0,      # a busy block: median 6 ms
                    1.0, 2.0, 9.0,      # the quietest: median 2 ms
                    3.0, 4.0])          # median 3.5 ms
  now = [0.0]
  calls, pauses = [], []

  def clock():
    return now[0]

  def call():
    calls.append(1)
    now[0] += next(durations) / 1e3

  lat = time_calls(call, 8, 0, 1, "fake", rounds=3, pause_s=0.25, clock=clock,
                   sleep=pauses.append)
  assert len(calls) == 8 and pauses == [0.25, 0.25]
  assert lat.best_block_median_ms == pytest.approx(2.0)
  assert lat.median_ms == pytest.approx(4.5) and lat.min_ms == pytest.approx(1.0)
  d = lat.as_dict()
  assert d["best_block_median"] == pytest.approx(2.0) and d["rounds"] == 3 and d["runs"] == 8
  one = time_calls(lambda: None, 2, 1, 1, "fake", rounds=5)   # rounds capped at runs
  assert one.rounds == 2
  with pytest.raises(ValueError, match="rounds >= 1"):
    time_calls(lambda: None, 2, 0, 1, "fake", rounds=0)
