"""Flags at the entry points: a bad or unknown flag exits 2 with one line; flag files and
--helpfull. (The flag groups themselves: tests/test_flags.py.)"""

import os

from tests.helpers import error_lines, run_entry


def test_entry_point_bad_flag_exits_2_with_one_line():
  result = run_entry("rc_darts_tf.cli.data", "--batch_size=-4")
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert lines == ["rc-darts-data: error: flag --batch_size=-4: -4 is not a positive "
                   "integer"] or (len(lines) == 1 and "--batch_size=-4" in lines[0]), lines
  assert result.stdout == ""


def test_entry_point_unknown_flag_exits_2_with_one_line():
  result = run_entry("rc_darts_tf.cli.data", "--batchsize=4")
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "batchsize" in lines[0] and "error:" in lines[0], lines


def test_entry_point_flagfile_and_helpfull(tmp_path):
  flagfile = tmp_path / "bad.flags"
  flagfile.write_text("--dataset=sample\n--train_portion=2\n")
  result = run_entry("rc_darts_tf.cli.data", f"--flagfile={flagfile}")
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "--train_portion=2.0" in lines[0], lines
  result = run_entry("rc_darts_tf.cli.data", "--helpfull")
  assert result.returncode == 0
  assert "--dataset" in result.stdout and "--flagfile" in result.stdout


def test_flagfile_values_are_used(tmp_path, image_tree):
  flagfile = tmp_path / "ok.flags"
  flagfile.write_text(f"--dataset=imagefolder:{image_tree}\n--batch_size=8\n--seed=5\n"
                      "--inspect_epochs=1\n")
  result = run_entry("rc_darts_tf.cli.data", f"--flagfile={flagfile}")
  assert result.returncode == 0, result.stderr
  assert "60 images train the weights, 60 the architecture" in result.stdout
  assert "seed=5" in result.stdout and "images (8, 32, 32, 3) float32" in result.stdout
  assert os.path.exists(image_tree)

