"""Everything `rc-darts-export` writes for one network, as one call (the command line and the
Python API, `rc_darts_tf.api.export`, both use it):

  report = bundle.export_network(net, "runs/export", genotype, geometry, prep, labels, images)

`net` is the logits-only Keras network [B, S, S, 3] -> [B, K] that takes normalised images; the
files take raw RGB pixels [1, S, S, 3] in [0, 255] with the normalisation `prep`
(preprocessing.Preprocessing) inside (preprocessing.pixel_model), and carry `labels` (K class
names) in labels.txt and as metadata (exporters/metadata.py). For every format of `formats`
(artifacts.FORMATS) the file is written atomically and measured (params, MACs, latency at
batch 1, parity with the Keras model on `images.parity`, artifacts.export_all); then labels.txt
and report.json (exporters/report.py). On any failure every file this call wrote is removed (and
the directory, if this call created it and it is empty); conversion and measurement failures are
raised as RcDartsError with one line.
"""

import os
import time
from typing import Callable, Dict, List, Optional, Sequence

from exporters import artifacts, measure, metadata, report as report_lib
from rc_darts_tf import io_utils
from rc_darts_tf.errors import RcDartsError


def export_network(net, out: str, genotype, geometry: Dict[str, object], prep,
                   labels: List[str], images: artifacts.Images,
                   formats: Sequence[str] = artifacts.FORMATS, *, plan=None, opset: int = 17,
                   threads: int = 1, latency_runs: int = 50, warmup_runs: int = 5,
                   latency_rounds: int = artifacts.LATENCY_ROUNDS, overwrite: bool = False,
                   source: str = "", weights: str = "trained",
                   labels_from: str = "", started: Optional[float] = None,
                   log: Callable[[str], None] = lambda line: None) -> Dict[str, object]:
  """Write and measure the files of `net` into `out` (see module doc); returns the report (the
  dict written to report.json). `geometry`: init_channels, layers, stem, image_size,
  num_classes; `plan` (costs.NetworkPlan) defaults to the genotype's at that geometry."""
  from rc_darts_tf import network, preprocessing as preprocessing_lib
  started = time.perf_counter() if started is None else started
  formats = list(dict.fromkeys(formats))
  unknown = [f for f in formats if f not in artifacts.FORMATS]
  if unknown:
    raise RcDartsError(f"unknown export format(s) {', '.join(unknown)}: choose from "
                       f"{', '.join(artifacts.FORMATS)}")
  if plan is None:
    plan = network.plan_for(genotype, geometry["init_channels"], geometry["layers"],
                            geometry["stem"], geometry["image_size"], geometry["num_classes"])
  expected = artifacts.expected_costs(net, plan, genotype)
  model = preprocessing_lib.pixel_model(net, prep)
  created = not os.path.isdir(out)
  written = []
  try:
    os.makedirs(out, exist_ok=True)
    if overwrite:
      for name in artifacts.MARKERS:
        if os.path.exists(os.path.join(out, name)):
          os.unlink(os.path.join(out, name))
    records = artifacts.export_all(
        model, formats, out, images, expected, opset=opset, threads=threads,
        runs=latency_runs, warmup=warmup_runs, written=written, log=log, labels=labels,
        preprocessing=prep, rounds=latency_rounds)
    labels_path = os.path.join(out, artifacts.LABELS)
    written.append(labels_path)
    io_utils.atomic_write_text(labels_path, metadata.labels_text(labels))
    keras_latency = measure.keras_latency(model, latency_runs, warmup_runs, images.parity[0],
                                          latency_rounds, artifacts.LATENCY_PAUSE_S)
    report = {
        "format_version": 1,
        "network": {"source": source, "weights": weights,
                    "genotype": genotype.to_json_dict(), **geometry},
        "input": prep.to_json_dict(),
        "labels": {"names": list(labels), "file": artifacts.LABELS, "source": labels_from,
                   "in_files": "ONNX metadata_props and TFLite Model.metadata entries 'labels' "
                               "and 'preprocessing' (exporters/metadata.py)"},
        "costs": {"params": expected.params, "macs": expected.macs,
                  "bn_affine_params": expected.bn_affine_params,
                  "classifier_bias": expected.classifier_bias, "source": "rc_darts_tf.costs"},
        "keras": {"params": int(sum(int(v.numpy().size) for v in net.trainable_weights)),
                  "latency_ms": keras_latency.as_dict()},
        "images": {"source": images.source, "parity": int(len(images.parity)),
                   "calibration": int(len(images.calibration)),
                   "labelled": images.labels is not None},
        "artifacts": records,
        "conventions": report_lib.CONVENTIONS,
        "seconds": round(time.perf_counter() - started, 1),
    }
    path = os.path.join(out, artifacts.REPORT)
    written.append(path)
    report_lib.write_json(path, report)
  except BaseException as error:
    for path in written:
      if os.path.exists(path):
        os.unlink(path)
    if created and os.path.isdir(out) and not os.listdir(out):
      os.rmdir(out)
    if isinstance(error, (artifacts.tflite.ConversionError,
                          artifacts.onnx_export.ConversionError, measure.MeasureError)):
      raise RcDartsError(str(error)) from None
    raise
  return report
