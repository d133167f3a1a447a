"""Write the requested files for one Keras network and measure each of them.

  records = artifacts.export_all(model, formats, out_dir, images, expected, opset=17, ...)
  records = artifacts.export_all(pixel_model, formats, out_dir, pixel_images, expected,
                                 labels=class_names, preprocessing=prep)   # what ships

With `preprocessing` (a preprocessing.Preprocessing) the model is a pixel model
(preprocessing.pixel_model: raw pixels in [0, 255] in, normalisation inside), the int8 TFLite file
takes uint8 pixels, and every file carries the labels and the preprocessing as metadata
(exporters/metadata.py); `labels.txt` is written by the caller.

For every format: convert, write the file atomically (temp name in the same directory, then
os.replace), then measure the written file (size, params, MACs, latency) and compare its logits
with the Keras model's on the parity images. The caller owns the output directory and the
report; `written` collects the paths this run wrote, so a failure can remove them.
"""

import dataclasses
import os
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from exporters import measure, metadata, onnx_export, parity, tflite
from rc_darts_tf import io_utils

FORMATS = ("tflite_fp32", "tflite_fp16", "tflite_int8", "onnx")
FILE_NAMES = {"tflite_fp32": "model_fp32.tflite", "tflite_fp16": "model_fp16.tflite",
              "tflite_int8": "model_int8.tflite", "onnx": "model.onnx"}
REPORT = "report.json"
LABELS = "labels.txt"
MARKERS = tuple(FILE_NAMES.values()) + (REPORT, LABELS)


@dataclasses.dataclass
class Images:
  """Images the files are checked on (NHWC float32, as the exported model takes them: raw pixels
  in [0, 255] for a pixel model, normalised otherwise)."""

  parity: np.ndarray                  # [N, H, W, 3]
  calibration: np.ndarray             # [M, H, W, 3], int8 representative dataset
  labels: Optional[np.ndarray]        # [N] when the images come from a labelled dataset
  source: str                         # where they come from, in words


@dataclasses.dataclass
class Expected:
  """costs.py's figures for the network (what the search optimised)."""

  params: int
  macs: int
  bn_affine_params: int               # BN gamma + beta inside `params`
  classifier_bias: int                # the Dense bias inside `params`


# Seconds between two timed blocks of one file: spreads the blocks over time, so that some of them
# miss the machine's busy spells (measure.Latency; here spells of 0.5-5 s at +40 % came every few
# seconds while one int8 file was timed for 30 s in blocks of 20 invokes).
LATENCY_PAUSE_S = 0.25
# Timed blocks per file by default (rc-darts-export --latency_rounds).
LATENCY_ROUNDS = 10


def generated_images(count: int, image_size: int, seed: int) -> np.ndarray:
  """Standard-normal images: the scale of normalised real images."""
  rng = np.random.default_rng(seed)
  return rng.standard_normal((count, image_size, image_size, 3)).astype(np.float32)


def generated_pixels(count: int, image_size: int, seed: int) -> np.ndarray:
  """Uniform random integer pixels in [0, 255] as float32 [count, S, S, 3]."""
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (count, image_size, image_size, 3)).astype(np.float32)


def dataset_images(source, parity_count: int, calibration_count: int, seed: int,
                   normalise: bool = True) -> Images:
  """Parity images from the test split (the first `parity_count`, with labels), calibration
  images from the training split (a seeded shuffle), both through the evaluation pipeline
  (decode, resize / centre crop, normalise with `source`'s statistics; no augmentation). With
  normalise=False: raw pixels (a pixel model's input)."""
  from rc_darts_tf import data
  test_fn = source.test_encoded or source.train_encoded
  test = data.eval_pipeline(test_fn().take(parity_count), source, parity_count, 64, cache=False,
                            normalise=normalise)
  xs, ys = [], []
  for x, y in test:
    xs.append(x.numpy())
    ys.append(y.numpy())
  train = source.train_encoded().shuffle(min(source.num_train, 4096), seed=seed)
  calib = data.eval_pipeline(train.take(calibration_count), source, calibration_count, 64,
                             cache=False, normalise=normalise)
  cs = [x.numpy() for x, _ in calib]
  split = "test" if source.test_encoded is not None else "train"
  return Images(np.concatenate(xs), np.concatenate(cs), np.concatenate(ys),
                f"dataset {source.name}: first {sum(len(x) for x in xs)} {split} images for "
                f"parity, {sum(len(c) for c in cs)} shuffled training images for int8 "
                "calibration")


def expected_costs(model, plan, genotype) -> Expected:
  """costs.genotype_cost of `genotype` on `plan` (params, MACs), the Keras `model`'s BN γ + β
  count and the classifier bias (plan.num_classes)."""
  from rc_darts_tf import costs
  exact = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection)
  return Expected(exact.params, exact.macs, bn_affine_params(model), plan.num_classes)


