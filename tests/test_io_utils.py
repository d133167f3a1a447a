"""rc_darts_tf/io_utils.py: atomic writes leave the old file or the new one and nothing else."""

import os

import numpy as np
import pytest

from rc_darts_tf import io_utils
from rc_darts_tf.errors import RcDartsError


def _listing(folder):
  return sorted(os.listdir(folder))


def test_atomic_path_replaces_the_file_and_leaves_no_temporary(tmp_path):
  path = tmp_path / "theta.npz"
  path.write_bytes(b"old")
  with io_utils.atomic_path(str(path), ".npz") as tmp:
    assert os.path.dirname(os.path.dirname(tmp)) == str(tmp_path)   # same file system
    assert tmp.endswith(".npz") and not os.path.exists(tmp)
    np.savez(tmp, a=np.arange(3))         # np.savez keeps a name ending in .npz as it is
  with np.load(path) as z:
    np.testing.assert_array_equal(z["a"], np.arange(3))
  assert _listing(tmp_path) == ["theta.npz"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
  path = tmp_path / "genotype.json"
  path.write_text("old")
  with pytest.raises(ZeroDivisionError):
    with io_utils.atomic_path(str(path)) as tmp:
      with open(tmp, "w") as f:
        f.write("partial")
      1 / 0
  assert path.read_text() == "old" and _listing(tmp_path) == ["genotype.json"]
  with pytest.raises(RcDartsError, match="nothing was written"):
    with io_utils.atomic_path(str(path)):
      pass
  assert path.read_text() == "old" and _listing(tmp_path) == ["genotype.json"]


def test_a_directory_replaces_a_directory(tmp_path):
  path = tmp_path / "saved_model"
  path.mkdir()
  (path / "old.pb").write_bytes(b"old")
  with io_utils.atomic_path(str(path)) as tmp:
    os.makedirs(tmp)
    (open(os.path.join(tmp, "new.pb"), "wb")).close()
  assert _listing(path) == ["new.pb"] and _listing(tmp_path) == ["saved_model"]


def test_atomic_write_bytes_and_text(tmp_path):
  path = tmp_path / "report.json"
  io_utils.atomic_write_text(str(path), "é\n")
  assert path.read_bytes() == "é\n".encode("utf-8")
  io_utils.atomic_write_bytes(str(path), b"\x00\x01")
  assert path.read_bytes() == b"\x00\x01" and _listing(tmp_path) == ["report.json"]
  umask = os.umask(0)
  os.umask(umask)
  assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask     # a new file's permissions


def test_write_files_atomically_moves_files_in_and_keeps_the_others(tmp_path):
  out = tmp_path / "pictures"
  out.mkdir()
  (out / "kept.png").write_bytes(b"kept")
  (out / "phi.png").write_bytes(b"old")

  def write(folder):
    paths = [os.path.join(folder, name) for name in ("phi.png", "cell.svg")]
    for path in paths:
      with open(path, "wb") as f:
        f.write(b"new")
    return paths
  written = io_utils.write_files_atomically(str(out), write)
  assert written == [str(out / "phi.png"), str(out / "cell.svg")]
  assert _listing(out) == ["cell.svg", "kept.png", "phi.png"]
  assert (out / "phi.png").read_bytes() == b"new" and (out / "kept.png").read_bytes() == b"kept"

  def fail(folder):
    with open(os.path.join(folder, "phi.png"), "wb") as f:
      f.write(b"partial")
    raise RuntimeError("drawing failed")
  with pytest.raises(RuntimeError):
    io_utils.write_files_atomically(str(out), fail)
  assert (out / "phi.png").read_bytes() == b"new" and _listing(tmp_path) == ["pictures"]
