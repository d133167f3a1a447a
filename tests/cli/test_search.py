"""rc-darts-search (rc_darts_tf/cli/search.py) run as a user runs it: the files of a
search, budgets refused before any work, output directories it does not replace, partial
channels, and the darts_irb space with its pictures."""

import json
import os

import numpy as np
import pytest

from rc_darts_tf import costs, ops, search_space
from rc_darts_tf import genotype as genotype_lib
from rc_darts_tf.search import derive
from tests.helpers import error_lines, make_image_tree, run_entry

IRB = search_space.get("darts_irb")


@pytest.fixture(scope="module")
def tiny_tree(tmp_path_factory):
  root = tmp_path_factory.mktemp("search_tree")
  return make_image_tree(str(root), classes=3, train_per_class=16, test_per_class=2, size=16)


def test_search_main_writes_genotype_and_tensorboard(tmp_path, tiny_tree):
  out = tmp_path / "run"
  result = run_entry(
      "rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree}", f"--output_dir={out}",
      "--batch_size=8", "--epochs=2", "--init_channels=8", "--layers=5", "--levels=3",
      "--budget_params=:1e9", "--projection_interval=2", "--projection_iters=5",
      "--report_freq=1", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  for name in ("flags.txt", "genotype.json", "genotype_epoch_001.json",
               "genotype_epoch_002.json", "search_history.npz", "projections.json"):
    assert (out / name).exists(), name
  genotype = json.loads((out / "genotype.json").read_text())
  assert genotype["format_version"] == 1 and len(genotype["normal"]) == 3
  assert genotype["connection"] in ops.CONNECTION_PRIMITIVES
  meta = genotype["meta"]
  assert set(meta["exact_cost"]) == {"params", "macs"} and meta["within_budget"] is True
  assert meta["settings"]["levels"] == 3 and meta["budget"] == {"params": ":1e+09"}
  # every epoch trained: projections after steps 3 (warm start = 1 epoch of 3 steps) and 5, and
  # the closing projection after the last step (6)
  projections = json.loads((out / "projections.json").read_text())
  assert [p["step"] for p in projections] == [3, 5, 6]
  assert [p["final"] for p in projections] == [False, False, True]
  assert projections[-1]["feasible"] and projections[-1]["eq1_feasible"]
  assert "ran out of data" not in result.stderr
  events = [f for _, _, files in os.walk(out / "tensorboard") for f in files
            if f.startswith("events.out.tfevents")]
  assert len(events) >= 2
  assert "derived genotype" in result.stdout
  assert "budget :1e+09 (every network of the space is inside" in result.stdout  # a loose bound


def test_search_main_holds_a_latency_budget(tmp_path, tiny_tree):
  """--budget_latency_ms with --latency_table: a bound at 30 % of the space's latency range (a
  made-up table for the budget network) binds, and the derived network's latency as the table
  prices it is inside; the summary and the pictures show latency in ms."""
  from rc_darts_tf import latency
  from tests.helpers import fake_latency_table
  plan = costs.network_plan(4, 3, 1, "cifar", 16, 3)
  table = fake_latency_table(plan, fit=latency.Fit(0.9, 0.0, 8))
  path = str(tmp_path / "table.json")
  latency.save(table, path)
  low, high = costs.achievable_range(costs.cost_tables(plan, True, latency_table=table))[2]
  bound = low + 0.3 * (high - low)
  out = tmp_path / "run"
  result = run_entry(
      "rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree}", f"--output_dir={out}",
      "--batch_size=8", "--epochs=1", "--init_channels=4", "--layers=3", "--levels=1",
      f"--budget_latency_ms=:{bound:.6f}", f"--latency_table={path}", "--projection_interval=2",
      "--projection_iters=20", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  meta = json.loads((out / "genotype.json").read_text())["meta"]
  assert meta["budget"] == {"latency_ms": f":{float(f'{bound:.6f}'):.6g}"}
  assert meta["within_budget"] is True and 0 < meta["exact_cost"]["latency_ms"] <= bound
  genotype = genotype_lib.load(str(out / "genotype.json"))
  assert meta["exact_cost"]["latency_ms"] == pytest.approx(
      table.fit.apply(table.linear_sum(plan, genotype.normal, genotype.reduce,
                                       genotype.connection)), rel=1e-6)
  assert f"latency priced by {path}" in result.stdout
  row = [line for line in result.stdout.splitlines() if line.strip().startswith("latency_ms ")]
  assert len(row) == 1 and row[0].endswith("inside") and " ms" in row[0]
  with np.load(out / "search_history.npz") as z:
    assert z["phi"].shape[1] == 2 + 2 * len(costs.RESOURCES) and np.all(z["phi"][:, 3] > 0)


def test_search_main_refuses_bounds_outside_the_achievable_range(tmp_path, tiny_tree):
  out = tmp_path / "run"
  result = run_entry("rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree}",
                     f"--output_dir={out}", "--budget_params=10:20", "--init_channels=8",
                     "--layers=5")
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "--budget_params=10:20 cannot be met" in lines[0], lines
  assert "lie in [" in lines[0]
  assert not out.exists()  # nothing written before every check has passed


@pytest.mark.parametrize("args, fragment", [
    (["--budget_params=2e5:1e5"], "above upper bound"),
    (["--budget_macs=-1:5"], "finite number >= 0"),
    (["--budget_params=abc"], "not a number"),
    (["--constraints=rc"], "needs a budget"),
])
def test_search_main_bad_budgets_exit_2(tmp_path, args, fragment):
  result = run_entry("rc_darts_tf.cli.search", "--dataset=sample",
                     f"--output_dir={tmp_path / 'run'}", *args)
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and fragment in lines[0], lines


def test_search_main_refuses_an_output_dir_that_is_a_file(tmp_path):
  target = tmp_path / "file"
  target.write_text("x")
  result = run_entry("rc_darts_tf.cli.search", "--dataset=sample", f"--output_dir={target}",
                     "--constraints=none")
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "is not a directory" in lines[0], lines
  assert target.read_text() == "x"


def test_search_main_does_not_replace_an_earlier_run(tmp_path):
  out = tmp_path / "run"
  out.mkdir()
  (out / "genotype.json").write_text("{\"keep\": true}")
  result = run_entry("rc_darts_tf.cli.search", "--dataset=sample", f"--output_dir={out}",
                     "--constraints=none")
  assert result.returncode == 2
  assert "already holds a run" in error_lines(result.stderr)[0]
  assert (out / "genotype.json").read_text() == "{\"keep\": true}"


def test_search_main_partial_channels_records_beta(tmp_path, tiny_tree_16):
  out = tmp_path / "run"
  result = run_entry(
      "rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree_16}", f"--output_dir={out}",
      "--batch_size=4", "--epochs=1", "--init_channels=4", "--layers=3", "--levels=1",
      "--partial_channels=2", "--budget_params=:1e9", "--projection_iters=5", "--report_freq=1",
      timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert error_lines(result.stderr) == []
  saved = np.load(out / "theta.npz")
  assert saved["theta_edges"].shape == (2, costs.NUM_EDGES)
  genotype = json.loads((out / "genotype.json").read_text())
  assert genotype["meta"]["settings"]["partial_channels"] == 2
  again = derive.derive(saved["theta_cells"], saved["theta_connection"],
                        temperature=genotype["meta"]["temperature"],
                        theta_edges=saved["theta_edges"])
  assert [list(map(list, cell)) for cell in again.normal] == genotype["normal"]


def test_search_main_refuses_partial_channels_that_do_not_divide(tmp_path, tiny_tree_16):
  result = run_entry("rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree_16}",
                     f"--output_dir={tmp_path / 'run'}", "--init_channels=8",
                     "--partial_channels=3", "--budget_params=:1e9", timeout=120)
  assert result.returncode == 2
  assert error_lines(result.stderr) == [
      "rc-darts-search: error: flag --partial_channels=3: must divide --init_channels=8"]
  assert not (tmp_path / "run").exists()


def test_search_cli_with_the_irb_space_and_its_pictures(tmp_path, tiny_tree_16):
  out = tmp_path / "run"
  result = run_entry(
      "rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree_16}", f"--output_dir={out}",
      "--search_space=darts_irb", "--batch_size=4", "--epochs=1", "--init_channels=4",
      "--layers=3", "--levels=1", "--budget_params=:1e9", "--projection_iters=5",
      "--report_freq=1", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert error_lines(result.stderr) == []
  genotype = genotype_lib.load(str(out / "genotype.json"))
  assert genotype.search_space == "darts_irb"
  assert genotype.meta["settings"]["search_space"] == "darts_irb"
  with np.load(out / "theta.npz") as z:
    assert z["theta_cells"].shape == (2, costs.NUM_EDGES, 10)
    assert json.loads(str(z["search_space"])) == IRB.record()
  plot = run_entry("rc_darts_tf.cli.plot", f"--search_dir={out}", timeout=300)
  assert plot.returncode == 0, plot.stderr[-3000:]
  assert (out / "pictures" / "theta_normal.png").exists() or any(
      p.name.startswith("theta_") for p in (out / "pictures").iterdir())
  # the same directory with the DARTS space is another search: refused with one line
  again = run_entry(
      "rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree_16}", f"--output_dir={out}",
      "--batch_size=4", "--epochs=1", "--init_channels=4", "--layers=3", "--levels=1",
      "--budget_params=:1e9", "--projection_iters=5", "--report_freq=1", timeout=120)
  assert again.returncode == 2
  lines = error_lines(again.stderr)
  assert len(lines) == 1 and "--search_space=darts (the earlier run: darts_irb)" in lines[0], lines

