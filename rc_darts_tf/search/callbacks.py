"""Keras callbacks of the search: projection schedule, genotype per epoch, TensorBoard extras.

All per-step work stays in the traced train_step; these run between steps, in Python, and call
only functions that are traced once (the projection) or cheap reads of θ.
"""

import os
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from rc_darts_tf import costs, io_utils, resources, search_space
from rc_darts_tf.budget import Bounds
from rc_darts_tf.genotype import save as save_genotype
from rc_darts_tf.search import derive


class ProjectionSchedule(keras.callbacks.Callback):
  """Phase II every `interval` (e_u) steps once the warm start (first, longer phase I) is over.

  Projections happen after global steps warmup, warmup + interval, warmup + 2·interval, ...
  Each one is logged to TensorBoard (Φ per resource with its bounds, λ, iterations, feasibility)
  and kept in `history` for plots.
  """

  def __init__(self, interval: int, warmup: int, writer=None, verbose: bool = False):
    super().__init__()
    self.interval = int(interval)
    self.warmup = int(warmup)
    self.writer = writer
    self.verbose = verbose
    self.step = 0
    self.history = []

  def get_state(self) -> dict:
    """What a checkpoint keeps of the schedule (JSON)."""
    return {"step": self.step, "history": self.history}

  def set_state(self, state: dict) -> None:
    """Restore what `get_state` returned (missing keys: step 0, empty history)."""
    self.step = int(state.get("step", 0))
    self.history = list(state.get("history", []))

  def on_train_batch_end(self, batch, logs=None):
    """Count the step; project (phase II) when the step is due and the projection has bounds.
    `batch` and `logs` are not used."""
    self.step += 1
    due = self.step >= self.warmup and (self.step - self.warmup) % self.interval == 0
    if due and self.model.projection.active:
      self._project()

  def finish(self):
    """The closing phase II after the last step, unless the schedule projected at that step."""
    if not self.model.projection.active:
      return
    if self.history and self.history[-1]["step"] == self.step:
      return
    self._project(final=True)

  def _project(self, final=False):
    projection = self.model.projection
    lam = float(projection.lam.numpy())
    tau = float(self.model.temperature())
    before, eq1_before = self.model.phi().numpy(), self.model.eq1_cost().numpy()
    iters, phi, feasible = (projection.finish() if final else self.model.project())
    eq1 = self.model.eq1_cost().numpy()
    eq1_feasible = bool(projection.feasible(tf.constant(eq1, tf.float32)))
    record = {"step": self.step, "lambda": lam, "temperature": tau, "iterations": int(iters),
              "feasible": bool(feasible), "eq1_feasible": eq1_feasible, "final": bool(final),
              **{f"phi_{r}_before": float(before[k]) for k, r in enumerate(costs.RESOURCES)},
              **{f"phi_{r}": float(phi[k]) for k, r in enumerate(costs.RESOURCES)},
              **{f"eq1_{r}_before": float(eq1_before[k]) for k, r in enumerate(costs.RESOURCES)},
              **{f"eq1_{r}": float(eq1[k]) for k, r in enumerate(costs.RESOURCES)}}
    self.history.append(record)
    if self.writer is not None:
      with self.writer.as_default(step=self.step):
        tf.summary.scalar("projection/lambda", lam)
        tf.summary.scalar("projection/iterations", int(iters))
        tf.summary.scalar("projection/feasible", float(bool(feasible)))
        for k, resource in enumerate(costs.RESOURCES):
          tf.summary.scalar(f"phi/{resource}_before_projection", float(before[k]))
          tf.summary.scalar(f"phi/{resource}_after_projection", float(phi[k]))
          tf.summary.scalar(f"eq1/{resource}_after_projection", float(eq1[k]))
    if self.verbose:
      print(f"\n  {'final ' if final else ''}projection at step {self.step}: {int(iters)} "
            f"iterations, τ={tau:.3g}, "
            + ", ".join(f"Φ_{r} {short(r, before[k])} -> {short(r, phi[k])} "
                        f"(Eq. 1 network {short(r, eq1_before[k])} -> {short(r, eq1[k])})"
                        for k, r in enumerate(costs.RESOURCES)
                        if r in self.model.cost_tables.priced)
            + (" (feasible" if bool(feasible) else " (NOT feasible yet")
            + ("; Eq. 1 network inside)" if eq1_feasible else "; Eq. 1 network outside)"))


