"""report.json (machine-readable) and the table printed per artifact.

report.json:
  network      genotype, geometry, source (model_dir or genotype + random weights)
  costs        costs.py's exact params / MACs of the network (what the search optimised) and
               the BN affine params it includes
  keras        the Keras model: trainable params counted, batch-1 latency
  images       where the parity / calibration images came from
  artifacts    one record per file: format, path, file, size_bytes, params (artifact
               convention), kernel_params, bias_params, params_darts, macs (measured on the
               file), macs_costs (costs.py), macs_match, operators, latency_ms {median, p90,
               mean, min, runs, warmup, threads, runtime}, parity {kind, max_abs_diff,
               logit_scale, relative_diff, top1_agreement, threshold, passed, ...}; the ONNX
               record adds opset and onnx_tool's independent figures
  conventions  the definitions, in words
"""

import json
from typing import Dict, List

from rc_darts_tf import io_utils

CONVENTIONS = {
    "macs": "multiply-accumulates of convolutions (incl. depthwise) and dense layers at batch 1, "
            "read from the file's operators and tensor shapes (TFLite: CONV_2D, "
            "DEPTHWISE_CONV_2D, FULLY_CONNECTED; ONNX: Conv, Gemm, MatMul after shape "
            "inference); pooling, BN, ReLU, add and concat are free, as in costs.py",
    "params": "artifact params: elements of the constant weight and bias operands of those "
              "operators, per operator (fp16 / int8 constants count the same)",
    "params_darts": "costs.py (DARTS convention): trainable weights incl. BN gamma/beta, without "
                    "BN moving statistics and the auxiliary head",
    "bn_folding": "the converters fold each BN that directly follows a conv into that conv: its "
                  "gamma/beta (2C, counted by params_darts) disappear into the conv's kernel and a "
                  "bias of C. So kernel_params = params_darts - bn_affine_params - classifier "
                  "bias, and bias_params holds the folded BN shifts, the zero biases TFLite gives "
                  "every other conv, and the classifier bias; a BN that cannot be folded (after a "
                  "concat) stays as a Mul/Add whose constants are not counted",
    "parity": "float files: relative_diff = max|logits_file - logits_keras| / max(1, "
              "max|logits_keras|), pass <= 1e-4 (fp32, onnx) or 1e-2 (fp16); int8: top-1 "
              "agreement with the Keras model, pass >= 98%",
    "latency": "batch 1, after warm-up runs; median and 90th percentile of the timed runs, in ms",
}


def write_json(path: str, report: Dict[str, object]) -> None:
  """Write `report` to `path` atomically as indented JSON (NumPy scalars and arrays converted;
  TypeError for other non-JSON values)."""
  io_utils.atomic_write_text(path, json.dumps(report, indent=1, default=_default) + "\n")


def _default(value):
  import numpy as np
  if isinstance(value, np.integer):
    return int(value)
  if isinstance(value, np.floating):
    return float(value)
  if isinstance(value, np.ndarray):
    return value.tolist()
  raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _size(n: int) -> str:
  return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def table(report: Dict[str, object]) -> str:
  """The printed table: one row per artifact, costs.py beside the measured figures."""
  from exporters import parity
  costs = report["costs"]
  rows: List[List[str]] = [["format", "size", "params (file)", "params (DARTS)", "MACs (file)",
                            "MACs (costs.py)", "latency med / p90 ms", "parity"]]
  keras = report.get("keras", {})
  k_lat = keras.get("latency_ms") or {}
  rows.append(["keras", "-", "-", f"{keras.get('params', 0):,}", "-", f"{costs['macs']:,}",
               f"{k_lat['median']:.2f} / {k_lat['p90']:.2f}" if k_lat else "-", "reference"])
  for a in report["artifacts"]:
    lat = a["latency_ms"]
    macs = f"{a['macs']:,}" + ("" if a["macs_match"] else " (!)")
    rows.append([a["format"], _size(a["size_bytes"]), f"{a['params']:,}",
                 f"{a['params_darts']:,}", macs, f"{a['macs_costs']:,}",
                 f"{lat['median']:.2f} / {lat['p90']:.2f}", parity.describe(a["parity"])])
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
  lines.insert(1, "  ".join("-" * w for w in widths))
  notes = [f"params (file) = kernels + biases of conv/dense operators after BN folding; "
           f"params (DARTS) = costs.py incl. BN gamma/beta ({costs['bn_affine_params']:,} of "
           f"them); kernels in every file = {costs['params'] - costs['bn_affine_params'] - costs['classifier_bias']:,}."]
  for a in report["artifacts"]:
    tool = a.get("onnx_tool")
    if tool and tool.get("conv_gemm_matmul") is not None:
      notes.append(f"onnx_tool on {a['file']}: {tool['conv_gemm_matmul_less_bias']:,} MACs over "
                   f"Conv/Gemm/MatMul nodes without bias additions ({tool['conv_gemm_matmul']:,} "
                   f"with them); {tool['total_all_ops']:,} over all nodes (incl. pooling and "
                   "element-wise ops)")
  return "\n".join(lines + [""] + notes)
