"""Exact-budget derivation (derive.solve_budget, a MILP solved by HiGHS): wall time per solve over
random (θ, bounds) cases of the study's space (3 levels + connection, 8 cells, C = 16, 16 × 16),
the same cases as tests/search/test_derive.py. One JSON line.

  python benchmarks/derive_budget.py [--cases=200]
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rc_darts_tf import costs  # noqa: E402
from rc_darts_tf.budget import Bounds  # noqa: E402
from rc_darts_tf.search import derive  # noqa: E402
from tests.test_derive_budget import _random_feasible_bounds  # noqa: E402


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--cases", type=int, default=200)
  args = p.parse_args()
  plan = costs.network_plan(16, 8, 3, "cifar", 16, 10)
  tables = costs.cost_tables(plan, True)
  derive.check_feasible(tables, {"params": Bounds(None, 1e9), "macs": None})   # loads HiGHS
  rng = np.random.default_rng(1)
  wall, cpu = [], []
  for _ in range(args.cases):
    tau = rng.choice([1.0, 0.3])
    theta = rng.normal(0, rng.choice([0.05, 1.0, 3.0]), (4, 14, 8))
    conn = rng.normal(0, 1.0, 4)
    bounds = _random_feasible_bounds(rng, plan, tables)
    t0, c0 = time.perf_counter(), time.process_time()
    derive.solve_budget(theta, conn, tables, bounds, temperature=tau)
    wall.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
  print(json.dumps({
      "benchmark": "derive_budget", "cases": args.cases,
      "binaries": int(tables.cells.shape[1] * 14 * 7 + tables.connection.shape[1]),
      "wall_ms_median": round(1000 * float(np.median(wall)), 1),
      "wall_ms_p90": round(1000 * float(np.percentile(wall, 90)), 1),
      "wall_ms_max": round(1000 * max(wall), 1),
      "cpu_ms_max": round(1000 * max(cpu), 1), "cpu_count": os.cpu_count()}))


if __name__ == "__main__":
  main()
