"""Pictures and search directories for the visualize and rc-darts-plot tests
(tests/visualize/, tests/cli/test_plot.py): the genotypes drawn, checks of written PNG and SVG
files, and a search output directory written as rc-darts-search writes it."""

import json
import os
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

from rc_darts_tf import genotype as genotype_lib

LEVEL_CELLS = [
    [("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("skip_connect", 0), ("sep_conv_3x3", 2),
     ("dil_conv_3x3", 1), ("sep_conv_3x3", 3), ("skip_connect", 0), ("sep_conv_3x3", 4)],
    [("max_pool_3x3", 0), ("dil_conv_5x5", 1), ("skip_connect", 1), ("avg_pool_3x3", 0),
     ("sep_conv_3x3", 2), ("skip_connect", 3), ("dil_conv_3x3", 0), ("skip_connect", 1)],
    [("avg_pool_3x3", 1), ("sep_conv_5x5", 0), ("sep_conv_3x3", 2), ("dil_conv_3x3", 1),
     ("skip_connect", 0), ("max_pool_3x3", 2), ("dil_conv_5x5", 4), ("sep_conv_3x3", 3)],
]
REDUCE = [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
          ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 1)]


def check_png(path, min_width=300, min_height=150):
  with Image.open(path) as image:
    image.verify()
  with Image.open(path) as image:
    assert image.format == "PNG"
    width, height = image.size
    assert min_width <= width <= 5000 and min_height <= height <= 5000, (path, image.size)
    pixels = np.asarray(image.convert("L"))
  assert pixels.std() > 5, f"{path} is blank"


def svg_text(path):
  """All text of an SVG file (it must parse as XML with an <svg> root)."""
  root = ET.parse(path).getroot()
  assert root.tag.endswith("svg")
  return " ".join(t for t in root.itertext())


def check_pictures(paths, names):
  """Every name has a valid PNG and SVG among `paths`; returns {name: svg text}."""
  by_name = {}
  for name in names:
    png = [p for p in paths if os.path.basename(p) == f"{name}.png"]
    svg = [p for p in paths if os.path.basename(p) == f"{name}.svg"]
    assert len(png) == 1 and len(svg) == 1, (name, paths)
    assert os.path.isfile(png[0]) and os.path.isfile(svg[0])
    check_png(png[0])
    by_name[name] = svg_text(svg[0])
  assert len(paths) == 2 * len(names), paths
  return by_name


def write_search_dir(root, levels=1, epochs=3, bounded=True, connection=None, projections=True):
  """genotype.json (genotype.save), search_history.npz (SearchMonitor.save_histories) and
  projections.json (ProjectionSchedule records, json.dumps indent 2) as rc-darts-search writes them."""
  from rc_darts_tf.budget import Bounds
  from rc_darts_tf.search import callbacks
  os.makedirs(root, exist_ok=True)
  rng = np.random.default_rng(levels * 10 + epochs)
  bounds = ({"params": Bounds(1.8e5, 2.0e5), "macs": Bounds(None, 3.3e7)} if bounded else
            {"params": None, "macs": None})
  steps_per_epoch, every = 20, 5
  monitor = callbacks.SearchMonitor(str(root), None, bounds, {}, every_n_steps=every)
  phi0 = np.array([3.0e5, 4.5e7])
  for step in range(every, epochs * steps_per_epoch + 1, every):
    phi = phi0 * (1 - 0.5 * step / (epochs * steps_per_epoch))
    monitor.phi_history.append((step, *[float(v) for v in phi]))
  theta = np.zeros((levels + 1, 14, 8))
  for epoch in range(1, epochs + 1):
    theta += rng.normal(0, 0.2, theta.shape)
    probs = np.exp(theta) / np.exp(theta).sum(-1, keepdims=True)
    monitor.theta_history.append((epoch, probs.astype(np.float32)))
  monitor.save_histories(os.path.join(root, "search_history.npz"))
  records = []
  if bounded and projections:
    for step in range(steps_per_epoch, epochs * steps_per_epoch + 1, 10):
      before = phi0 * (1 - 0.5 * step / (epochs * steps_per_epoch))
      after = before * 0.93
      records.append({"step": step, "lambda": 10.0 * 0.95 ** len(records), "iterations": 500,
                      "feasible": False, "phi_params_before": float(before[0]),
                      "phi_macs_before": float(before[1]), "phi_params": float(after[0]),
                      "phi_macs": float(after[1])})
  with open(os.path.join(root, "projections.json"), "w") as f:
    f.write(json.dumps(records, indent=2))
  normal = [LEVEL_CELLS[g % 3] for g in range(levels)]
  meta = {"settings": {"constraints": "rc" if bounded else "none", "levels": levels},
          "budget": {r: str(b) for r, b in bounds.items() if b is not None},
          "phi": {"params": 1.9e5, "macs": 3.0e7},
          "exact_cost": {"params": 185000, "macs": 31000000},
          "within_budget": True if bounded else None, "warnings": [], "derivation": "eq1",
          "epoch": epochs, "projections": records}
  genotype = genotype_lib.Genotype(normal=normal, reduce=REDUCE, connection=connection,
                                   meta=meta)
  genotype_lib.save(genotype, os.path.join(root, "genotype.json"))
  if connection is not None:
    np.savez(os.path.join(root, "theta.npz"), theta_cells=theta,
             theta_connection=np.array([0.1, 0.2, 1.5, 0.3]))
  return str(root)

