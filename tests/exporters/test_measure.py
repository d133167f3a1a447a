"""exporters/measure/: a file with dynamic shapes is refused, not miscounted; onnxruntime
is quiet where the home directory is read-only."""

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

