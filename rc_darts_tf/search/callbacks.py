"""Keras callbacks of the search: projection schedule, genotype per epoch, TensorBoard extras.

All per-step work stays in the traced train_step; these run between steps, in Python, and call
only functions that are traced once (the projection) or cheap reads of θ.
"""

import os
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from rc_darts_tf import costs, ops
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
    self.step = int(state.get("step", 0))
    self.history = list(state.get("history", []))

  def on_train_batch_end(self, batch, logs=None):
    self.step += 1
    due = self.step >= self.warmup and (self.step - self.warmup) % self.interval == 0
    if not due or not self.model.projection.active:
      return
    projection = self.model.projection
    lam = float(projection.lam.numpy())
    before = self.model.phi().numpy()
    iters, phi, feasible = self.model.project()
    record = {"step": self.step, "lambda": lam, "iterations": int(iters),
              "feasible": bool(feasible),
              **{f"phi_{r}_before": float(before[k]) for k, r in enumerate(costs.RESOURCES)},
              **{f"phi_{r}": float(phi[k]) for k, r in enumerate(costs.RESOURCES)}}
    self.history.append(record)
    if self.writer is not None:
      with self.writer.as_default(step=self.step):
        tf.summary.scalar("projection/lambda", lam)
        tf.summary.scalar("projection/iterations", int(iters))
        tf.summary.scalar("projection/feasible", float(bool(feasible)))
        for k, resource in enumerate(costs.RESOURCES):
          tf.summary.scalar(f"phi/{resource}_before_projection", float(before[k]))
          tf.summary.scalar(f"phi/{resource}_after_projection", float(phi[k]))
    if self.verbose:
      print(f"\n  projection at step {self.step}: {int(iters)} iterations, λ={lam:.3g}, "
            + ", ".join(f"Φ_{r} {costs.fmt_count(before[k])} -> {costs.fmt_count(phi[k])}"
                        for k, r in enumerate(costs.RESOURCES))
            + (" (feasible)" if bool(feasible) else " (NOT feasible yet)"))


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
    self.phi_history = []     # (step, Φ params, Φ MACs)
    self.theta_history = []   # (epoch, softmax θ cells [G, 14, 8])

  def get_state(self) -> dict:
    """What a checkpoint keeps of the monitor (JSON): the step and the histories."""
    return {"step": self.step, "phi_history": [list(r) for r in self.phi_history],
            "theta_history": [[e, np.asarray(p).tolist()] for e, p in self.theta_history]}

  def set_state(self, state: dict) -> None:
    self.step = int(state.get("step", 0))
    self.phi_history = [tuple(r) for r in state.get("phi_history", [])]
    self.theta_history = [(int(e), np.asarray(p, np.float32))
                          for e, p in state.get("theta_history", [])]

  def on_train_batch_end(self, batch, logs=None):
    self.step += 1
    if self.step % self.every:
      return
    phi = self.model.phi().numpy()
    self.phi_history.append((self.step, *[float(v) for v in phi]))
    if self.writer is not None:
      with self.writer.as_default(step=self.step):
        for k, resource in enumerate(costs.RESOURCES):
          tf.summary.scalar(f"phi/{resource}", float(phi[k]))
          bound = self.bounds.get(resource)
          if bound is not None and bound.low is not None:
            tf.summary.scalar(f"phi/{resource}_low", bound.low)
          if bound is not None and bound.high is not None:
            tf.summary.scalar(f"phi/{resource}_high", bound.high)
        for name in ("loss", "acc", "arch_loss", "arch_acc"):
          if logs and name in logs:
            tf.summary.scalar(f"step/{name}", float(logs[name]))

  def current_genotype(self):
    model = self.model
    theta = model.theta_cells.numpy()
    conn = model.theta_connection.numpy() if model.learn_connection else None
    genotype = derive.derive(theta, conn, model.levels)
    phi = model.phi().numpy()
    phi = {r: phi[k] for k, r in enumerate(costs.RESOURCES)}
    eq1 = derive.describe(genotype, self.plan, self.bounds, phi, self.settings)
    if not self.fit_budget or eq1.meta["within_budget"] in (None, True):
      eq1.meta["derivation"] = "eq1"
      return eq1
    repaired, changes = derive.fit_to_budget(eq1, theta, conn, model.cost_tables, self.bounds)
    repaired = derive.describe(repaired, self.plan, self.bounds, phi, self.settings)
    repaired.meta["derivation"] = "eq1+fit_to_budget"
    repaired.meta["budget_changes"] = changes
    repaired.meta["eq1"] = {"genotype": {k: v for k, v in eq1.to_json_dict().items()
                                         if k != "meta"},
                            "exact_cost": eq1.meta["exact_cost"]}
    return repaired

  def on_epoch_end(self, epoch, logs=None):
    model = self.model
    probs = tf.nn.softmax(tf.convert_to_tensor(model.theta_cells), axis=-1).numpy()
    self.theta_history.append((epoch + 1, probs))
    if self.writer is not None:
      with self.writer.as_default(step=epoch + 1):
        for g in range(probs.shape[0]):
          group = "reduce" if g == model.levels else f"normal_level{g}"
          for o, op in enumerate(ops.PRIMITIVES):
            tf.summary.histogram(f"theta_softmax/{group}/{op}", probs[g, :, o])
        if model.learn_connection:
          conn = tf.nn.softmax(tf.convert_to_tensor(model.theta_connection)).numpy()
          for o, op in enumerate(ops.CONNECTION_PRIMITIVES):
            tf.summary.scalar(f"theta_softmax/connection/{op}", float(conn[o]))
        for k, v in (logs or {}).items():
          tf.summary.scalar(f"epoch/{k}", float(v))
      self.writer.flush()
    genotype = self.current_genotype()
    genotype.meta["epoch"] = epoch + 1
    save_genotype(genotype, os.path.join(self.output_dir, f"genotype_epoch_{epoch + 1:03d}.json"))

  def save_histories(self, path):
    """Φ over steps and θ-softmax per epoch, for plots (npz, atomic)."""
    tmp = f"{path}.tmp{os.getpid()}.npz"
    np.savez(tmp, phi=np.array(self.phi_history, np.float64).reshape(-1, 1 + len(costs.RESOURCES)),
             theta_epochs=np.array([e for e, _ in self.theta_history], np.int32),
             theta_softmax=np.array([p for _, p in self.theta_history], np.float32))
    os.replace(tmp, path)