def bn_affine_params(model) -> int:
  """BN gamma + beta elements of the Keras model (what BN folding removes). Only Keras's
  BatchNormalization names its trainable weights gamma and beta in these networks."""
  from rc_darts_tf import costs
  return costs.count_weights(w for w in model.trainable_weights
                             if w.path.rsplit("/", 1)[-1] in ("gamma", "beta"))


def keras_logits(model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
  """Inference-mode logits of `model` on images [N, H, W, 3] in batches of `batch_size`:
  float32 [N, num_classes]."""
  import tensorflow as tf
  predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
  return np.concatenate([predict(tf.constant(images[i:i + batch_size])).numpy()
                         for i in range(0, len(images), batch_size)]).astype(np.float32)


def convert(model, fmt: str, calibration: Optional[np.ndarray], opset: int,
            labels: Optional[Sequence[str]] = None, preprocessing=None) -> bytes:
  """The bytes of one file; with `preprocessing` (a pixel model), labels and preprocessing are
  embedded (exporters/metadata.py) and the int8 file takes uint8 pixels."""
  if fmt == "onnx":
    data = onnx_export.convert(model, opset)
  else:
    data = tflite.convert(model, fmt, calibration if fmt == "tflite_int8" else None,
                          pixel_input=preprocessing is not None)
  if preprocessing is not None:
    data = metadata.embed(fmt, data, list(labels), preprocessing)
  return data


def measure_file(fmt: str, data: bytes) -> Dict[str, object]:
  """Operators, params and MACs of one file (no Keras model involved)."""
  if fmt == "onnx":
    cost = measure.onnx_cost(data)
    record = {"onnx_tool": measure.onnx_tool_macs(data), "opset": onnx_export.opset_of(data)}
  else:
    cost = measure.tflite_cost(data)
    record = {"io": measure.tflite_io(data)}
  record.update(cost.as_dict())
  return record


def export_all(model, formats: Sequence[str], out_dir: str, images: Images, expected: Expected,
               opset: int = 17, threads: int = 1, runs: int = 50, warmup: int = 5,
               written: Optional[List[str]] = None,
               log: Callable[[str], None] = lambda s: None,
               labels: Optional[Sequence[str]] = None,
               preprocessing=None, rounds: int = LATENCY_ROUNDS) -> List[Dict[str, object]]:
  """Convert, write, measure and check every format; returns the artifact records. With
  `preprocessing`, `model` is a pixel model and `labels` its class names (see module doc).
  Latency: `warmup` untimed runs, then `runs` timed ones in `rounds` blocks LATENCY_PAUSE_S
  apart (measure.time_calls)."""
  if preprocessing is not None and (labels is None or len(labels) !=
                                    int(model.outputs[0].shape[-1])):
    raise ValueError(f"a pixel model's export needs one label per class, got {labels!r}")
  written = written if written is not None else []
  reference = keras_logits(model, images.parity)
  records = []
  for fmt in formats:
    started = time.perf_counter()
    data = convert(model, fmt, images.calibration, opset, labels, preprocessing)
    path = os.path.join(out_dir, FILE_NAMES[fmt])
    written.append(path)
    io_utils.atomic_write_bytes(path, data)
    converted = time.perf_counter() - started
    with open(path, "rb") as f:          # everything below reads the file that ships
      data = f.read()
    record = {"format": fmt, "path": path, "file": FILE_NAMES[fmt],
              "size_bytes": measure.file_size(path), "convert_seconds": round(converted, 2)}
    record.update(measure_file(fmt, data))
    record["params_darts"] = expected.params
    record["macs_costs"] = expected.macs
    record["macs_match"] = record["macs"] == expected.macs
    record["kernel_params_expected"] = (expected.params - expected.bn_affine_params -
                                        expected.classifier_bias)
    sample = images.parity[0]
    if fmt == "onnx":
      latency = measure.onnx_latency(data, threads, runs, warmup, sample, rounds,
                                     LATENCY_PAUSE_S)
      logits = measure.onnx_predict(data, images.parity, threads)
    else:
      latency = measure.tflite_latency(data, threads, runs, warmup, sample, rounds,
                                       LATENCY_PAUSE_S)
      logits = measure.tflite_predict(data, images.parity, threads)
    record["latency_ms"] = latency.as_dict()
    record["parity"] = parity.compare(fmt, reference, logits, images.labels)
    records.append(record)
    log(f"  {fmt}: {FILE_NAMES[fmt]} ({record['size_bytes']:,} bytes) in {converted:.1f} s, "
        f"{record['macs']:,} MACs, {parity.describe(record['parity'])}")
  return records
