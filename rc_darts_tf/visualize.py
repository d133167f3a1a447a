"""Pictures of a search: derived cells as graphs, Φ against its bounds, θ-softmax per edge.

matplotlib only (Agg backend; no graphviz), PNG and SVG for every picture (SVG keeps its text as
text, so op names can be searched and copied). Colours follow op families throughout: separable
convs blue, dilated convs vermilion, pooling green, skip grey, 'none' light grey, the connection's
1x1 / group convs purple (Okabe-Ito colours, readable with colour-blindness).

  write_genotype_pictures(genotype, out_dir)   every cell of a genotype (each normal level, the
                                               reduce cell) and its connection op
  plot_search_dir(search_dir)                  everything above plus Φ and θ-softmax pictures of
                                               a search output directory, into search_dir/pictures

Figure builders return a matplotlib Figure (`cell_figure`, `connection_figure`, `phi_figure`,
`theta_figure`, and `study_figure`: accuracy against size of retrained networks per arm, used by
scripts/results_study.py); `save_figure` writes one as PNG + SVG atomically. The library never
reads FLAGS; `rc-darts-plot` (plot_main.py) is the command-line front end.

Files written (`<name>.png` and `<name>.svg` each):
  cell_normal            the normal cell (one level), or cell_normal_level0, _level1, ...
  cell_reduce            the reduction cell
  connection             the connection op that preprocesses each cell's two inputs
  phi                    Φ per resource over the search steps, budget band, projection events
  theta_normal, theta_reduce   softmax(θ) per edge over epochs (theta_normal_level0, ... per level)
"""

import dataclasses
import json
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from rc_darts_tf import costs, io_utils, search_space
from rc_darts_tf.errors import RcDartsError

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


# ---------------------------------------------------------------------------------------------
# Cells as graphs


def _state_label(state: int) -> str:
  return {0: "$c_{k-2}$", 1: "$c_{k-1}$"}.get(state, str(state - 2))


def _cell_layout(cell, concat):
  """Positions of the 7 states: inputs left, intermediate nodes by depth (longest path from the
  inputs), output right. Returns ({state: (x, y)}, output position, number of ranks)."""
  depth = {0: 0, 1: 0}
  for j in range(NUM_NODES):
    depth[j + 2] = 1 + max(depth[i] for _, i in cell[2 * j:2 * j + 2])
  ranks = max(depth.values())
  dy = 1.55
  pos = {0: (0.0, 0.85), 1: (0.0, -0.85)}
  for r in range(1, ranks + 1):
    members = [s for s in range(2, 2 + NUM_NODES) if depth[s] == r]
    # order by the mean height of the predecessors (fewer crossings), then by index
    def bary(s):
      j = s - 2
      return -np.mean([pos[i][1] for _, i in cell[2 * j:2 * j + 2]])
    members.sort(key=lambda s: (bary(s), s))
    for k, s in enumerate(members):
      pos[s] = (_rank_x(r), (len(members) - 1) / 2 * dy - k * dy)
  out = (_rank_x(ranks + 1), 0.0)
  return pos, out, ranks


def _rank_x(rank: int) -> float:
  """x of a rank: the first gap (where most edges start) is wider."""
  return 0.0 if rank == 0 else 4.0 + 3.2 * (rank - 1)


