"""The record of a resumable run, OUTPUT_DIR/run.json, and the one rule both resumable tools
(rc-darts-search, rc-darts-train) apply to --output_dir: resume, start afresh, or refuse. No
TensorFlow, so a refusal is one line within about a second.

  {"format_version": 1, "kind": "search" | "training", "settings": {name: value, ...}, ...}

`settings` are what a restart must share to resume (each tool names them); a search also records
its search space ("search_space", search_space.SearchSpace.record). Directories written before
run.json existed are read too: a search's search_run.json (the same format without "kind") and a
training's settings.json (the settings alone).
"""

import json
import os
from typing import Callable, Dict, Optional, Sequence

from rc_darts_tf import io_utils
from rc_darts_tf.errors import RcDartsError

RUN_FILE = "run.json"
FORMAT_VERSION = 1
KINDS = {"search": "a search", "training": "a training run"}
LEGACY_FILES = {"search": "search_run.json", "training": "settings.json"}
CHECKPOINT_DIR = "checkpoints"


def _legacy(kind: str, name: str, record) -> dict:
  if name == "settings.json":                      # rc-darts-train before run.json: settings only
    return {"format_version": FORMAT_VERSION, "kind": kind, "settings": record}
  return dict(record, kind=kind)


def read(output_dir: str, kind: str) -> Optional[dict]:
  """The run record of OUTPUT_DIR as a dict (run.json, else the older file of `kind`), None when
  there is none. RcDartsError (one line, naming the file) if it is unreadable, not JSON, or lacks
  a "settings" object."""
  for name in (RUN_FILE, LEGACY_FILES[kind]):
    path = os.path.join(output_dir, name)
    if not os.path.exists(path):
      continue
    try:
      with open(path) as f:
        record = json.load(f)
      if name != RUN_FILE:
        record = _legacy(kind, name, record)
      if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
        raise ValueError("no 'settings' object")
      record["file"] = name
      return record
    except (OSError, ValueError) as error:
      raise RcDartsError(f"{path} is unreadable or malformed ({error}): remove it or pass "
                         "--overwrite") from None
  return None


def write(output_dir: str, kind: str, settings: dict, **extra) -> None:
  """Write OUTPUT_DIR/run.json (atomically) for a run of `kind` with `settings` (JSON values)
  and `extra` top-level entries; an older record file of `kind` is removed."""
  record = {"format_version": FORMAT_VERSION, "kind": kind, "settings": settings, **extra}
  io_utils.atomic_write_text(os.path.join(output_dir, RUN_FILE),
                             json.dumps(record, indent=2) + "\n")
  legacy = os.path.join(output_dir, LEGACY_FILES[kind])
  if os.path.exists(legacy):
    os.unlink(legacy)


def settings_difference(saved: dict, current: dict, defaults: Optional[dict] = None) -> list:
  """The settings that differ, as "--name=current (the earlier run: saved)"; [] when a resume is
  allowed. A setting that a record written by an older version lacks counts as its default
  (`defaults`), so adding a setting does not refuse the runs written before it."""
  diffs = []
  defaults = defaults or {}
  for name in sorted(set(saved) | set(current)):
    a, b = saved.get(name, defaults.get(name)), current.get(name)
    if json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True):
      diffs.append("the genotype" if name == "genotype" else
                   f"--{name}={b} (the earlier run: {a})")
  return diffs


def plan(output_dir: str, kind: str, settings: dict, defaults: Dict[str, object],
         overwrite: bool, markers: Sequence[str], finished: Optional[str] = None,
         chief: bool = True, check: Optional[Callable[[dict], None]] = None) -> str:
  """'fresh' or 'resume' for a run of `kind` into `output_dir`, refusing (RcDartsError, one
  line) what may not be touched; never writes.

  With a run record and not `overwrite`: another kind, or other settings (`check(record)` may
  refuse more, e.g. another search space), is refused; so is a finished run (the file
  `finished` exists: nothing to resume); otherwise 'resume'. Without one: a directory holding
  any of `markers` (files of an earlier run) is refused unless `overwrite`; otherwise 'fresh'.
  `chief`=False (a worker of a multi-worker run, which writes elsewhere) skips the markers."""
  if kind not in KINDS:
    raise ValueError(f"unknown run kind {kind!r}")
  out = output_dir
  record = None if overwrite else read(out, kind)
  if record is not None:
    if record.get("kind", kind) != kind:
      raise RcDartsError(f"--output_dir={out} holds {KINDS.get(record['kind'], record['kind'])}, "
                         f"not {KINDS[kind]} ({record['file']}): choose another directory, or "
                         "pass --overwrite to replace it")
    if check is not None:
      check(record)
    diffs = settings_difference(record["settings"], settings, defaults)
    if diffs:
      shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
      raise RcDartsError(f"--output_dir={out} holds {KINDS[kind]} with other settings "
                         f"({shown}): re-run with the same flags to resume, choose another "
                         "directory, or pass --overwrite to start afresh")
    if finished is not None and os.path.exists(os.path.join(out, finished)):
      raise RcDartsError(f"--output_dir={out} already holds {KINDS[kind]} with these settings "
                         f"that has finished ({finished}): nothing to do; pass --overwrite to "
                         "run it again")
    return "resume"
  if not overwrite and chief:
    existing = [m for m in markers if os.path.exists(os.path.join(out, m))]
    if existing:
      raise RcDartsError(f"--output_dir={out} already holds a run ({', '.join(existing)}): "
                         "choose another directory, or pass --overwrite to replace it")
  return "fresh"
