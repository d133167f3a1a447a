"""Genotype: DARTS strings, JSON files, the registry, atomic saves, and one-line errors for bad
genotypes."""

import json
import os

import numpy as np
import pytest

from rc_darts_tf import genotype as gt
from rc_darts_tf import genotype as genotype_lib
from rc_darts_tf import search_space
from rc_darts_tf.errors import GenotypeError
from tests.helpers import irb_genotype

DARTS_V2 = gt.REGISTRY["DARTS_V2"]
# DARTS_V2 as published in quark0/darts cnn/genotypes.py (one line there).
PUBLISHED_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def one_line_error(fn, *args, fragments=()):
  """Run fn(*args), expect a GenotypeError with a one-line message holding every fragment."""
  with pytest.raises(GenotypeError) as info:
    fn(*args)
  message = str(info.value)
  assert "\n" not in message, message
  for fragment in fragments:
    assert fragment in message, (fragment, message)
  return message


def multi_level():
  base = gt.from_darts_string(DARTS_V2)
  return gt.Genotype(normal=[base.normal[0], base.reduce[:4] + base.normal[0][4:], base.normal[0]],
                     reduce=base.reduce, normal_concat=(2, 3, 5), connection="group_conv_1x1_g2",
                     meta={"budget": {"params": "1:2"}, "phi": {"params": 1.5},
                           "warnings": ["x"], "nested": [{"a": None}]})


def test_darts_string_round_trip():
  assert DARTS_V2 == PUBLISHED_V2
  g = gt.from_darts_string(DARTS_V2)
  assert g.levels == 1 and g.connection is None and g.meta == {}
  assert g.normal[0][7] == ("dil_conv_3x3", 2) and g.reduce[0] == ("max_pool_3x3", 0)
  assert g.to_darts_string() == DARTS_V2
  assert gt.from_darts_string(gt.REGISTRY["DARTS_V1"]).to_darts_string() == gt.REGISTRY["DARTS_V1"]
  assert gt.REGISTRY["DARTS"] == DARTS_V2
  one_line_error(g.to_darts_string, 1, fragments=("level 1", "0..0"))


def test_one_line_form_reads_back_levels_and_connection():
  """to_string: the line the search prints; --genotype (resolve) gives back the same network,
  normal cells of every level and the connection op included."""
  g = multi_level()
  line = g.to_string()
  assert "\n" not in line and not g.is_darts
  back = gt.resolve(line)
  assert back.normal == g.normal and back.levels == 3 and back.reduce == g.reduce
  assert back.connection == "group_conv_1x1_g2" and back.normal_concat == (2, 3, 5)
  one_level = gt.Genotype(normal=g.normal[:1], reduce=g.reduce, connection="conv_1x1")
  back = gt.resolve(one_level.to_string())
  assert back.levels == 1 and back.connection == "conv_1x1" and back.normal == one_level.normal
  # connection=None with several levels: DARTS's fixed connection, kept as such
  fixed = gt.Genotype(normal=g.normal, reduce=g.reduce)
  assert gt.resolve(fixed.to_string()).connection is None
  assert gt.resolve(fixed.to_string()).levels == 3


def test_one_line_form_is_darts_repr_exactly_for_darts_genotypes():
  darts = gt.resolve("DARTS_V2")
  assert darts.is_darts and darts.to_string() == DARTS_V2 == darts.to_darts_string()
  g = multi_level()
  assert "connection=" in g.to_string() and "connection=" not in g.to_darts_string()
  one_line_error(gt.from_darts_string, DARTS_V2.replace(
      "reduce_concat=[2, 3, 4, 5])", "reduce_concat=[2, 3, 4, 5], connection='conv_9x9')"),
      fragments=("unknown connection op 'conv_9x9'",))
  one_line_error(gt.from_darts_string, DARTS_V2.replace(
      "reduce_concat=[2, 3, 4, 5])", "reduce_concat=[2, 3, 4, 5], connection=3)"),
      fragments=("connection=3 must be a connection op name",))


