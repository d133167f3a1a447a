"""Small file helpers: atomic writes (one file, a file a writer names, a folder of files), output-
directory checks, file descriptor 2 redirection."""

import contextlib
import os
import shutil
import sys
import tempfile

from rc_darts_tf.errors import RcDartsError


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ""):
  """A temporary path beside `path` for writers that want a file name (np.savez, Keras's save
  and export, matplotlib, PIL): write it inside the `with` block; on a normal exit it replaces
  `path` (os.replace in the same directory: readers see the old file or the new one, never a
  partial one), on an exception it is removed and `path` is left untouched. suffix ends the
  temporary name, for writers that choose the format by extension ('.npz', '.keras'). A
  directory written there (a SavedModel) replaces a directory at `path`, which is removed first
  (that step is not atomic). The temporary path lies in a private folder `.<name>.*.tmp` that is
  always removed."""
  directory = os.path.dirname(os.path.abspath(path))
  folder = tempfile.mkdtemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
  try:
    tmp = os.path.join(folder, os.path.basename(path) + suffix)
    yield tmp
    if not os.path.exists(tmp):
      raise RcDartsError(f"nothing was written to the temporary file for {path}")
    if os.path.isdir(tmp) and os.path.isdir(path):
      shutil.rmtree(path)
    os.replace(tmp, path)
  finally:
    shutil.rmtree(folder, ignore_errors=True)


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Write `data` to `path` atomically (`atomic_path`), fsync'ed before the replace; the file
  gets the permissions the umask gives a new file."""
  with atomic_path(path) as tmp:
    with open(tmp, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())


def atomic_write_text(path: str, text: str) -> None:
  """`atomic_write_bytes` of `text` in UTF-8."""
  atomic_write_bytes(path, text.encode("utf-8"))


def write_files_atomically(out_dir: str, write) -> list:
  """Call write(folder) -> [paths written under folder] with a private temporary folder beside
  `out_dir`, then move each file into `out_dir` (created if missing) with os.replace: a reader
  never sees a partial file, files of `out_dir` that `write` does not write stay, and an
  exception leaves `out_dir` as it was. The temporary folder is always removed. Returns the
  paths in `out_dir`."""
  parent = os.path.dirname(os.path.abspath(out_dir))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out_dir)}.", suffix=".tmp")
  try:
    written = write(tmp)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for path in written:
      target = os.path.join(out_dir, os.path.relpath(path, tmp))
      os.replace(path, target)
      paths.append(target)
    return paths
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def prepare_output_dir(path: str, markers, overwrite: bool) -> str:
  """Check, without writing anything, that `path` can receive a new run; returns it absolute.

  Refuses with a one-line error when it already holds one of `markers` (files an earlier run
  wrote) and `overwrite` is False (a new run never silently replaces an earlier one), when it is a
  file, or when it (or, if it does not exist yet, its nearest existing parent) is not writable.
  The caller creates the directory once every other check has passed.
  """
  path = os.path.abspath(path)
  if os.path.exists(path) and not os.path.isdir(path):
    raise RcDartsError(f"--output_dir={path} exists and is not a directory")
  existing = [m for m in markers if os.path.exists(os.path.join(path, m))]
  if existing and not overwrite:
    raise RcDartsError(f"--output_dir={path} already holds a run ({', '.join(existing)}): choose "
                       "another directory, or pass --overwrite to replace it")
  probe = path
  while not os.path.exists(probe):
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
    raise RcDartsError(f"--output_dir={path} is not writable ({probe} does not accept new files)")
  return path


@contextlib.contextmanager
def redirect_fd2(target=None):
  """Point file descriptor 2 (where C++ libraries log) at the open file `target` (os.devnull when
  None) for the duration, then restore it. Python's sys.stderr is flushed around it. When fd 2
  cannot be duplicated (closed), the block runs unredirected."""
  try:
    sys.stderr.flush()
    saved = os.dup(2)
  except (OSError, ValueError):
    yield
    return
  with contextlib.ExitStack() as stack:
    if target is None:
      target = stack.enter_context(open(os.devnull, "w"))
    try:
      os.dup2(target.fileno(), 2)
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
