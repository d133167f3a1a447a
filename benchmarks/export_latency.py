"""Batch-1 latency of one network as Keras, TFLite (fp32, int8) and ONNX (onnxruntime).

  python benchmarks/export_latency.py                       # DARTS_V2, C = 36, 20 cells, 32x32
  python benchmarks/export_latency.py --init_channels=16 --layers=8 --threads=2

Builds the network with random weights (seeded), converts it with the exporters (the same code
as rc-darts-export: static batch 1, builtin TFLite operators; int8 calibrated on generated
images), and times each at batch 1: --warmup_runs untimed calls, then --runs timed ones; median
and 90th percentile in ms. Keras runs the model inside one tf.function (TensorFlow's own thread
pools); the TFLite interpreter (ai-edge-litert) and onnxruntime use --threads. MACs are measured
on each file as well. Prints one JSON line.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import json  # noqa: E402
import time  # noqa: E402

from absl import app  # noqa: E402
from absl import flags as absl_flags  # noqa: E402

absl_flags.DEFINE_string("genotype", "DARTS_V2", "Genotype (name, JSON file or DARTS string).")
absl_flags.DEFINE_integer("init_channels", 36, "C.")
absl_flags.DEFINE_integer("layers", 20, "Cells.")
absl_flags.DEFINE_integer("image_size", 32, "Input side.")
absl_flags.DEFINE_integer("num_classes", 10, "Classes.")
absl_flags.DEFINE_integer("threads", 1, "TFLite interpreter / onnxruntime threads.")
absl_flags.DEFINE_integer("runs", 50, "Timed runs.")
absl_flags.DEFINE_integer("warmup_runs", 5, "Untimed warm-up runs.")
absl_flags.DEFINE_integer("calibration_images", 32, "Generated images calibrating int8.")
absl_flags.DEFINE_integer("seed", 0, "Weights and images seed.")
FLAGS = absl_flags.FLAGS


def main(argv):
  del argv
  import keras
  import tensorflow as tf
  from absl import logging
  logging.set_verbosity(logging.ERROR)
  from exporters import artifacts, measure
  from rc_darts_tf import costs, genotype as genotype_lib, network

  genotype = genotype_lib.resolve(FLAGS.genotype).validate()
  keras.utils.set_random_seed(FLAGS.seed)
  model = network.build_network(genotype, FLAGS.init_channels, FLAGS.layers, "cifar",
                                FLAGS.image_size, FLAGS.num_classes)
  plan = network.plan_for(genotype, FLAGS.init_channels, FLAGS.layers, "cifar", FLAGS.image_size,
                          FLAGS.num_classes)
  exact = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection)
  image = artifacts.generated_images(1, FLAGS.image_size, FLAGS.seed)[0]
  calibration = artifacts.generated_images(FLAGS.calibration_images, FLAGS.image_size,
                                           FLAGS.seed + 1)
  result = {"benchmark": "export_latency", "genotype": FLAGS.genotype,
            "init_channels": FLAGS.init_channels, "layers": FLAGS.layers,
            "image_size": FLAGS.image_size, "batch": 1, "threads": FLAGS.threads,
            "runs": FLAGS.runs, "warmup_runs": FLAGS.warmup_runs, "macs_costs": exact.macs,
            "params_costs": exact.params}
  keras_latency = measure.keras_latency(model, FLAGS.runs, FLAGS.warmup_runs, image)
  result["keras_ms"] = {"median": round(keras_latency.median_ms, 3),
                        "p90": round(keras_latency.p90_ms, 3)}
  for fmt in ("tflite_fp32", "tflite_int8", "onnx"):
    started = time.perf_counter()
    data = artifacts.convert(model, fmt, calibration, 17)
    seconds = time.perf_counter() - started
    if fmt == "onnx":
      latency = measure.onnx_latency(data, FLAGS.threads, FLAGS.runs, FLAGS.warmup_runs, image)
      macs = measure.onnx_cost(data).macs
    else:
      latency = measure.tflite_latency(data, FLAGS.threads, FLAGS.runs, FLAGS.warmup_runs, image)
      macs = measure.tflite_cost(data).macs
    key = "onnxruntime" if fmt == "onnx" else fmt
    result[f"{key}_ms"] = {"median": round(latency.median_ms, 3),
                           "p90": round(latency.p90_ms, 3)}
    result[f"{key}_macs"] = macs
    result[f"{key}_bytes"] = len(data)
    result[f"{key}_convert_s"] = round(seconds, 1)
  result["tensorflow"] = tf.__version__
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
