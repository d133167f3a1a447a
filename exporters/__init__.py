"""Exporters: derived network -> TFLite / ONNX files, with params, MACs, latency and parity measured
on the files themselves (the `rc-darts-export` entry point is rc_darts_tf/cli/export.py)."""
