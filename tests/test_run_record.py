"""rc_darts_tf/run_record.py: one record (run.json) and one resume rule for searches and
trainings; the files of earlier versions still resume. No TensorFlow."""

import json

import pytest

from rc_darts_tf import run_record
from rc_darts_tf.errors import RcDartsError

SETTINGS = {"epochs": 3, "seed": 2}


def _plan(out, kind="search", settings=SETTINGS, **kwargs):
  kwargs.setdefault("defaults", {})
  kwargs.setdefault("overwrite", False)
  kwargs.setdefault("markers", ("genotype.json",))
  return run_record.plan(str(out), kind, settings, **kwargs)


def test_written_record_resumes_with_the_same_settings_only(tmp_path):
  assert _plan(tmp_path) == "fresh"
  run_record.write(str(tmp_path), "search", SETTINGS, search_space={"name": "darts"})
  record = json.loads((tmp_path / "run.json").read_text())
  assert record == {"format_version": 1, "kind": "search", "settings": SETTINGS,
                    "search_space": {"name": "darts"}}
  assert _plan(tmp_path) == "resume"
  with pytest.raises(RcDartsError) as refused:
    _plan(tmp_path, settings={"epochs": 3, "seed": 6})
  assert "--seed=6 (the earlier run: 2)" in str(refused.value)
  assert _plan(tmp_path, settings={"epochs": 4}, overwrite=True) == "fresh"


def test_a_setting_newer_than_the_record_counts_as_its_default(tmp_path):
  run_record.write(str(tmp_path), "training", {"epochs": 3})
  new = {"epochs": 3, "label_smoothing": 0.0}
  assert _plan(tmp_path, "training", new, defaults={"label_smoothing": 0.0}) == "resume"
  with pytest.raises(RcDartsError, match="label_smoothing=0.1"):
    _plan(tmp_path, "training", dict(new, label_smoothing=0.1),
          defaults={"label_smoothing": 0.0})


def test_each_tool_refuses_the_other_kind(tmp_path):
  run_record.write(str(tmp_path), "search", SETTINGS)
  with pytest.raises(RcDartsError) as refused:
    _plan(tmp_path, "training")
  assert "holds a search, not a training run (run.json)" in str(refused.value)


def test_a_finished_run_has_nothing_to_resume(tmp_path):
  run_record.write(str(tmp_path), "training", SETTINGS)
  (tmp_path / "model_info.json").write_text("{}")
  with pytest.raises(RcDartsError, match="nothing to do"):
    _plan(tmp_path, "training", finished="model_info.json")


def test_markers_of_an_earlier_run_without_a_record_are_refused(tmp_path):
  (tmp_path / "genotype.json").write_text("{}")
  with pytest.raises(RcDartsError, match=r"already holds a run \(genotype.json\)"):
    _plan(tmp_path)
  assert _plan(tmp_path, chief=False) == "fresh"      # a worker writes elsewhere


@pytest.mark.parametrize("kind, name, content", [
    ("search", "search_run.json", {"format_version": 1, "settings": SETTINGS}),
    ("training", "settings.json", SETTINGS),
])
def test_records_of_earlier_versions_resume_and_are_replaced(tmp_path, kind, name, content):
  (tmp_path / name).write_text(json.dumps(content))
  record = run_record.read(str(tmp_path), kind)
  assert record["settings"] == SETTINGS and record["kind"] == kind and record["file"] == name
  assert _plan(tmp_path, kind) == "resume"
  run_record.write(str(tmp_path), kind, SETTINGS)
  assert not (tmp_path / name).exists() and (tmp_path / "run.json").exists()


def test_a_malformed_record_is_one_line_naming_the_file(tmp_path):
  (tmp_path / "run.json").write_text("{not json")
  with pytest.raises(RcDartsError) as refused:
    _plan(tmp_path)
  assert str(tmp_path / "run.json") in str(refused.value) and "\n" not in str(refused.value)
