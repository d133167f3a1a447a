"""Genotype: DARTS strings, JSON files, the registry, and one-line errors for bad genotypes."""

import json
import os

import pytest

from rc_darts_tf import genotype as gt
from rc_darts_tf.errors import GenotypeError

DARTS_V2 = gt.REGISTRY["DARTS_V2"]


def test_darts_string_round_trip():
  g = gt.from_darts_string(DARTS_V2)
  assert g.levels == 1 and g.connection is None
  assert g.normal[0][7] == ("dil_conv_3x3", 2) and g.reduce[0] == ("max_pool_3x3", 0)
  assert g.to_darts_string() == DARTS_V2


def test_range_concat_is_accepted():
  text = DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
  assert gt.from_darts_string(text).normal_concat == (2, 3, 4, 5)


def test_json_round_trip_with_levels_connection_and_meta(tmp_path):
  base = gt.from_darts_string(DARTS_V2)
  g = gt.Genotype(normal=[base.normal[0], base.reduce[:4] + base.normal[0][4:], base.normal[0]],
                  reduce=base.reduce, connection="group_conv_1x1_g2",
                  meta={"budget": {"params": "1:2"}, "phi": {"params": 1.5}})
  path = tmp_path / "g.json"
  gt.save(g, str(path))
  loaded = gt.load(str(path))
  assert loaded == g and loaded.levels == 3
  assert json.loads(path.read_text())["format_version"] == gt.FORMAT_VERSION


def test_resolve_file_string_and_name(tmp_path):
  path = tmp_path / "g.json"
  gt.save(gt.from_darts_string(DARTS_V2), str(path))
  assert gt.resolve(str(path)) == gt.resolve("DARTS_V2") == gt.resolve(DARTS_V2)
  assert gt.resolve("DARTS_V1").normal[0][0] == ("sep_conv_3x3", 1)
  with pytest.raises(GenotypeError, match="known names: DARTS, DARTS_V1, DARTS_V2"):
    gt.resolve("NASNet")


@pytest.mark.parametrize("mutate, fragment", [
    (lambda s: s.replace("('dil_conv_3x3', 2)", "('conv_9x9', 2)"), "unknown op 'conv_9x9'"),
    (lambda s: s.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
                         "('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)", 1),
     "input 3 of pair 0 is out of range: node 0 accepts inputs 0..1"),
    (lambda s: s.replace(", ('dil_conv_3x3', 2)]", "]"), "has 7 (op, input) pairs, expected 8"),
    (lambda s: s.replace("Genotype(normal=", "Genotype(normal=__import__('os').system('echo hi') "
                         "or "), "must be a literal list"),
    (lambda s: s.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[7]"),
     "reduce_concat=[7] must be a non-empty list of nodes 2..5"),
    (lambda s: "Genotype(normal=", "not a Genotype(...) string"),
])
def test_bad_darts_strings(mutate, fragment):
  with pytest.raises(GenotypeError) as info:
    gt.from_darts_string(mutate(DARTS_V2))
  assert fragment in str(info.value) and "\n" not in str(info.value)


def test_bad_json_files(tmp_path):
  good = tmp_path / "good.json"
  gt.save(gt.from_darts_string(DARTS_V2), str(good))
  text = good.read_text()
  cases = {
      "truncated.json": (text[:len(text) // 2], "is not valid JSON"),
      "notjson.json": ("hello", "is not valid JSON"),
      "version.json": (text.replace('"format_version": 1', '"format_version": 99'),
                       "format_version 99 is not supported"),
      "badop.json": (text.replace('"dil_conv_3x3"', '"dil_conv_9x9"'), "unknown op 'dil_conv_9x9'"),
      "conn.json": (text.replace('"connection": null', '"connection": "conv_3x3"'),
                    "unknown connection op 'conv_3x3'"),
  }
  for name, (content, fragment) in cases.items():
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(GenotypeError) as info:
      gt.load(str(path))
    assert fragment in str(info.value) and str(path) in str(info.value), name
  with pytest.raises(GenotypeError, match="does not exist"):
    gt.load(str(tmp_path / "missing.json"))


def test_failed_save_keeps_the_old_file(tmp_path):
  path = tmp_path / "g.json"
  gt.save(gt.from_darts_string(DARTS_V2), str(path))
  before = path.read_text()
  bad = gt.from_darts_string(DARTS_V2)
  bad.meta["not_serialisable"] = object()
  with pytest.raises(TypeError):
    gt.save(bad, str(path))
  assert path.read_text() == before
  assert os.listdir(tmp_path) == ["g.json"]
