"""exporters/report.py: report.json written atomically with NumPy values converted, and the
printed table: one row per file, costs.py's figures beside the measured ones, a mismatch
marked, the parity cell as exporters/parity.describe gives it."""

import json
import os

import numpy as np
import pytest

from exporters import report


def _artifact(fmt, size, macs, macs_costs, parity):
  return {"format": fmt, "file": f"model_{fmt}.bin", "size_bytes": size, "params": 9_870,
          "params_darts": 10_500, "macs": macs, "macs_costs": macs_costs,
          "macs_match": macs == macs_costs,
          "latency_ms": {"median": 0.25, "p90": 0.3125}, "parity": parity}


REPORT = {
    "costs": {"params": 10_500, "macs": 1_138_432, "bn_affine_params": 512,
              "classifier_bias": 10},
    "keras": {"params": 10_500, "latency_ms": {"median": 3.5, "p90": 4.25}},
    "artifacts": [
        _artifact("tflite_fp32", 12_345, 1_138_432, 1_138_432,
                  {"kind": "logits", "relative_diff": 3.9e-7, "threshold": 1e-4,
                   "passed": True}),
        _artifact("tflite_int8", 2_500_000, 1_138_000, 1_138_432,
                  {"kind": "top1", "top1_agreement": 0.955, "threshold": 0.98, "passed": False,
                   "disagreements": 9, "disagreements_tied": 4}),
    ],
}


def test_table_has_a_row_per_file_beside_costs():
  lines = report.table(REPORT).splitlines()
  assert lines[0].split()[:2] == ["format", "size"]
  assert set(lines[1].replace(" ", "")) == {"-"}
  keras_row, fp32, int8 = lines[2], lines[3], lines[4]
  assert keras_row.split()[:4] == ["keras", "-", "-", "10,500"]
  assert "3.50 / 4.25" in keras_row and keras_row.endswith("reference")
  assert fp32.split()[:6] == ["tflite_fp32", "12.3", "kB", "9,870", "10,500", "1,138,432"]
  assert "0.25 / 0.31" in fp32 and fp32.endswith("3.9e-07 (<= 1e-04) ok")
  # the int8 file's MACs differ from costs.py: marked; its parity cell names the tied misses
  assert int8.split()[1:3] == ["2.50", "MB"] and "1,138,000 (!)" in int8
  assert int8.endswith("top-1 95.5% (>= 98%) FAIL, 4 of 9 misses tied")
  # all columns line up under the header
  starts = [lines[0].index("params (file)")] + [row.index(" 9,870") + 1 for row in (fp32, int8)]
  assert len(set(starts)) == 1
  notes = "\n".join(lines[5:])
  assert "512 of them" in notes and f"kernels in every file = {10_500 - 512 - 10:,}" in notes


def test_table_names_onnx_tools_figures_when_present():
  with_tool = json.loads(json.dumps(REPORT))
  with_tool["artifacts"][0]["onnx_tool"] = {"conv_gemm_matmul": 1_140_000,
                                            "conv_gemm_matmul_less_bias": 1_138_432,
                                            "total_all_ops": 1_200_000}
  text = report.table(with_tool)
  assert ("onnx_tool on model_tflite_fp32.bin: 1,138,432 MACs over Conv/Gemm/MatMul nodes "
          "without bias additions (1,140,000 with them); 1,200,000 over all nodes") in text


def test_write_json_converts_numpy_and_writes_atomically(tmp_path):
  path = tmp_path / "report.json"
  report.write_json(str(path), {"macs": np.int64(7), "ratio": np.float32(0.5),
                                "logits": np.arange(3, dtype=np.int32)})
  assert json.loads(path.read_text()) == {"macs": 7, "ratio": 0.5, "logits": [0, 1, 2]}
  assert os.listdir(tmp_path) == ["report.json"]
  with pytest.raises(TypeError, match="object is not JSON serialisable"):
    report.write_json(str(path), {"bad": object()})
  # the earlier file is kept whole and no temporary file is left
  assert json.loads(path.read_text())["macs"] == 7
  assert os.listdir(tmp_path) == ["report.json"]
