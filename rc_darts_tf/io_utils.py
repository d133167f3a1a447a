"""Small file helpers: atomic writes, output-directory checks, file descriptor 2 redirection."""

import contextlib
import os
import sys
import tempfile

from rc_darts_tf.errors import RcDartsError


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Write `data` to `path` via a temp file in the same directory, fsync and os.replace: readers
  see the old file or the new one, never a partial one, and a failure leaves the old file
  untouched."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
  try:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)   # mkstemp's 0600 would hide results from other users
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def atomic_write_text(path: str, text: str) -> None:
  """`atomic_write_bytes` of `text` in UTF-8."""
  atomic_write_bytes(path, text.encode("utf-8"))


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
