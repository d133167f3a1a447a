"""exporters/tflite.py: the builtin-operator check, and an int8 file with pixel input takes
the pixels unchanged whatever the calibration range."""

import keras
import numpy as np

from exporters import measure, tflite


def test_the_builtin_check_notices_a_custom_operator():
  assert tflite.non_builtin(["CONV_2D", "CUSTOM:FlexConv2D", "ADD"]) == ["CUSTOM:FlexConv2D"]
  assert tflite.non_builtin(["CONV_2D", "ADD"]) == []


def test_int8_pixel_input_is_the_pixels_whatever_the_calibration_range():
  """Calibration images that never reach 0 or 255 (dark photos, say) still give a uint8 input
  with scale 1 and zero point 0: the app feeds its pixels unchanged."""
  from rc_darts_tf.preprocessing import Preprocessing, pixel_model
  x = keras.Input((8, 8, 3))
  net = keras.Model(x, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(
      keras.layers.Conv2D(4, 3, padding="same")(x))))
  model = pixel_model(net, Preprocessing(8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))
  dark = np.random.default_rng(0).integers(20, 90, (16, 8, 8, 3)).astype(np.float32)
  data = tflite.convert(model, "tflite_int8", dark, pixel_input=True)
  io = measure.tflite_io(data)["inputs"][0]
  assert io["dtype"] == "uint8" and io["quantization"] == [1.0, 0], io
  assert dark.min() == 20                 # the caller's images are left as they were