def test_search_prints_a_line_that_reads_back():
  """rc-darts-search's closing genotype lines (genotype.one_line_form): the last line is what
  --genotype reads back; it is DARTS's repr only for a DARTS network."""
  for spec, darts in ((multi_level().to_string(), False), ("DARTS_V2", True)):
    head, line = gt.one_line_form(gt.resolve(spec))
    back = gt.resolve(line)
    expected = gt.resolve(spec)
    assert (back.normal, back.reduce, back.connection) == (expected.normal, expected.reduce,
                                                           expected.connection)
    assert (line == DARTS_V2) == darts and ("DARTS's Genotype;" in head) == darts
    if not darts:
      assert "3 normal level(s)" in head and "group_conv_1x1_g2" in head


def test_registry_entries_are_valid():
  for name, text in gt.REGISTRY.items():
    g = gt.from_darts_string(text, source=name)
    assert g.levels == 1 and len(g.normal[0]) == len(g.reduce) == 8, name
  pdarts = gt.from_darts_string(gt.REGISTRY["PDARTS"])
  assert pdarts.normal[0][7] == ("dil_conv_5x5", 4) and pdarts.normal_concat == (2, 3, 4, 5)


def test_range_concat_keywords_positional_and_multiline():
  text = DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
  g = gt.from_darts_string(text)
  assert g.normal_concat == (2, 3, 4, 5) and g == gt.from_darts_string(DARTS_V2)
  positional = DARTS_V2.replace("normal=", "").replace("normal_concat=", "").replace(
      "reduce=", "").replace("reduce_concat=", "")
  assert gt.from_darts_string(positional) == g
  multiline = DARTS_V2.replace("), (", "),\n    (").replace("], ", "],\n  ")
  assert gt.from_darts_string("\n" + multiline + "\n") == g


def test_json_round_trip_with_levels_connection_and_meta(tmp_path):
  g = multi_level().validate()
  path = tmp_path / "g.json"
  gt.save(g, str(path))
  loaded = gt.load(str(path))
  assert loaded == g and loaded.levels == 3 and loaded.connection == "group_conv_1x1_g2"
  assert loaded.to_darts_string(1) != loaded.to_darts_string(0)
  d = json.loads(path.read_text())
  assert d["format_version"] == gt.FORMAT_VERSION == 1
  assert d["normal"][1][0] == ["max_pool_3x3", 0] and d["normal_concat"] == [2, 3, 5]
  assert path.read_text().startswith('{\n  "format_version": 1,')
  assert gt.Genotype.from_json_dict(g.to_json_dict()) == g
  assert "level 2" in str(g) and "group_conv_1x1_g2" in str(g)


def test_save_writes_numpy_values_as_numbers(tmp_path):
  g = gt.from_darts_string(DARTS_V2)
  g.meta.update(phi=np.float32(1.5), shape=np.arange(3))
  gt.save(g, str(tmp_path / "g.json"))
  assert gt.load(str(tmp_path / "g.json")).meta == {"phi": 1.5, "shape": [0, 1, 2]}


def test_resolve_file_string_and_name(tmp_path):
  path = tmp_path / "g.json"
  gt.save(gt.from_darts_string(DARTS_V2), str(path))
  assert gt.resolve(str(path)) == gt.resolve("DARTS_V2") == gt.resolve(" " + DARTS_V2 + "\n")
  assert gt.resolve("DARTS_V1").normal[0][0] == ("sep_conv_3x3", 1)
  message = one_line_error(gt.resolve, "NASNet", fragments=(
      "'NASNet'", "known names: DARTS, DARTS_V1, DARTS_V2, PDARTS", "JSON file", "Genotype("))
  assert "did you mean" not in message
  one_line_error(gt.resolve, "darts_v2", fragments=("did you mean DARTS_V2?",))
  one_line_error(gt.resolve, str(tmp_path / "missing.json"), fragments=("does not exist",))
  one_line_error(gt.resolve, str(tmp_path), fragments=("is a directory",))


