"""Derived cells as graphs (`cell_figure`), the connection op (`connection_figure`) and every cell
of a genotype written as pictures (`write_genotype_pictures`)."""

import math
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np

from rc_darts_tf.visualize.style import (
    CONNECTION_PRIMITIVES, CONNECTION_TEXT, NODE_COLORS, NUM_NODES, _plt, _style, op_color,
    save_figure)


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
