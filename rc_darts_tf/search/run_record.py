"""The record of a resumable search (OUTPUT_DIR/search_run.json) and the checkpoint directory's
name: everything deciding whether --output_dir resumes, starts afresh or is refused, without
TensorFlow (so that refusal is one line within about a second; search/checkpoint.py holds the
TensorFlow side)."""

import json
import os
from typing import Optional

from rc_darts_tf.errors import RcDartsError

CHECKPOINT_DIR = "checkpoints"
RUN_FILE = "search_run.json"      # the settings a resumable run was started with
FORMAT_VERSION = 1


def read_run_file(output_dir: str) -> Optional[dict]:
  """The run record OUTPUT_DIR/search_run.json as a dict, None when there is none. RcDartsError
  (one line, naming the file) if it is unreadable, not JSON or lacks a "settings" object."""
  path = os.path.join(output_dir, RUN_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      record = json.load(f)
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
      raise ValueError("no 'settings' object")
    return record
  except (OSError, ValueError) as error:
    raise RcDartsError(f"{path} is unreadable or malformed ({error}): remove it or pass "
                       "--overwrite") from None


def settings_difference(saved: dict, current: dict, defaults: Optional[dict] = None) -> list:
  """The settings (name=saved -> current) that differ; [] when a resume is allowed. A setting
  that a record written by an older version lacks counts as its default (`defaults`), so adding
  a setting does not refuse the runs written before it."""
  diffs = []
  defaults = defaults or {}
  for name in sorted(set(saved) | set(current)):
    a, b = saved.get(name, defaults.get(name)), current.get(name)
    if json.dumps(a) != json.dumps(b):
      diffs.append(f"--{name}={a} -> {b}")
  return diffs