@pytest.mark.parametrize("mutate, fragments", [
    (lambda s: s.replace("('dil_conv_3x3', 2)", "('conv_9x9', 2)"),
     ("unknown op 'conv_9x9'", "known: max_pool_3x3, avg_pool_3x3, skip_connect")),
    (lambda s: s.replace("('dil_conv_3x3', 2)", "('none', 2)"), ("unknown op 'none'",)),
    (lambda s: s.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
                         "('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)", 1),
     ("normal cell", "input 3 of pair 0 is out of range", "node 0 accepts inputs 0..1")),
    (lambda s: s.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', -1)"),
     ("input -1 of pair 7", "node 3 accepts inputs 0..4")),
    (lambda s: s.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 2.0)"), ("input 2.0",)),
    (lambda s: s.replace(", ('dil_conv_3x3', 2)]", "]"), ("has 7 (op, input) pairs, expected 8",)),
    (lambda s: s.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 2, 1)"),
     ("pair 7 ('dil_conv_3x3', 2, 1) is not an (op, input) pair",)),
    (lambda s: s.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[7]"),
     ("reduce_concat=[7] must be a non-empty list of distinct states 2..5",)),
    (lambda s: s.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[]"), ("reduce_concat=[]",)),
    (lambda s: s.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=range(0, 10000000000)"),
     ("reduce_concat='range(0, 10000000000)'",)),
    (lambda s: s.replace("reduce_concat=", "extra="), ("unknown Genotype field 'extra'",)),
    (lambda s: s.replace("reduce=", "normal="), ("field 'normal' is given twice",)),
    (lambda s: s.replace("Genotype(", "Foo("), ("expected Genotype(normal=[...]",)),
    (lambda s: "Genotype(normal=", ("not a Genotype(...) string",)),
    (lambda s: "Genotype(normal=[], reduce=[])", ("has 0 (op, input) pairs",)),
])
def test_bad_darts_strings(mutate, fragments):
  one_line_error(gt.from_darts_string, mutate(DARTS_V2), fragments=fragments)


@pytest.mark.parametrize("payload", [
    "Genotype(normal=__import__('os').system('touch {marker}'), reduce=[])",
    "Genotype(normal=[(open('{marker}', 'w').write('x'), 0)], reduce=[])",
    "Genotype(normal=[('sep_conv_3x3', 0)] * 8, reduce=exec('open(\"{marker}\", \"w\")'))",
    "__import__('os').system('touch {marker}')",
    "Genotype(normal=range(__import__('os').system('touch {marker}')), reduce=[])",
])
def test_code_in_darts_strings_is_rejected_unexecuted(tmp_path, payload):
  marker = tmp_path / "pwned"
  text = payload.format(marker=marker)
  message = one_line_error(gt.from_darts_string, text)
  assert not marker.exists(), message
  one_line_error(gt.resolve, text)
  assert not marker.exists()


def test_injection_message_names_the_code():
  text = "Genotype(normal=__import__('os').system('echo hi'), reduce=[])"
  one_line_error(gt.from_darts_string, text,
                 fragments=("normal= must be a literal list", "__import__('os').system('echo hi')"))


