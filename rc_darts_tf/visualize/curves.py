"""Curves over a search and a study: Φ per resource against its bounds (`phi_figure`), softmax(θ)
per edge over epochs (`theta_figure`), accuracy against size per arm (`study_figure`)."""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from rc_darts_tf import costs, resources
from rc_darts_tf.visualize.style import (
    CELL_PRIMITIVES, NUM_NODES, _plt, _style, op_color, op_linestyle)


def _count_formatter(resource: str = "params"):
  from matplotlib.ticker import FuncFormatter
  if not resources.get(resource).integer:
    return FuncFormatter(lambda v, _: f"{v:.3g}")
  return FuncFormatter(lambda v, _: costs.fmt_count(v) if v else "0")


def phi_columns(width: int) -> Tuple[str, ...]:
  """The resources of a search_history 'phi' array `width` columns wide: [n, 1 + M] or
  [n, 2 + 2M] with M = len(costs.RESOURCES), or M = 2 (params, MACs) for searches written before
  latency was a resource. ValueError for another width."""
  for m in (len(costs.RESOURCES), 2):
    if width in (1 + m, 2 + 2 * m):
      return costs.RESOURCES[:m]
  raise ValueError(f"a 'phi' history is [steps, 1 + M] or [steps, 2 + 2M] wide, got {width}")


def shown_resources(phi: np.ndarray, bounds) -> Tuple[str, ...]:
  """The resources a picture of `phi` shows: params and MACs always, another (latency) when it
  is bounded or its Φ is not all zeros (it was priced)."""
  names = phi_columns(phi.shape[-1])
  return tuple(r for k, r in enumerate(names)
               if resources.get(r).table == "formula" or (bounds or {}).get(r) is not None
               or np.any(phi[:, 1 + k] != 0))


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
  phi = np.asarray(phi, np.float64)
  try:
    m = len(phi_columns(phi.shape[-1] if phi.ndim == 2 else -1))
  except ValueError:
    m = len(costs.RESOURCES)
    phi = phi.reshape(-1, 1 + m)
  eq1_line = phi[:, 1 + m:1 + 2 * m] if phi.shape[1] == 2 + 2 * m else None
  panels = shown_resources(phi, bounds)
  bounds = bounds or {}
  projections = list(projections)
  steps = phi[:, 0]
  known = [float(s) for s in steps] + [float(p["step"]) for p in projections]
  last = max(known) if known else 1.0
  proj_color = "#7B3294"
  with _style():
    fig, axes = plt.subplots(len(panels), 1, sharex=True, layout="constrained",
                             figsize=(8.0, 2.6 * len(panels) + 0.7))
    handles = {}
    for ax, resource in zip(np.atleast_1d(axes), panels):
      k = costs.RESOURCES.index(resource)
      short = resources.get(resource).short
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
          text = f"{short(low)} – {short(high)}"
        elif high is not None:
          text = f"≤ {short(high)}"
        else:
          text = f"≥ {short(low)}"
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
      ax.yaxis.set_major_formatter(_count_formatter(resource))
      ax.set_ylabel({"params": "parameters", "macs": "multiply-adds (MACs)",
                     "latency_ms": "latency (ms)"}.get(resource, resource))
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
