"""rc-darts-tune (rc_darts_tf/cli/tune.py) run as a user runs it: budgeted tuning never
trains an over-budget configuration, --fit_budget, and bad input."""

import json
import os

import pytest

from rc_darts_tf import costs, network
from rc_darts_tf import genotype as genotype_lib
from tests.helpers import error_lines, run_entry


def _dataset(tree):
  return f"--dataset=imagefolder:{tree}"


def test_tune_never_trains_an_over_budget_configuration(image_tree, tmp_path):
  out = str(tmp_path / "tune")
  budget = 30_000
  result = run_entry("rc_darts_tf.cli.tune", _dataset(image_tree), "--genotype=DARTS_V2",
                     f"--budget_params=:{budget}", "--channels=4:24:4", "--layer_choices=3,4",
                     "--epochs=3", "--batch_size=16", "--max_steps_per_epoch=2",
                     "--tuner=bayesian", "--max_trials=7", f"--output_dir={out}", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  trials = json.load(open(os.path.join(out, "trials.json")))
  genotype = genotype_lib.resolve("DARTS_V2")
  assert len(trials) >= 4
  trained = [t for t in trials if t["status"] == "trained"]
  rejected = [t for t in trials if t["status"] == "rejected"]
  assert trained and rejected and len(trained) + len(rejected) == len(trials)
  for t in trials:
    v = t["values"]
    plan = network.plan_for(genotype, v["init_channels"], v["layers"], "cifar", 32, 4)
    exact = costs.genotype_cost(plan, genotype.normal, genotype.reduce, None)
    assert t["cost"] == exact.as_dict()
    if t["status"] == "trained":
      assert exact.params <= budget and 0.0 <= t["val_accuracy"] <= 1.0
    else:
      assert exact.params > budget and t["seconds"] < 0.5 and "val_accuracy" not in t
  best = json.load(open(os.path.join(out, "best.json")))
  assert best["summary"]["rejected_over_budget"] == len(rejected)
  assert best["best"]["val_accuracy"] == max(t["val_accuracy"] for t in trained)
  assert f"{len(rejected)} rejected over budget" in result.stdout
  # a rejection is one line of ours, not keras-tuner's traceback of the FailedTrialError
  assert "Traceback" not in result.stderr and "FailedTrialError" not in result.stderr


@pytest.mark.parametrize("genotype_name, connection", [("DARTS_V2", None),
                                                       ("DARTS_V2", "group_conv_1x1_g4")])
def test_fit_budget_returns_the_widest_network_inside(tmp_path, genotype_name, connection):
  genotype = genotype_lib.resolve(genotype_name)
  genotype.connection = connection
  spec = tmp_path / "g.json"
  genotype_lib.save(genotype, str(spec))
  out = str(tmp_path / "fit")
  result = run_entry("rc_darts_tf.cli.tune", "--dataset=sample", f"--genotype={spec}",
                     "--budget_params=1.5e5:3.0e5", "--budget_macs=:6.0e7", "--layers=8",
                     "--fit_budget", f"--output_dir={out}", timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  fit = json.load(open(os.path.join(out, "fit_budget.json")))
  c, step = fit["init_channels"], fit["channel_step"]
  assert step == (4 if connection else 2) and c % step == 0

  def cost(width):
    plan = network.plan_for(genotype, width, 8, "cifar", 32, 10)
    return costs.genotype_cost(plan, genotype.normal, genotype.reduce, connection)

  inside = lambda k: 1.5e5 <= k.params <= 3.0e5 and k.macs <= 6.0e7  # noqa: E731
  assert inside(cost(c)) and not inside(cost(c + step))
  assert fit["cost"] == cost(c).as_dict()
  assert f"C={c}" in result.stdout
  # the train command carries the geometry the cost was priced at
  assert f"rc-darts-train --genotype={spec} --layers=8 --init_channels={c} --image_size=32\n" in (
      result.stdout)


@pytest.mark.parametrize("args, needle", [
    ([], "budget"),
    (["--budget_params=5:1"], "--budget_params"),
    (["--budget_params=:10", "--fit_budget"], "no width"),
    (["--budget_params=:1e6", "--channels=8:4:2"], "--channels"),
])
def test_tune_bad_input_is_one_line_and_exit_2(tmp_path, args, needle):
  out = tmp_path / "tune"
  result = run_entry("rc_darts_tf.cli.tune", "--dataset=sample", *args, f"--output_dir={out}",
                     timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and needle in lines[0], lines
  assert not out.exists()



def _latency_tables(folder, widths, layers, size, classes):
  """helpers.growing_latency_table for each C of `widths`, one file each in `folder`."""
  from rc_darts_tf import latency
  from tests.helpers import growing_latency_table
  os.makedirs(folder, exist_ok=True)
  tables = {}
  for c in widths:
    table = growing_latency_table(costs.network_plan(c, layers, 1, "cifar", size, classes))
    latency.save(table, os.path.join(folder, f"c{c}_l{layers}.json"))
    tables[c] = table
  return tables


def _ms(genotype, c, layers, size, classes, table):
  plan = network.plan_for(genotype, c, layers, "cifar", size, classes)
  return costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection,
                             latency_table=table).latency_ms


def test_tune_with_a_latency_bound_trains_only_configurations_inside_it(image_tree, tmp_path):
  genotype = genotype_lib.resolve("DARTS_V2")
  folder = str(tmp_path / "tables")
  tables = _latency_tables(folder, [4, 8, 12], 3, 32, 4)
  ms = {c: _ms(genotype, c, 3, 32, 4, t) for c, t in tables.items()}
  bound = (ms[4] + ms[8]) / 2
  out = str(tmp_path / "tune")
  result = run_entry("rc_darts_tf.cli.tune", _dataset(image_tree), "--genotype=DARTS_V2",
                     f"--budget_latency_ms=:{bound:.6f}", f"--latency_table={folder}",
                     "--channels=4:12:4", "--layer_choices=3", "--epochs=1", "--batch_size=16",
                     "--max_steps_per_epoch=1", "--tuner=bayesian", "--max_trials=5",
                     f"--output_dir={out}", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  trials = json.load(open(os.path.join(out, "trials.json")))
  trained = [t for t in trials if t["status"] == "trained"]
  rejected = [t for t in trials if t["status"] == "rejected"]
  assert trained and rejected and len(trained) + len(rejected) == len(trials)
  for t in trials:
    c = t["values"]["init_channels"]
    assert t["cost"]["latency_ms"] == pytest.approx(ms[c], abs=1e-6)
    assert (t["status"] == "trained") == (ms[c] <= bound) == (c == 4)
  assert f"{ms[4]:.3f} ms: val acc" in result.stdout


def test_fit_budget_with_latency_tables_returns_the_widest_table_inside(tmp_path):
  genotype = genotype_lib.resolve("DARTS_V2")
  folder = str(tmp_path / "tables")
  tables = _latency_tables(folder, [8, 16, 24, 32], 8, 32, 10)
  ms = {c: _ms(genotype, c, 8, 32, 10, t) for c, t in tables.items()}
  assert ms[8] < ms[16] < ms[24] < ms[32]
  out = str(tmp_path / "fit")
  result = run_entry("rc_darts_tf.cli.tune", "--dataset=sample", "--genotype=DARTS_V2",
                     f"--budget_latency_ms=:{(ms[16] + ms[24]) / 2:.6f}",
                     f"--latency_table={folder}", "--layers=8", "--fit_budget",
                     f"--output_dir={out}", timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  fit = json.load(open(os.path.join(out, "fit_budget.json")))
  assert fit["init_channels"] == 16
  assert fit["cost"]["latency_ms"] == pytest.approx(ms[16], abs=1e-6)
  assert fit["one_step_wider"]["init_channels"] == 24
  assert fit["one_step_wider"]["inside"] is False
  assert "widths of the latency tables: 8, 16, 24, 32" in result.stdout
  # one table only, and the bound below it: its width is named once
  one = str(tmp_path / "c8_l8.json")
  os.rename(os.path.join(folder, "c8_l8.json"), one)
  result = run_entry("rc_darts_tf.cli.tune", "--dataset=sample", "--genotype=DARTS_V2",
                     f"--budget_latency_ms=:{ms[8] / 2:.6f}", f"--latency_table={one}",
                     "--layers=8", "--fit_budget", f"--output_dir={tmp_path / 'none'}",
                     timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  (line,) = error_lines(result.stderr)
  assert "no width of 8 cells fits the budget: C=8 costs" in line and line.count("C=8") == 1
