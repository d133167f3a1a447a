"""rc_darts_tf/tuning.py: exact costs of a configuration (params, MACs and, with latency tables,
ms by the table of its own geometry), the widest width inside a budget, and the HyperModel's
refusal of an over-budget configuration before anything is built."""

import types

import keras_tuner as kt
import pytest

from rc_darts_tf import budget as budget_lib
from rc_darts_tf import costs, latency, network, tuning
from rc_darts_tf import genotype as genotype_lib
from tests.helpers import growing_latency_table

GENOTYPE = genotype_lib.resolve("DARTS_V2")
SIZE, CLASSES, LAYERS = 8, 3, 5


def _plan(c, layers=LAYERS):
  return network.plan_for(GENOTYPE, c, layers, "cifar", SIZE, CLASSES)


def _tables(widths, layers=LAYERS):
  return latency.TableSet({(c, layers): growing_latency_table(costs.network_plan(
      c, layers, 1, "cifar", SIZE, CLASSES)) for c in widths})


def _exact_ms(c, tables, layers=LAYERS):
  plan = _plan(c, layers)
  return costs.genotype_cost(plan, GENOTYPE.normal, GENOTYPE.reduce, None,
                             latency_table=tables.get(c, layers)).latency_ms


def test_cost_at_prices_latency_by_the_table_of_the_configuration():
  tables = _tables([8, 12])
  ms = [tuning.cost_at(GENOTYPE, c, LAYERS, "cifar", SIZE, CLASSES, tables).latency_ms
        for c in (8, 12)]
  assert ms == [pytest.approx(_exact_ms(8, tables)), pytest.approx(_exact_ms(12, tables))]
  assert 0 < ms[0] < ms[1]
  # params and MACs are costs.py's, with or without tables; no table: latency unpriced (0)
  plain = tuning.cost_at(GENOTYPE, 12, LAYERS, "cifar", SIZE, CLASSES)
  priced = tuning.cost_at(GENOTYPE, 12, LAYERS, "cifar", SIZE, CLASSES, tables)
  assert (plain.params, plain.macs, plain.latency_ms) == (priced.params, priced.macs, 0.0)
  assert tuning.cost_at(GENOTYPE, 16, LAYERS, "cifar", SIZE, CLASSES, tables).latency_ms == 0.0


def test_widest_in_budget_scans_the_widths_of_the_tables():
  widths = [8, 12, 16, 20]
  tables = _tables(widths)
  ms = {c: _exact_ms(c, tables) for c in widths}
  assert sorted(ms.values()) == [ms[c] for c in widths]     # wider is slower
  bound = {"params": None, "macs": None,
           "latency_ms": budget_lib.Bounds(None, (ms[12] + ms[16]) / 2)}
  c, cost, wider, step = tuning.widest_in_budget(GENOTYPE, LAYERS, "cifar", SIZE, CLASSES, bound,
                                                 latency_tables=tables)
  assert (c, step) == (12, 2) and cost.latency_ms == pytest.approx(ms[12])
  assert wider[0] == 16 and wider[1].latency_ms == pytest.approx(ms[16])
  loose = {**bound, "latency_ms": budget_lib.Bounds(None, 2 * ms[20])}
  c, cost, wider, _ = tuning.widest_in_budget(GENOTYPE, LAYERS, "cifar", SIZE, CLASSES, loose,
                                              latency_tables=tables)
  assert c == 20 and wider is None              # no wider table to compare with
  tight = {**bound, "latency_ms": budget_lib.Bounds(None, ms[8] / 2)}
  c, first, stop, _ = tuning.widest_in_budget(GENOTYPE, LAYERS, "cifar", SIZE, CLASSES, tight,
                                              latency_tables=tables)
  assert c is None and first[0] == 8 and stop[0] == 8
  with pytest.raises(ValueError, match="no latency table of 8 cells"):
    tuning.widest_in_budget(GENOTYPE, 8, "cifar", SIZE, CLASSES, bound, latency_tables=tables)


def test_widest_in_budget_without_tables_steps_past_the_widest():
  bound = {"params": budget_lib.Bounds(None, 20_000), "macs": None, "latency_ms": None}
  c, cost, (c1, wider), step = tuning.widest_in_budget(GENOTYPE, LAYERS, "cifar", SIZE, CLASSES,
                                                       bound)
  assert c1 == c + step and cost.params <= 20_000 < wider.params


def _hypermodel(bounds, tables):
  source = types.SimpleNamespace(image_size=SIZE, num_classes=CLASSES)
  return tuning.BudgetHyperModel(GENOTYPE, source, bounds,
                                 tuning.HyperSpace(8, 16, 4, [LAYERS]), 1, 1,
                                 latency_tables=tables)


def _hp(c):
  hp = kt.HyperParameters()
  hp.Fixed("init_channels", c)
  hp.Fixed("layers", LAYERS)
  return hp


def test_build_refuses_a_configuration_over_the_latency_bound_or_without_a_table():
  tables = _tables([8, 12])
  bounds = {"params": None, "macs": None,
            "latency_ms": budget_lib.Bounds(None, (_exact_ms(8, tables) +
                                                   _exact_ms(12, tables)) / 2)}
  model = _hypermodel(bounds, tables)
  with pytest.raises(kt.errors.FailedTrialError, match="over budget: C=12"):
    model.build(_hp(12))
  assert model.current["status"] == "rejected"
  assert model.current["cost"]["latency_ms"] == pytest.approx(_exact_ms(12, tables), abs=1e-6)
  with pytest.raises(kt.errors.FailedTrialError, match="no latency table for C=16"):
    model.build(_hp(16))
  trainer = model.build(_hp(8))
  assert trainer.exact_cost.latency_ms == pytest.approx(_exact_ms(8, tables))
