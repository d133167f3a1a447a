"""rc-darts-plot (rc_darts_tf/cli/plot.py): one-line errors without writing, and the
pictures of a named genotype."""

import os

from tests.helpers import error_lines, run_entry
from tests.pictures import write_search_dir


def assert_one_line_error(result, *fragments):
  lines = error_lines(result.stderr)
  assert result.returncode == 2, (result.returncode, result.stderr)
  assert len(lines) == 1, lines
  # the program name: rc-darts-plot, as a console script and under python -m rc_darts_tf.cli.plot
  assert lines[0].split(": error: ")[0] == "rc-darts-plot", lines
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])


def test_entry_point_refuses_bad_input_without_writing(tmp_path):
  missing = tmp_path / "nope"
  assert_one_line_error(run_entry("rc_darts_tf.cli.plot", f"--search_dir={missing}"),
                        "does not exist")
  assert not missing.exists()

  empty = tmp_path / "empty"
  empty.mkdir()
  assert_one_line_error(run_entry("rc_darts_tf.cli.plot", f"--search_dir={empty}"),
                        "no genotype.json")
  assert os.listdir(empty) == []

  corrupt = write_search_dir(tmp_path / "corrupt", levels=1, epochs=1)
  with open(os.path.join(corrupt, "search_history.npz"), "r+b") as f:
    f.truncate(100)
  before = sorted(os.listdir(corrupt))
  assert_one_line_error(run_entry("rc_darts_tf.cli.plot", f"--search_dir={corrupt}"),
                        "search_history.npz", "corrupt")
  assert sorted(os.listdir(corrupt)) == before

  assert_one_line_error(run_entry("rc_darts_tf.cli.plot"), "exactly one of")
  assert_one_line_error(run_entry("rc_darts_tf.cli.plot", "--genotype=DARTS_V2"),
                        "--output_dir")


def test_entry_point_draws_a_named_genotype(tmp_path):
  out = tmp_path / "cells"
  result = run_entry("rc_darts_tf.cli.plot", "--genotype=DARTS_V2", f"--output_dir={out}")
  assert result.returncode == 0, result.stderr
  # (matplotlib may log a font-cache notice on a fresh machine; nothing may look like a failure)
  assert not any("Traceback" in line or "error" in line.lower()
                 for line in error_lines(result.stderr)), result.stderr
  assert "wrote 6 files" in result.stdout
  assert sorted(os.listdir(out)) == sorted(f"{n}.{e}" for n in ("cell_normal", "cell_reduce",
                                                                 "connection")
                                           for e in ("png", "svg"))
  bad = run_entry("rc_darts_tf.cli.plot", "--genotype=DARTS_V3", f"--output_dir={out}x")
  assert_one_line_error(bad, "DARTS_V3")
  assert not os.path.exists(f"{out}x")

