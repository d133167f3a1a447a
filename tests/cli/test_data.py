"""rc-darts-data (rc_darts_tf/cli/data.py): CIFAR-10 without prepared data and without a
network exits 2 in seconds with one line."""

import time

from rc_darts_tf import data
from tests.helpers import error_lines, run_entry


def test_cifar10_offline_exits_2_quickly_with_one_line(tmp_path):
  """No prepared data and no network (the probe host refuses): exit 2 in seconds, one line."""
  start = time.monotonic()
  result = run_entry("rc_darts_tf.cli.data", "--dataset=cifar10",
                     f"--data_dir={tmp_path / 'tfds'}", env={data.PROBE_ENV: "127.0.0.1:9"})
  elapsed = time.monotonic() - start
  assert result.returncode == 2, result.stderr
  lines = error_lines(result.stderr)
  assert len(lines) == 1, lines
  assert "cifar10 is not prepared" in lines[0] and "network is unreachable" in lines[0]
  assert "--data_dir" in lines[0] and "imagefolder:PATH" in lines[0]
  assert elapsed < 30