def test_bad_json_files(tmp_path):
  good = tmp_path / "good.json"
  gt.save(gt.from_darts_string(DARTS_V2), str(good))
  text = good.read_text()
  d = json.loads(text)
  cases = {
      "truncated.json": (text[:len(text) // 2], ("is not valid JSON", "truncated")),
      "notjson.json": ("hello", ("is not valid JSON",)),
      "empty.json": ("", ("is empty",)),
      "binary.json": (b"\xff\xfe\x00garbage", ("not UTF-8",)),
      "list.json": ("[1, 2]", ("expected a JSON object",)),
      "version.json": (text.replace('"format_version": 1', '"format_version": 99'),
                       ("format_version 99 is not supported",)),
      "noversion.json": (json.dumps({k: v for k, v in d.items() if k != "format_version"}),
                         ("missing key 'format_version'",)),
      "noreduce.json": (json.dumps({k: v for k, v in d.items() if k != "reduce"}),
                        ("missing key 'reduce'",)),
      "typo.json": (json.dumps({**d, "normal_conact": [2]}), ("unknown key(s) 'normal_conact'",)),
      "badop.json": (text.replace('"dil_conv_3x3"', '"dil_conv_9x9"'),
                     ("unknown op 'dil_conv_9x9'",)),
      "badindex.json": (json.dumps({**d, "reduce": [["max_pool_3x3", 5]] * 8}),
                        ("reduce cell", "input 5 of pair 0", "node 0 accepts inputs 0..1")),
      "seven.json": (json.dumps({**d, "normal": [d["normal"][0][:7]]}),
                     ("has 7 (op, input) pairs, expected 8",)),
      "nolevels.json": (json.dumps({**d, "normal": []}), ("'normal' must be a non-empty list",)),
      "conn.json": (text.replace('"connection": null', '"connection": "conv_3x3"'),
                    ("unknown connection op 'conv_3x3'", "group_conv_1x1_g2")),
      "conntype.json": (json.dumps({**d, "connection": 3}), ("connection must be an op name",)),
      "concat.json": (json.dumps({**d, "normal_concat": 5}), ("normal_concat must be a list",)),
      "dupconcat.json": (json.dumps({**d, "normal_concat": [2, 2]}), ("normal_concat=[2, 2]",)),
      "meta.json": (json.dumps({**d, "meta": "abc"}), ("meta must be a JSON object",)),
  }
  for name, (content, fragments) in cases.items():
    path = tmp_path / name
    if isinstance(content, bytes):
      path.write_bytes(content)
    else:
      path.write_text(content)
    one_line_error(gt.load, str(path), fragments=(str(path),) + fragments)
  one_line_error(gt.load, str(tmp_path / "missing.json"),
                 fragments=(str(tmp_path / "missing.json"), "does not exist"))


def test_validate_names_bad_values():
  g = gt.from_darts_string(DARTS_V2)
  assert g.validate() is g
  one_line_error(gt.Genotype(normal=[], reduce=g.reduce).validate, fragments=("levels >= 1",))
  one_line_error(gt.Genotype(normal=g.normal, reduce=g.reduce, connection="conv_5x5").validate,
                 fragments=("unknown connection op 'conv_5x5'",))
  lists = gt.Genotype(normal=[[list(p) for p in g.normal[0]]], reduce=[list(p) for p in g.reduce],
                      normal_concat=[2, 3, 4, 5], reduce_concat=range(2, 6))
  assert lists == g


def test_failed_save_keeps_the_old_file(tmp_path):
  path = tmp_path / "g.json"
  gt.save(gt.from_darts_string(DARTS_V2), str(path))
  before = path.read_text()
  bad = multi_level()
  bad.meta["settings"] = {"callback": object()}
  one_line_error(gt.save, bad, str(path),
                 fragments=(str(path), "meta['settings']['callback'] (object)"))
  invalid = gt.from_darts_string(DARTS_V2)
  invalid.reduce[0] = ("sep_conv_9x9", 0)
  one_line_error(gt.save, invalid, str(path), fragments=("unknown op 'sep_conv_9x9'",))
  assert path.read_text() == before
  assert os.listdir(tmp_path) == ["g.json"]


def test_failed_write_leaves_no_temp_file(tmp_path, monkeypatch):
  path = tmp_path / "g.json"
  gt.save(gt.from_darts_string(DARTS_V2), str(path))
  before = path.read_text()

  def failing_replace(src, dst):
    raise OSError(28, "No space left on device")

  monkeypatch.setattr(os, "replace", failing_replace)
  with pytest.raises(OSError):
    gt.save(multi_level(), str(path))
  monkeypatch.undo()
  assert path.read_text() == before
  assert os.listdir(tmp_path) == ["g.json"]


IRB = search_space.get("darts_irb")

IRB_GENOTYPE = irb_genotype()   # every IRB op on every kind of edge


def test_genotype_files_and_strings_keep_the_space(tmp_path):
  genotype = IRB_GENOTYPE.validate()
  path = tmp_path / "g.json"
  genotype_lib.save(genotype, str(path))
  assert json.loads(path.read_text())["search_space"] == IRB.record()
  assert genotype_lib.load(str(path)) == genotype
  assert genotype_lib.resolve(genotype.to_string()) == genotype   # space inferred from its ops
  with pytest.raises(genotype_lib.GenotypeError, match="unknown op 'irb_3x3_e3'"):
    genotype_lib.Genotype(normal=IRB_GENOTYPE.normal, reduce=IRB_GENOTYPE.reduce,
                          search_space="darts").validate()