def _bezier(p0, p1, rad, t):
  """matplotlib's arc3 connection: quadratic Bézier through the control point midpoint +
  rad · (dy, −dx) (same in data and display units when the aspect is equal)."""
  (x0, y0), (x1, y1) = p0, p1
  cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
  return ((1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t ** 2 * x1,
          (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t ** 2 * y1)


def _hits_box(p0, p1, rad, boxes, skip):
  for t in np.linspace(0.08, 0.92, 30):
    x, y = _bezier(p0, p1, rad, t)
    for key, (bx, by, hw, hh) in boxes.items():
      if key not in skip and abs(x - bx) < hw + 0.12 and abs(y - by) < hh + 0.12:
        return True
  return False


def cell_figure(cell: Sequence[Tuple[str, int]], concat: Sequence[int] = (2, 3, 4, 5),
                title: Optional[str] = None):
  """A derived cell as a DARTS-style graph: inputs c_{k-2}, c_{k-1} left, intermediate nodes
  0..3, output c_{k} right; one arrow per (op, input) pair labelled with the op and coloured by
  its family; grey dashed arrows from the concatenated nodes to the output. Returns the Figure."""
  plt = _plt()
  from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
  cell = [(str(op), int(i)) for op, i in cell]
  pos, out, ranks = _cell_layout(cell, concat)
  sizes = {"input": (0.5, 0.3), "node": (0.32, 0.3), "output": (0.5, 0.3)}
  nodes = [(0, pos[0], _state_label(0), "input"), (1, pos[1], _state_label(1), "input")]
  nodes += [(s, pos[s], _state_label(s), "node") for s in range(2, 2 + NUM_NODES)]
  nodes.append(("out", out, "$c_{k}$", "output"))
  boxes = {key: (xy[0], xy[1], *sizes[kind]) for key, xy, _, kind in nodes}
  # route: straight when the line misses every other node, else the least bent arc that does
  edges = [(i, k // 2 + 2, op, pos[i], pos[k // 2 + 2]) for k, (op, i) in enumerate(cell)]
  edges += [(s, "out", None, pos[s], out) for s in concat]
  seen, routed = {}, []
  for src, dst, op, p0, p1 in edges:
    n = seen.get((src, dst), 0)
    seen[(src, dst)] = n + 1
    candidates = [0.0, 0.12, -0.12, 0.22, -0.22, 0.32, -0.32, 0.45, -0.45]
    if n:                                             # a repeated (src, dst): bend it apart
      candidates = [c for c in candidates if c != 0.0][n - 1:] or [0.3 * n]
    rad = next((r for r in candidates if not _hits_box(p0, p1, r, boxes, {src, dst})),
               candidates[0])
    routed.append((src, dst, op, p0, p1, rad))
  curve_y = [_bezier(p0, p1, rad, t)[1] for *_, p0, p1, rad in routed
             for t in np.linspace(0, 1, 21)]
  y_lo = min(min(curve_y), min(y - hh for _, y, _, hh in boxes.values())) - 0.45
  y_hi = max(max(curve_y), max(y + hh for _, y, _, hh in boxes.values())) + 0.45
  x_hi = _rank_x(ranks + 1) + 0.8
  with _style():
    scale = 0.78                                         # inches per data unit
    title_h = 0.4 if title else 0.0
    fig_h = (y_hi - y_lo) * scale + title_h
    fig = plt.figure(figsize=((x_hi + 0.8) * scale, fig_h))
    ax = fig.add_axes([0, 0, 1, 1 - title_h / fig_h])
    ax.set_xlim(-0.8, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
      fig.suptitle(title, fontsize=12, fontweight="bold", y=0.995, va="top")
    patches = {}
    for key, xy, text, kind in nodes:
      _, _, hw, hh = boxes[key]
      patches[key] = FancyBboxPatch((xy[0] - hw, xy[1] - hh), 2 * hw, 2 * hh,
                                    boxstyle="round,pad=0.02,rounding_size=0.12",
                                    fc=NODE_COLORS[kind], ec="#333333", lw=1.2, zorder=3)
      ax.add_patch(patches[key])
      ax.text(xy[0], xy[1], text, ha="center", va="center", fontsize=12, zorder=4)
    for src, dst, op, p0, p1, rad in routed:
      color = op_color(op) if op else "#8C8C8C"
      ax.add_patch(FancyArrowPatch(
          p0, p1, patchA=patches[src], patchB=patches[dst], connectionstyle=f"arc3,rad={rad}",
          arrowstyle="-|>", mutation_scale=13, lw=1.8 if op else 1.2, color=color,
          linestyle="-" if op else (0, (4, 3)), zorder=2, shrinkA=1, shrinkB=1))

    # labels: horizontal, on the arrow, at the first position along it that overlaps no node and
    # no other label (measured with the renderer)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    taken = [patches[key].get_window_extent(renderer).expanded(1.04, 1.1) for key in patches]
    samples = {}                                      # points along each edge, display units
    for n, (_, _, _, p0, p1, rad) in enumerate(routed):
      pts = [_bezier(p0, p1, rad, t) for t in np.linspace(0.0, 1.0, 60)]
      samples[n] = ax.transData.transform(pts)
    order = sorted((n for n, e in enumerate(routed) if e[2]),
                   key=lambda n: -math.dist(routed[n][3], routed[n][4]))
    for n in order:
      src, dst, op, p0, p1, rad = routed[n]
      best = None
      for t in (0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73, 0.2, 0.8):
        x, y = _bezier(p0, p1, rad, t)
        label = ax.text(x, y, op, ha="center", va="center", fontsize=9, color=op_color(op),
                        zorder=5, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none",
                                            alpha=0.92))
        extent = label.get_window_extent(renderer).expanded(1.08, 1.25)
        area = sum(_overlap(extent, other) for other in taken)
        # covering another edge makes it unclear which edge the label names
        crossed = sum(int(np.any((pts[:, 0] > extent.x0) & (pts[:, 0] < extent.x1) &
                                 (pts[:, 1] > extent.y0) & (pts[:, 1] < extent.y1)))
                      for m, pts in samples.items() if m != n)
        overlap = (area > 0, crossed, area)
        if best is None or overlap < best[0]:
          if best is not None:
            best[1].remove()
          best = (overlap, label, extent)
        else:
          label.remove()
        if overlap == (False, 0, 0):
          break
      taken.append(best[2])
  return fig


def _overlap(a, b) -> float:
  w = min(a.x1, b.x1) - max(a.x0, b.x0)
  h = min(a.y1, b.y1) - max(a.y0, b.y0)
  return w * h if w > 0 and h > 0 else 0.0


def connection_figure(connection: Optional[str], probs: Optional[Sequence[float]] = None,
                      note: Optional[str] = None):
  """The connection op: how a cell's two inputs are made from the two previous cells' outputs
  (the genotype's connection op, or DARTS's fixed 1x1 preprocessing when None), with what the op
  does; `probs` (softmax θ_connection, CONNECTION_PRIMITIVES order) adds a bar per candidate,
  `note` a line under the bars."""
  plt = _plt()
  from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
  name = connection or "fixed 1×1 (DARTS)"
  with _style():
    # heights in inches: title, diagram, then (optional) bars, their axis label and the note
    title_h, diagram_h = 0.45, 2.75
    bars_h = 0.0 if probs is None else 1.4 + 0.75 + (0.3 if note else 0.0)
    height = title_h + diagram_h + bars_h
    fig = plt.figure(figsize=(7.4, height))
    ax = fig.add_axes([0, bars_h / height, 1, diagram_h / height])
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 3.2)
    ax.axis("off")
    fig.suptitle(f"connection op: {name}", fontsize=12, fontweight="bold",
                 y=1 - 0.1 / height, va="top")
    color = op_color(connection) if connection else "#505050"

    def box(x, y, w, text, fc, ec="#333333", fontsize=11, textcolor="black"):
      patch = FancyBboxPatch((x - w / 2, y - 0.32), w, 0.64,
                             boxstyle="round,pad=0.02,rounding_size=0.12", fc=fc, ec=ec, lw=1.2)
      ax.add_patch(patch)
      ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=textcolor)
      return patch

    for y, prev, state in ((2.3, "output of cell k−2", "$c_{k-2}$"),
                           (1.1, "output of cell k−1", "$c_{k-1}$")):
      a = box(1.45, y, 2.5, prev, "#F2F2F2", fontsize=9.5)
      b = box(5.0, y, 2.9, name, "white", ec=color, fontsize=9.5, textcolor=color)
      c = box(8.4, y, 1.1, state, NODE_COLORS["input"], fontsize=12)
      for p, q in ((a, b), (b, c)):
        ax.add_patch(FancyArrowPatch(patchA=p, patchB=q, posA=_center(p), posB=_center(q),
                                     arrowstyle="-|>", mutation_scale=12, color=color, lw=1.6))
    caption = CONNECTION_TEXT.get(connection, connection)
    if connection is not None:
      caption += "\n(stride 2 on $c_{k-2}$ when the previous cell is a reduction cell)"
    ax.text(5.0, 0.3, caption, ha="center", va="center", fontsize=9, color="#333333",
            style="italic", linespacing=1.5)
    if probs is not None:
      bottom = 0.75 + (0.3 if note else 0.0)
      bx = fig.add_axes([0.3, bottom / height, 0.62, 1.4 / height])
      probs = np.asarray(probs, float)
      names = list(CONNECTION_PRIMITIVES)[:len(probs)]
      bars = bx.barh(range(len(probs)), probs, color=[op_color(n) for n in names], height=0.6)
      for bar, n in zip(bars, names):
        bar.set_alpha(1.0 if n == connection else 0.45)
      bx.set_yticks(range(len(probs)), names)
      bx.invert_yaxis()
      bx.set_xlim(0, max(1e-9, float(probs.max())) * 1.25)
      bx.set_xlabel("softmax(θ_connection) at the end of the search")
      if note:
        fig.text(0.5, 0.12 / height, note, ha="center", va="bottom", fontsize=9,
                 color="#333333", style="italic")
      for k, p in enumerate(probs):
        bx.text(p, k, f" {p:.3f}", va="center", fontsize=8.5)
  return fig


def _center(patch):
  x, y, w, h = patch.get_x(), patch.get_y(), patch.get_width(), patch.get_height()
  return (x + w / 2, y + h / 2)


def group_name(group: int, levels: int) -> str:
  """Human name of θ group `group`: 'normal', 'normal level 1', 'reduce'."""
  if group == levels:
    return "reduce"
  return "normal" if levels == 1 else f"normal level {group}"


def _group_file(group: int, levels: int) -> str:
  if group == levels:
    return "reduce"
  return "normal" if levels == 1 else f"normal_level{group}"


def write_genotype_pictures(genotype, out_dir: str, connection_probs=None,
                            connection_note: Optional[str] = None) -> List[str]:
  """Draw every cell of `genotype` (each normal level, the reduce cell) and its connection op
  into `out_dir` as PNG + SVG: cell_normal[_levelN], cell_reduce, connection. Returns the paths."""
  paths = []
  levels = genotype.levels
  for g in range(levels + 1):
    cell = genotype.reduce if g == levels else genotype.normal[g]
    concat = genotype.reduce_concat if g == levels else genotype.normal_concat
    title = "reduction cell" if g == levels else (
        "normal cell" if levels == 1 else f"normal cell, level {g} (of {levels})")
    paths += save_figure(cell_figure(cell, concat, title),
                         os.path.join(out_dir, f"cell_{_group_file(g, levels)}"))
  paths += save_figure(connection_figure(genotype.connection, connection_probs, connection_note),
                       os.path.join(out_dir, "connection"))
  return paths


# ---------------------------------------------------------------------------------------------
# Φ against its bounds


def _count_formatter():
  from matplotlib.ticker import FuncFormatter
  return FuncFormatter(lambda v, _: costs.fmt_count(v) if v else "0")


def phi_figure(phi: np.ndarray, bounds: Optional[Dict[str, object]] = None,
               projections: Sequence[dict] = (), exact: Optional[Dict[str, float]] = None,
               eq1_exact: Optional[Dict[str, float]] = None):
  """Φ per resource (one panel each) over search steps.

  phi          [n, 1 + M] (step, Φ per resource) or [n, 2 + 2M] (step, Φ per resource, exact
               cost of the Eq. 1 network per resource, τ), search_history.npz "phi"; the Eq. 1
               network's exact cost is drawn as a second line
  bounds       {resource: budget.Bounds or None}; the allowed range is shaded (absent: no band)
  projections  ProjectionSchedule records ({"step", "phi_<r>_before", "phi_<r>", ...}): a grey
               line at each step and Φ before (hollow) -> after (filled) markers
  exact        exact cost of the derived network ({resource: value}), a star at the last step;
  eq1_exact    that of Eq. 1's argmax network when the exact-budget derivation changed it, a cross.
  """
  plt = _plt()
  from matplotlib.lines import Line2D
  from matplotlib.patches import Patch
  m = len(costs.RESOURCES)
  phi = np.asarray(phi, np.float64)
  phi = phi.reshape(-1, phi.shape[-1] if phi.ndim == 2 and phi.shape[-1] in (1 + m, 2 + 2 * m)
                    else 1 + m)
  eq1_line = phi[:, 1 + m:1 + 2 * m] if phi.shape[1] == 2 + 2 * m else None
  bounds = bounds or {}
  projections = list(projections)
  steps = phi[:, 0]
  known = [float(s) for s in steps] + [float(p["step"]) for p in projections]
  last = max(known) if known else 1.0
  proj_color = "#7B3294"
  with _style():
    fig, axes = plt.subplots(len(costs.RESOURCES), 1, sharex=True, layout="constrained",
                             figsize=(8.0, 2.6 * len(costs.RESOURCES) + 0.7))
    handles = {}
    for k, (ax, resource) in enumerate(zip(np.atleast_1d(axes), costs.RESOURCES)):
      values = phi[:, 1 + k]
      shown = list(values) + (list(eq1_line[:, k]) if eq1_line is not None else [])
      b = bounds.get(resource)
      low = getattr(b, "low", None)
      high = getattr(b, "high", None)
      shown += [v for v in (low, high) if v is not None]
      for p in projections:
        shown += [p.get(f"phi_{resource}_before"), p.get(f"phi_{resource}")]
      for e in (exact, eq1_exact):
        if e and e.get(resource) is not None:
          shown.append(float(e[resource]))
      shown = [float(v) for v in shown if v is not None and np.isfinite(v)]
      lo, hi = (min(shown), max(shown)) if shown else (0.0, 1.0)
      pad = 0.08 * (hi - lo) if hi > lo else 0.1 * max(abs(hi), 1.0)
      ylo, yhi = lo - pad, hi + pad
      if low is not None or high is not None:
        band_lo = low if low is not None else ylo
        band_hi = high if high is not None else yhi
        ax.axhspan(band_lo, band_hi, color="#1B9E77", alpha=0.13, lw=0, zorder=0)
        for v in (low, high):
          if v is not None:
            ax.axhline(v, color="#1B9E77", lw=1.1, ls="--", zorder=2)    # above the grid
        if low is not None and high is not None:
          text = f"{costs.fmt_count(low)} – {costs.fmt_count(high)}"
        elif high is not None:
          text = f"≤ {costs.fmt_count(high)}"
        else:
          text = f"≥ {costs.fmt_count(low)}"
        handles["band"] = Patch(fc="#1B9E77", alpha=0.3, ec="#1B9E77", ls="--",
                                label="budget (allowed range)")
        ax.set_title(f"budget {text}", loc="right", fontsize=9, color="#11694F", pad=3)
      else:
        ax.set_title("no budget (unconstrained)", loc="right", fontsize=9, color="#666666",
                     pad=3)
      ax.plot(steps, values, color="#0072B2", lw=1.8, marker="o" if len(values) <= 30 else None,
              ms=3.2, zorder=3)
      handles["phi"] = Line2D([], [], color="#0072B2", lw=1.8, label="Φ (expected cost)")
      if eq1_line is not None:
        ax.plot(steps, eq1_line[:, k], color="#D55E00", lw=1.3, ls="-", alpha=0.9,
                drawstyle="steps-post", zorder=3)
        handles["eq1_line"] = Line2D([], [], color="#D55E00", lw=1.3,
                                     label="Eq. 1 network now (exact cost)")
      ms = 5 if len(projections) <= 40 else 3
      for p in projections:
        step = float(p["step"])
        ax.axvline(step, color=proj_color, alpha=0.25, lw=0.8, zorder=1)
        before, after = p.get(f"phi_{resource}_before"), p.get(f"phi_{resource}")
        if before is not None and after is not None:
          ax.plot([step, step], [before, after], color=proj_color, lw=1.4, zorder=4)
          ax.plot([step], [before], "o", mfc="white", mec=proj_color, ms=ms, zorder=5)
          ax.plot([step], [after], "o", color=proj_color, ms=ms, zorder=5)
      if projections:
        handles["proj"] = Line2D([], [], color=proj_color, lw=1.4, marker="o", ms=5,
                                 mfc=proj_color, label="projection: Φ before (○) → after (●)")
      if exact and exact.get(resource) is not None:
        ax.plot([last], [exact[resource]], "*", color="#E69F00", mec="#8A5A00", ms=13, zorder=6)
        handles["exact"] = Line2D([], [], ls="", marker="*", color="#E69F00", mec="#8A5A00",
                                  ms=12, label="derived network (exact cost)")
      if eq1_exact and eq1_exact.get(resource) is not None:
        ax.plot([last], [eq1_exact[resource]], "X", color="#555555", ms=8, zorder=6)
        handles["eq1"] = Line2D([], [], ls="", marker="X", color="#555555", ms=8,
                                label="Eq. 1 network before the exact-budget derivation")
      ax.set_ylim(ylo, yhi)
      ax.yaxis.set_major_formatter(_count_formatter())
      ax.set_ylabel({"params": "parameters", "macs": "multiply-adds (MACs)"}.get(resource,
                                                                              resource))
      ax.grid(axis="y", color="#E5E5E5", lw=0.8)
    ax.set_xlabel("search step")
    ax.xaxis.get_major_locator().set_params(integer=True)
    if len(steps) + len(projections) <= 1:
      ax.set_xlim(0, last * 1.1 + 1)
    fig.suptitle("Expected cost Φ over the search", fontsize=12, fontweight="bold")
    order = [handles[k] for k in ("phi", "eq1_line", "band", "proj", "exact", "eq1")
             if k in handles]
    fig.legend(handles=order, loc="outside lower center", ncol=min(3, len(order)), frameon=False)
  return fig


# ---------------------------------------------------------------------------------------------
# θ-softmax per edge


def _edge_name(i: int) -> str:
  return {0: "$c_{k-2}$", 1: "$c_{k-1}$"}.get(i, f"node {i - 2}")


def theta_figure(epochs: Sequence[int], probs: np.ndarray, title: str,
                 kept: Optional[Sequence[Tuple[str, int]]] = None,
                 primitives: Sequence[str] = CELL_PRIMITIVES):
  """softmax(θ) of one group over epochs: a panel per edge (row = node, column = input), a line
  per op, one legend. probs [epochs, 14, ops]. `kept`: the derived cell's 8 (op, input) pairs;
  kept edges get a frame in their op's colour and 'kept: op' in the title."""
  plt = _plt()
  from matplotlib.lines import Line2D
  epochs = np.asarray(epochs, np.float64).reshape(-1)
  probs = np.asarray(probs, np.float64)
  kept_at = {}
  if kept is not None:
    for k, (op, i) in enumerate(kept):
      kept_at[(k // 2, int(i))] = op
  lo = float(np.min(probs)) if probs.size else 0.0
  hi = float(np.max(probs)) if probs.size else 1.0
  pad = max(0.05 * (hi - lo), 0.01)
  ylim = (max(0.0, lo - pad), min(1.0, hi + pad))
  markers = len(epochs) <= 12
  with _style():
    # fixed margins rather than a layout engine: 15 axes make constrained layout slow
    fig = plt.figure(figsize=(13.0, 9.6))
    grid = fig.add_gridspec(NUM_NODES, NUM_NODES + 1, left=0.06, right=0.995, top=0.9,
                            bottom=0.06, hspace=0.62, wspace=0.07)
    first = None
    for e, (j, i) in enumerate(costs.EDGES):
      ax = fig.add_subplot(grid[j, i], sharex=first, sharey=first)
      first = first or ax
      for o, op in enumerate(primitives):
        ax.plot(epochs, probs[:, e, o], color=op_color(op), ls=op_linestyle(op),
                lw=1.5 if op != "none" else 1.2, marker="o" if markers else None, ms=2.8)
      ax.axhline(1.0 / len(primitives), color="#BBBBBB", lw=0.8, ls="-.", zorder=0)
      ax.set_ylim(*ylim)
      if len(epochs) == 1:
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
      ax.xaxis.get_major_locator().set_params(integer=True)
      op = kept_at.get((j, i))
      name = f"{_edge_name(i)} → node {j}"
      if op is not None:
        ax.set_title(f"{name}\nkept: {op}", fontsize=9.5, fontweight="bold", color=op_color(op))
        for spine in ax.spines.values():
          spine.set_visible(True)
          spine.set_color(op_color(op))
          spine.set_linewidth(2.0)
      else:
        ax.set_title(f"{name}\n", fontsize=9.5, color="#333333")
      if i == 0:
        ax.set_ylabel("softmax weight")
      if j == NUM_NODES - 1 or i == j + 1:
        ax.set_xlabel("epoch")
      ax.tick_params(labelleft=i == 0)
      ax.grid(color="#EEEEEE", lw=0.7)
    legend_ax = fig.add_subplot(grid[0, 2:])
    legend_ax.axis("off")
    handles = [Line2D([], [], color=op_color(op), ls=op_linestyle(op), lw=2, label=op)
               for op in primitives]
    handles.append(Line2D([], [], color="#BBBBBB", ls="-.", lw=1,
                          label=f"uniform (1/{len(primitives)})"))
    legend_ax.legend(handles=handles, loc="center", ncol=3, frameon=False, fontsize=10,
                     title="op", title_fontproperties={"weight": "bold", "size": 10})
    fig.suptitle(title, fontsize=13, fontweight="bold", y=0.985)
  return fig


# ---------------------------------------------------------------------------------------------
# Retrained networks of a study (scripts/results_study.py)


ARM_STYLE = {"rc": ("#0072B2", "o", "RC-DARTS at the budget"),
             "darts": ("#D55E00", "s", "DARTS (first order), width fitted to the budget"),
             "random": ("#999999", "^", "random genotypes, width fitted to the budget")}


def study_figure(rows: Sequence[Dict[str, object]], budget_params=None, resource="params"):
  """Test accuracy against exact `resource` (params or macs) of retrained networks, one marker
  per run, one colour per arm ("rc", "darts", "random"; others get matplotlib's defaults), the
  arm's mean as a short bar. `budget_params` (a budget.Bounds or None) shades the allowed range
  when `resource` is params. Rows: {"arm", resource, "test_accuracy"} (accuracy in [0, 1])."""
  plt = _plt()
  with _style():
    fig, ax = plt.subplots(figsize=(6.4, 5.2), layout="constrained")
    arms = list(dict.fromkeys(str(r["arm"]) for r in rows))
    for arm in arms:
      group = [r for r in rows if r["arm"] == arm]
      color, marker, label = ARM_STYLE.get(arm, (None, "o", arm))
      xs = np.array([float(r[resource]) for r in group])
      ys = np.array([100.0 * float(r["test_accuracy"]) for r in group])
      runs = f"{len(group)} run" + ("" if len(group) == 1 else "s")
      ax.scatter(xs, ys, c=color, marker=marker, s=42, label=f"{label} ({runs})",
                 edgecolors="black", linewidths=0.5, zorder=3)
      ax.hlines(ys.mean(), xs.min() - 0.02 * xs.mean(), xs.max() + 0.02 * xs.mean(),
                colors=color or "black", linewidth=1.6, zorder=2)
    if budget_params is not None and resource == "params":
      low = budget_params.low if budget_params.low is not None else ax.get_xlim()[0]
      high = budget_params.high if budget_params.high is not None else ax.get_xlim()[1]
      ax.axvspan(low, high, color="#009E73", alpha=0.08, zorder=0, label="params budget")
    ax.xaxis.set_major_formatter(_count_formatter())
    ax.set_xlabel("parameters (exact, DARTS convention)" if resource == "params"
                  else "multiply-accumulates (exact)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3, zorder=0)
    # below the axes, so that no run is hidden behind it
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
  return fig


# ---------------------------------------------------------------------------------------------
# A search output directory


@dataclasses.dataclass
class SearchRecord:
  """What plot_search_dir reads from a search output directory."""

  genotype: object                 # genotype.Genotype
  phi: np.ndarray                  # [n, 6]: step, Φ_params, Φ_macs, Eq. 1 params, MACs, τ
  theta_epochs: np.ndarray         # [N]: the N epochs recorded
  theta_softmax: np.ndarray        # [N, G, E, O] (G = levels + 1)
  projections: List[dict]
  bounds: Dict[str, object]        # {resource: Bounds or None}
  connection_probs: Optional[np.ndarray] = None
  space: search_space.SearchSpace = search_space.DEFAULT   # θ_softmax's columns are its ops


def _history(path: str):
  """(phi, theta_epochs, theta_softmax, space) of search_history.npz, or RcDartsError; space is
  the search space its record names (files without one: DARTS's), whose ops θ's columns are."""
  import zipfile
  where = f"search history {path}"
  if not os.path.isfile(path):
    raise RcDartsError(f"{where} does not exist (the search writes it when it ends)")
  try:
    with np.load(path, allow_pickle=False) as z:
      missing = [k for k in ("phi", "theta_epochs", "theta_softmax") if k not in z.files]
      if missing:
        raise RcDartsError(f"{where} lacks {', '.join(missing)} (not written by rc-darts-search?)")
      phi, epochs, probs = z["phi"], z["theta_epochs"], z["theta_softmax"]
      # θ's columns are the recorded space's ops (older files: DARTS's)
      space = search_space.check_record_text(
          str(z["search_space"]) if "search_space" in z.files else None, where)
  except RcDartsError:
    raise
  except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
    raise RcDartsError(f"{where} cannot be read (truncated or corrupt? "
                       f"{type(error).__name__}: {error})") from None
  m = len(costs.RESOURCES)
  columns = (1 + m, 2 + 2 * m)     # older searches: step and Φ; now also Eq. 1's cost and τ
  if phi.size == 0:
    phi = np.zeros((0, columns[1]))
  if phi.ndim != 2 or phi.shape[1] not in columns or not np.issubdtype(phi.dtype, np.number):
    raise RcDartsError(f"{where}: 'phi' has shape {phi.shape}, expected [steps, {columns[1]}] "
                       "(step, " + ", ".join(f"Φ_{r}" for r in costs.RESOURCES) + ", "
                       + ", ".join(f"Eq. 1 {r}" for r in costs.RESOURCES) + ", τ)")
  if probs.size == 0:
    probs = np.zeros((0, 1, costs.NUM_EDGES, len(space.primitives)))
    epochs = np.zeros((0,), np.int32)
  if (probs.ndim != 4 or probs.shape[2:] != (costs.NUM_EDGES, len(space.primitives))
      or epochs.shape != probs.shape[:1]):
    raise RcDartsError(f"{where}: 'theta_softmax' has shape {probs.shape} and 'theta_epochs' "
                       f"{epochs.shape}, expected [epochs, groups, {costs.NUM_EDGES}, "
                       f"{len(space.primitives)}] and [epochs]")
  if not (np.all(np.isfinite(phi)) and np.all(np.isfinite(probs))):
    raise RcDartsError(f"{where} holds non-finite values")
  return phi.astype(np.float64), epochs, probs.astype(np.float64), space


def _projections(path: str, fallback):
  if not os.path.exists(path):
    return list(fallback or [])
  try:
    with open(path, encoding="utf-8") as f:
      records = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
    raise RcDartsError(f"projections file {path} cannot be read (truncated or corrupt? "
                       f"{error})") from None
  if not isinstance(records, list) or not all(
      isinstance(r, dict) and isinstance(r.get("step"), (int, float)) for r in records):
    raise RcDartsError(f"projections file {path}: expected a JSON list of projection records "
                       "with a numeric 'step' each")
  return records


def _bounds_from_meta(meta) -> Dict[str, object]:
  from rc_darts_tf.budget import parse_bounds
  from rc_darts_tf.errors import BudgetError
  budget = meta.get("budget") or {}
  bounds = {}
  for resource in costs.RESOURCES:
    text = budget.get(resource) if isinstance(budget, dict) else None
    try:
      bounds[resource] = parse_bounds(str(text), resource) if text else None
    except BudgetError as error:
      raise RcDartsError(f"genotype.json meta.budget: {error}") from None
  return bounds


def read_search_dir(search_dir: str) -> SearchRecord:
  """Read and check genotype.json, search_history.npz, projections.json (optional; else the
  genotype's meta.projections) and theta.npz (optional: the connection's final softmax) of a
  search output directory. Raises RcDartsError (one line) on anything missing or corrupt."""
  from rc_darts_tf import genotype as genotype_lib
  if not os.path.isdir(search_dir):
    raise RcDartsError(f"search directory {search_dir} does not exist or is not a directory")
  genotype_path = os.path.join(search_dir, "genotype.json")
  if not os.path.isfile(genotype_path):
    raise RcDartsError(f"search directory {search_dir} has no genotype.json (not a finished "
                       "rc-darts-search run?)")
  phi, epochs, probs, space = _history(os.path.join(search_dir, "search_history.npz"))
  # checked before genotype.load: that validates op names, which imports TensorFlow (seconds)
  genotype = genotype_lib.load(genotype_path)
  if probs.shape[0] and probs.shape[1] != genotype.levels + 1:
    raise RcDartsError(f"search history in {search_dir} has {probs.shape[1]} θ groups but "
                       f"genotype.json has {genotype.levels} normal level(s) + reduce")
  projections = _projections(os.path.join(search_dir, "projections.json"),
                             genotype.meta.get("projections"))
  bounds = _bounds_from_meta(genotype.meta)
  connection_probs = None
  theta_path = os.path.join(search_dir, "theta.npz")
  if genotype.connection is not None and os.path.isfile(theta_path):
    try:
      with np.load(theta_path, allow_pickle=False) as z:
        conn = np.asarray(z["theta_connection"], np.float64).reshape(-1)
        search_space.check_record_text(
            str(z["search_space"]) if "search_space" in z.files else None, theta_path)
      if conn.shape == (len(CONNECTION_PRIMITIVES),) and np.all(np.isfinite(conn)):
        connection_probs = np.exp(conn - conn.max()) / np.exp(conn - conn.max()).sum()
    except search_space.SearchSpaceError:
      raise                # θ of another op order: refused, not drawn as these ops
    except Exception:  # noqa: BLE001 - the bars are optional; a bad theta.npz only drops them
      connection_probs = None
  return SearchRecord(genotype, phi, epochs, probs, projections, bounds, connection_probs, space)


def write_search_pictures(record: SearchRecord, out_dir: str) -> List[str]:
  """Every picture of a search (cells, connection, Φ, θ-softmax per group) into `out_dir`."""
  genotype = record.genotype
  note = None
  probs = record.connection_probs
  if probs is not None and CONNECTION_PRIMITIVES[int(np.argmax(probs))] != genotype.connection:
    note = (f"(θ's argmax is {CONNECTION_PRIMITIVES[int(np.argmax(probs))]}; "
            f"{genotype.connection} was chosen by the budget repair)")
  paths = write_genotype_pictures(genotype, out_dir, probs, note)
  meta = genotype.meta
  exact = meta.get("exact_cost") if isinstance(meta.get("exact_cost"), dict) else None
  eq1 = meta.get("eq1", {}).get("exact_cost") if isinstance(meta.get("eq1"), dict) else None
  if len(record.phi) or record.projections:
    paths += save_figure(phi_figure(record.phi, record.bounds, record.projections, exact,
                                    eq1 if meta.get("budget_changes") else None),
                         os.path.join(out_dir, "phi"))
  if record.theta_softmax.shape[0]:
    levels = record.theta_softmax.shape[1] - 1
    for g in range(levels + 1):
      kept = genotype.reduce if g == levels else genotype.normal[g]
      title = ("softmax(θ) per edge over the search: "
               + ("reduction cells" if g == levels else "normal cells" if levels == 1 else
                  f"normal cells of level {g} (of {levels})"))
      paths += save_figure(theta_figure(record.theta_epochs, record.theta_softmax[:, g], title,
                                        kept, record.space.primitives),
                           os.path.join(out_dir, f"theta_{_group_file(g, levels)}"))
  return paths


def plot_search_dir(search_dir: str, out_dir: Optional[str] = None) -> List[str]:
  """Read a search output directory (read_search_dir) and write all its pictures, PNG + SVG,
  into `out_dir` (default search_dir/pictures). Everything is checked before anything is
  written; pictures are drawn into a temp folder next to `out_dir` and then moved in with
  os.replace, so a reader never sees a partial file. Returns the written paths."""
  record = read_search_dir(search_dir)
  out_dir = os.path.abspath(out_dir or os.path.join(search_dir, "pictures"))
  return io_utils.write_files_atomically(out_dir, lambda tmp: write_search_pictures(record, tmp))


def plot_genotype(genotype, out_dir: str) -> List[str]:
  """write_genotype_pictures into `out_dir`, each file moved in only once fully written."""
  out_dir = os.path.abspath(out_dir)
  return io_utils.write_files_atomically(out_dir,
                                         lambda tmp: write_genotype_pictures(genotype, tmp))
