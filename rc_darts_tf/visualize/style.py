"""Picture style shared by every figure: op colours (by family) and line styles from the search
space, DARTS's node colours, the matplotlib setup (Agg) and `save_figure` (PNG + SVG, atomic)."""

import os
from typing import List, Sequence

from rc_darts_tf import costs, io_utils, search_space

FORMATS = ("png", "svg")
DPI = 150
NUM_NODES = costs.NUM_NODES
# The θ columns' order, families, line styles and captions: the search space's (search_space.py).
CELL_PRIMITIVES = search_space.DEFAULT.primitives
CONNECTION_PRIMITIVES = search_space.DEFAULT.connection_primitives

# One colour per op family (the search space's Okabe-Ito palette); line style tells the ops of
# one family apart.
FAMILY_COLORS = search_space.FAMILY_COLORS
OP_STYLES = {name: (op.family, op.linestyle)
             for space in search_space.SPACES.values() for name, op in space.all_ops().items()}
# DARTS's figure colours: inputs darkseagreen2, intermediate nodes lightblue, output
# palegoldenrod.
NODE_COLORS = {"input": "#B4EEB4", "node": "#ADD8E6", "output": "#EEE8AA"}
CONNECTION_TEXT = {
    **{op.name: op.text for space in search_space.SPACES.values() for op in space.connection_ops},
    None: "ReLU → 1×1 conv → BN  (FactorizedReduce on $c_{k-2}$ after a reduction cell)",
}


def op_family(op: str) -> str:
  """'sep_conv', 'dil_conv', 'pool', 'skip', 'none' or 'conv' (unknown ops: 'conv')."""
  return OP_STYLES.get(op, ("conv", "-"))[0]


def op_color(op: str) -> str:
  """The colour of `op`'s family (hex)."""
  return FAMILY_COLORS[op_family(op)]


def op_linestyle(op: str) -> str:
  """The Matplotlib line style of `op` (search_space's op record; unknown ops: '-')."""
  return OP_STYLES.get(op, ("conv", "-"))[1]


def _plt():
  """pyplot on the Agg backend (no display needed); imported on first use."""
  import matplotlib
  matplotlib.use("Agg", force=True)
  import matplotlib.pyplot as plt
  return plt


def _style():
  """rc settings of every picture: readable sizes, SVG text kept as text, reproducible SVG."""
  import matplotlib
  return matplotlib.rc_context({
      "font.family": "DejaVu Sans", "font.size": 10, "axes.titlesize": 10.5,
      "axes.labelsize": 10, "legend.fontsize": 9, "xtick.labelsize": 8.5,
      "ytick.labelsize": 8.5, "svg.fonttype": "none", "svg.hashsalt": "rc-darts-tf",
      "axes.spines.top": False, "axes.spines.right": False,
  })


def save_figure(fig, base: str, formats: Sequence[str] = FORMATS) -> List[str]:
  """Write `fig` to base.png and base.svg (each atomically, io_utils.atomic_path), close it and
  return the paths."""
  plt = _plt()
  paths = []
  directory = os.path.dirname(os.path.abspath(base))
  os.makedirs(directory, exist_ok=True)
  try:
    # a constrained layout is computed once and frozen (it would otherwise run per format);
    # every figure here is laid out to fit its canvas, so no tight bounding box is needed
    if fig.get_layout_engine() is not None:
      with _style():
        fig.canvas.draw()
      fig.set_layout_engine("none")
    for fmt in formats:
      path = f"{base}.{fmt}"
      metadata = {"Date": None} if fmt == "svg" else {"Software": "rc-darts-tf"}
      with io_utils.atomic_path(path) as tmp, _style():   # SVG text as text, fixed hash salt
        fig.savefig(tmp, format=fmt, dpi=DPI, metadata=metadata, facecolor="white")
      paths.append(path)
  finally:
    plt.close(fig)
  return paths