def _widened(row: tuple) -> tuple:
  """A phi_history row of a checkpoint written before latency was a resource (step, Φ params,
  Φ MACs, Eq. 1 params, Eq. 1 MACs, τ) with zeros for the resources it lacks (unpriced)."""
  m = len(costs.RESOURCES)
  old = (len(row) - 2) // 2
  if len(row) == 2 + 2 * m or old >= m or len(row) != 2 + 2 * old:
    return row
  pad = (0.0,) * (m - old)
  return row[:1 + old] + pad + row[1 + old:1 + 2 * old] + pad + row[-1:]


def short(resource: str, value: float) -> str:
  """A value of `resource` for a progress line (resources.Resource.short)."""
  return resources.get(resource).short(value)


class SearchMonitor(keras.callbacks.Callback):
  """Per step: Φ per resource against its bounds (TensorBoard). Per epoch: θ-softmax histograms,
  and the genotype derived from θ, written atomically to genotype_epoch_NNN.json."""

  def __init__(self, output_dir: str, plan: costs.NetworkPlan, bounds: Dict[str, Optional[Bounds]],
               settings: dict, writer=None, every_n_steps: int = 10, fit_budget: bool = True):
    super().__init__()
    self.fit_budget = fit_budget
    self.output_dir = output_dir
    self.plan = plan
    self.bounds = bounds
    self.settings = settings
    self.writer = writer
    self.every = max(1, int(every_n_steps))
    self.step = 0
    self.phi_history = []     # (step, Φ [R], Eq. 1 cost [R], τ), R = costs.RESOURCES
    self.theta_history = []   # (epoch, softmax θ cells [G, E, O])

  def get_state(self) -> dict:
    """What a checkpoint keeps of the monitor (JSON): the step and the histories."""
    return {"step": self.step, "phi_history": [list(r) for r in self.phi_history],
            "theta_history": [[e, np.asarray(p).tolist()] for e, p in self.theta_history]}

  def set_state(self, state: dict) -> None:
    """Restore what `get_state` returned (θ histories back to float32 [G, E, O] arrays)."""
    self.step = int(state.get("step", 0))
    self.phi_history = [_widened(tuple(r)) for r in state.get("phi_history", [])]
    self.theta_history = [(int(e), np.asarray(p, np.float32))
                          for e, p in state.get("theta_history", [])]

  def on_train_batch_end(self, batch, logs=None):
    """Every `every_n_steps` steps: append (step, Φ [R], Eq. 1 cost [R], τ) to phi_history and
    write τ, Φ, the Eq. 1 cost, the bounds and the step's loss/acc/arch_loss/arch_acc from
    `logs` to TensorBoard."""
    self.step += 1
    if self.step % self.every:
      return
    phi = self.model.phi().numpy()
    eq1 = self.model.eq1_cost().numpy()
    tau = float(self.model.temperature())
    self.phi_history.append((self.step, *[float(v) for v in phi], *[float(v) for v in eq1], tau))
    if self.writer is not None:
      with self.writer.as_default(step=self.step):
        tf.summary.scalar("search/temperature", tau)
        for k, resource in enumerate(costs.RESOURCES):
          tf.summary.scalar(f"phi/{resource}", float(phi[k]))
          tf.summary.scalar(f"eq1/{resource}", float(eq1[k]))
          bound = self.bounds.get(resource)
          if bound is not None and bound.low is not None:
            tf.summary.scalar(f"phi/{resource}_low", bound.low)
          if bound is not None and bound.high is not None:
            tf.summary.scalar(f"phi/{resource}_high", bound.high)
        for name in ("loss", "acc", "arch_loss", "arch_acc"):
          if logs and name in logs:
            tf.summary.scalar(f"step/{name}", float(logs[name]))

  def current_genotype(self):
    """The genotype of the current θ at the current τ: Eq. 1, and with fit_budget, when Eq. 1's
    exact cost is outside the budget, the exact-budget derivation (derive.solve_budget); meta
    records Φ, τ, θ's decisiveness and, for a solved genotype, Eq. 1's genotype and the changes."""
    model = self.model
    theta = model.theta_cells.numpy()
    conn = model.theta_connection.numpy() if model.learn_connection else None
    edges = model.theta_edges.numpy() if model.theta_edges is not None else None
    tau = float(model.temperature())
    phi = model.phi().numpy()
    phi = {r: phi[k] for k, r in enumerate(costs.RESOURCES)}
    if self.fit_budget and any(b is not None for b in self.bounds.values()):
      eq1, final, changes, seconds = derive.derive_in_budget(theta, conn, model.cost_tables,
                                                             self.bounds, tau, theta_edges=edges)
    else:
      eq1 = final = derive.derive(theta, conn, model.levels, temperature=tau, theta_edges=edges,
                                  space=model.search_space)
      changes, seconds = [], None
    probs, conn_probs = model.softmax_weights()
    latency_table = model.cost_tables.latency_table
    phi = {r: v for r, v in phi.items() if r in model.cost_tables.priced}
    eq1 = derive.describe(eq1, self.plan, self.bounds, phi, self.settings, latency_table)
    decisiveness = derive.decisiveness(eq1, probs, conn_probs)
    if final is eq1:
      eq1.meta.update({"derivation": "eq1", "temperature": tau, "decisiveness": decisiveness})
      return eq1
    final = derive.describe(final, self.plan, self.bounds, phi, self.settings, latency_table)
    final.meta.update({
        "derivation": "eq1+exact_budget", "temperature": tau, "decisiveness": decisiveness,
        "budget_changes": changes, "milp_seconds": round(seconds, 4),
        "eq1": {"genotype": {k: v for k, v in eq1.to_json_dict().items() if k != "meta"},
                "exact_cost": eq1.meta["exact_cost"], "within_budget": eq1.meta["within_budget"]}})
    return final

  def on_epoch_end(self, epoch, logs=None):
    """Keep softmax(θ_cells / τ) [G, E, O] in theta_history, write its histograms per group and
    op (and the connection weights [K], the epoch's `logs`) to TensorBoard, and save
    `current_genotype` as genotype_epoch_NNN.json (NNN = epoch + 1) in output_dir."""
    model = self.model
    probs, conn = model.softmax_weights()
    self.theta_history.append((epoch + 1, probs))
    if self.writer is not None:
      with self.writer.as_default(step=epoch + 1):
        for g in range(probs.shape[0]):
          group = "reduce" if g == model.levels else f"normal_level{g}"
          for o, op in enumerate(model.search_space.primitives):
            tf.summary.histogram(f"theta_softmax/{group}/{op}", probs[g, :, o])
        if model.learn_connection:
          for o, op in enumerate(model.search_space.connection_primitives):
            tf.summary.scalar(f"theta_softmax/connection/{op}", float(conn[o]))
        for k, v in (logs or {}).items():
          tf.summary.scalar(f"epoch/{k}", float(v))
      self.writer.flush()
    genotype = self.current_genotype()
    genotype.meta["epoch"] = epoch + 1
    save_genotype(genotype, os.path.join(self.output_dir, f"genotype_epoch_{epoch + 1:03d}.json"))

  def save_histories(self, path):
    """For plots (npz, atomic): phi [S, 2 + 2R] = (step, Φ [R], Eq. 1 cost [R], τ) every
    `every_n_steps` steps (R = costs.RESOURCES: params, MACs, latency in ms, 0 when not priced); theta_softmax [epochs, G, E, O] = softmax(θ / τ) per epoch
    (O columns in the order of `search_space`, the space's record as JSON)."""
    # the search network's space; histories kept without one (a monitor not yet set on a model)
    # are DARTS's
    space = self.model.search_space if self.model is not None else search_space.DEFAULT
    phi = np.array(self.phi_history, np.float64)
    if phi.size == 0:
      phi = phi.reshape(0, 2 + 2 * len(costs.RESOURCES))
    with io_utils.atomic_path(path, ".npz") as tmp:
      np.savez(tmp, phi=phi,
               theta_epochs=np.array([e for e, _ in self.theta_history], np.int32),
               theta_softmax=np.array([p for _, p in self.theta_history], np.float32),
               search_space=np.array(search_space.record_text(space)))
