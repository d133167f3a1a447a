"""rc_darts_tf/search/loop.py: the search's own loop runs every step of every epoch through one
traced step function, prints a progress line every report_freq steps and at each epoch's end,
hands each step's logs to on_step, and refuses an inconsistent checkpoint position before any
step. (Its checkpoints and the non-finite stop end to end: tests/cli/test_search_resume.py;
under MirroredStrategy: tests/test_distribute.py.)"""

import math
import re

import pytest

from rc_darts_tf.search import loop as loop_lib
from tests.search.conftest import EPOCHS, STEPS_PER_EPOCH


def test_every_step_runs_once_through_one_trace(tiny_search_run):
  loop = tiny_search_run["loop"]
  assert tiny_search_run["inputs"].steps_per_epoch == STEPS_PER_EPOCH
  assert loop.global_step == EPOCHS * STEPS_PER_EPOCH
  assert loop.epochs_done == EPOCHS
  assert loop.tracing_count == 1
  # on_step saw each global step once, with the step's logs (the finiteness flag taken out)
  steps = tiny_search_run["steps_seen"]
  assert [s for s, _ in steps] == list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))
  assert all(names == sorted(loop_lib.LOG_NAMES) for _, names in steps)
  # the epoch's running sums are cleared once the epoch is over
  assert loop.state()["epoch_sums"] == {} and loop.state()["epoch_count"] == 0


def test_progress_lines_every_report_freq_steps_and_per_epoch(tiny_search_run):
  lines = tiny_search_run["printed"].splitlines()
  step_lines = [re.match(r"  epoch (\d)/2 step (\d)/3 \(global (\d)\): loss ", line)
                for line in lines if line.startswith("  epoch")]
  # report_freq = 2: in-epoch step 2, and step 3 because it ends the epoch
  assert [tuple(int(g) for g in m.groups()) for m in step_lines] == [
      (1, 2, 2), (1, 3, 3), (2, 2, 5), (2, 3, 6)]
  epoch_lines = [line for line in lines if line.startswith("epoch ")]
  assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"]
  for line in epoch_lines:
    assert "Φ_params" in line and "Eq. 1 network" in line and "τ " in line
    assert "Φ_latency_ms " in line and " ms (Eq. 1 network " in line     # priced: shown in ms
  assert len(lines) == len(step_lines) + len(epoch_lines)


def test_an_inconsistent_position_is_refused_before_any_step(tiny_search_run):
  run = tiny_search_run
  loop = loop_lib.SearchLoop(run["model"], run["loop"].strategy, run["inputs"], epochs=3,
                             projection=run["projection"], monitor=run["monitor"], out=None)
  loop.global_step, loop.epochs_done = 1, 2     # step 1 cannot be inside epoch 3
  with pytest.raises(RuntimeError, match="inconsistent checkpoint: step 1, epoch 2"):
    loop.run()
  assert loop.tracing_count == 0


def test_non_finite_error_names_the_step_the_epoch_and_the_checkpoint():
  error = loop_lib.NonFiniteError(7, 2, {"loss": math.nan, "arch_loss": 1.25, "acc": 0.5}, None)
  assert (error.step, error.epoch) == (7, 2)
  assert str(error) == ("non-finite loss or θ at step 7 (epoch 2; loss=nan, arch_loss=1.25): "
                        "stopped; no checkpoint had been written yet")
  kept = loop_lib.NonFiniteError(3, 1, {"loss": math.inf}, "/run/checkpoints/ckpt-2")
  assert str(kept).endswith("loss=inf): stopped; the last good checkpoint "
                            "/run/checkpoints/ckpt-2 is kept")
