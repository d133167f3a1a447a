"""The search's training loop: one code path for every tf.distribute strategy.

Keras's `model.fit` cannot run the search under MultiWorkerMirroredStrategy (Keras 3.15), so the
search runs its own loop:
  * one tf.function `step(batch)`, traced once, runs `SearchNetwork.search_step` on every replica
    (`strategy.run`): gradients of w and θ are averaged over the replicas, every replica applies
    the same update;
  * between steps, in Python and in cross-replica context: the projection schedule (phase II, so
    θ is projected once and every replica holds the same θ), the monitor (Φ per step, genotype per
    epoch, TensorBoard), progress lines, the non-finite check and checkpoints;
  * every `checkpoint_steps` global steps and at every epoch end, a checkpoint
    (search/checkpoint.py); a restarted run restores the newest one and continues with the same
    batches (search/inputs.py).
The callbacks (ProjectionSchedule, SearchMonitor) keep the Keras callback interface; the loop
calls their hooks.
"""

import sys
import time
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from rc_darts_tf import costs, resources
from rc_darts_tf import distribute as dist

LOG_NAMES = ("loss", "acc", "arch_loss", "arch_acc", *(f"phi_{r}" for r in costs.RESOURCES),
             *(f"eq1_{r}" for r in costs.RESOURCES), "feasible", "temperature")


class NonFiniteError(Exception):
  """The loss or θ stopped being finite; `step` and `epoch` name where (1-based)."""

  def __init__(self, step: int, epoch: int, logs: dict, checkpoint: Optional[str]):
    self.step, self.epoch, self.logs, self.checkpoint = step, epoch, logs, checkpoint
    what = ", ".join(f"{k}={logs[k]:.4g}" for k in ("loss", "arch_loss") if k in logs)
    kept = (f"the last good checkpoint {checkpoint} is kept" if checkpoint else
            "no checkpoint had been written yet")
    super().__init__(f"non-finite loss or θ at step {step} (epoch {epoch}; {what}): stopped; "
                     f"{kept}")


class SearchLoop:
  """The search's own training loop over a tf.distribute strategy (replaces Keras's fit).

  model: a compiled SearchNetwork; strategy: a tf.distribute strategy; inputs: the search
  inputs (search/inputs.py: steps_per_epoch, epoch(epoch, skip)); epochs: epochs in all;
  projection, monitor: the ProjectionSchedule and SearchMonitor callbacks (their model is set
  here); checkpoint: a SearchCheckpoint or None; checkpoint_steps: also checkpoint every that
  many global steps (0: only at epoch ends); writer: a tf.summary writer or None; report_freq:
  a progress line every that many steps; chief: only the chief prints; out: the stream printed
  to (None: silent); jit_compile: XLA-compile each replica's search_step.
  """

  def __init__(self, model, strategy, inputs, epochs: int, projection, monitor,
               checkpoint=None, checkpoint_steps: int = 0, writer=None, report_freq: int = 50,
               chief: bool = True, out=sys.stdout, jit_compile: bool = False):
    self.model = model
    self.strategy = strategy
    self.inputs = inputs
    self.epochs = int(epochs)
    self.projection = projection
    self.monitor = monitor
    self.checkpoint = checkpoint
    self.checkpoint_steps = int(checkpoint_steps)
    self.writer = writer
    self.report_freq = max(1, int(report_freq))
    self.chief = chief
    self.out = out
    self.jit_compile = bool(jit_compile)
    self.global_step = 0
    self.epochs_done = 0
    self.epoch_sums = {}
    self.epoch_count = 0
    self.last_checkpoint = None
    self.checkpoint_seconds = 0.0
    self.checkpoints_written = 0
    self._step_fn = None
    for callback in (projection, monitor):
      callback.set_model(model)

  # -- state ------------------------------------------------------------------------------------

  def state(self) -> dict:
    """The JSON state a checkpoint keeps: the callbacks' states and the running sums of the
    current epoch's logs (epoch_sums, epoch_count)."""
    return {"projection": self.projection.get_state(), "monitor": self.monitor.get_state(),
            "epoch_sums": self.epoch_sums, "epoch_count": self.epoch_count}

  def restore(self) -> bool:
    """Restore the newest checkpoint, if any; True when the run resumes."""
    if self.checkpoint is None:
      return False
    state = self.checkpoint.restore()
    if state is None:
      return False
    self.global_step = int(self.checkpoint.step.numpy())
    self.epochs_done = int(self.checkpoint.epoch.numpy())
    self.projection.set_state(state.get("projection", {}))
    self.monitor.set_state(state.get("monitor", {}))
    self.epoch_sums = dict(state.get("epoch_sums", {}))
    self.epoch_count = int(state.get("epoch_count", 0))
    self.last_checkpoint = self.checkpoint.latest
    return True

  def save(self):
    """Write a checkpoint at (global_step, epochs_done) (nothing without a checkpoint); adds
    the seconds taken to checkpoint_seconds."""
    if self.checkpoint is None:
      return
    started = time.perf_counter()
    self.last_checkpoint = self.checkpoint.save(self.global_step, self.epochs_done, self.state())
    self.checkpoint_seconds += time.perf_counter() - started
    self.checkpoints_written += 1

  # -- steps ------------------------------------------------------------------------------------

  def _build_step(self):
    strategy, model = self.strategy, self.model
    # --jit_compile: each replica's step (SearchNetwork.search_step) is one XLA computation, as
    # Keras's fit compiles its train step (tested on one device)
    replica_step = (tf.function(model.search_step, jit_compile=True, autograph=False)
                    if self.jit_compile else model.search_step)

    def step(batch):
      logs = strategy.run(replica_step, args=(batch,))
      return {name: dist.first_replica(strategy, value) for name, value in logs.items()}

    return tf.function(step, autograph=False, reduce_retracing=True)

  @property
  def tracing_count(self) -> int:
    """Times the step tf.function was traced (0 before `run`)."""
    return self._step_fn.experimental_get_tracing_count() if self._step_fn else 0

  def run(self, on_step: Optional[Callable[[int, dict], None]] = None):
    """Run the remaining epochs. Raises NonFiniteError (without checkpointing the bad state)."""
    steps = self.inputs.steps_per_epoch
    if self._step_fn is None:
      self._step_fn = self._build_step()
    with self.strategy.scope():
      for epoch in range(self.epochs_done, self.epochs):
        done_in_epoch = self.global_step - epoch * steps
        if done_in_epoch < 0 or done_in_epoch > steps:
          raise RuntimeError(f"inconsistent checkpoint: step {self.global_step}, epoch {epoch}")
        if done_in_epoch == 0:
          self.epoch_sums, self.epoch_count = {}, 0
        dataset = dist.distribute_dataset(self.strategy, self.inputs.epoch(epoch, done_in_epoch))
        started = time.perf_counter()
        for batch in dataset:
          logs = {k: float(v) for k, v in self._step_fn(batch).items()}
          self.global_step += 1
          in_epoch = self.global_step - epoch * steps
          if not (logs.pop("finite") == 1.0 and all(np.isfinite(list(logs.values())))):
            raise NonFiniteError(self.global_step, epoch + 1, logs, self.last_checkpoint)
          for name in LOG_NAMES:
            self.epoch_sums[name] = self.epoch_sums.get(name, 0.0) + logs[name]
          self.epoch_count += 1
          if in_epoch % self.report_freq == 0 or in_epoch == steps:
            # before the projection that may follow: the line shows Φ after the step
            self._progress(epoch, in_epoch, steps, logs, time.perf_counter() - started)
          self.projection.on_train_batch_end(in_epoch - 1, logs)
          self.monitor.on_train_batch_end(in_epoch - 1, logs)
          if not np.all(np.isfinite(self.model.theta_cells.numpy())):
            raise NonFiniteError(self.global_step, epoch + 1, logs, self.last_checkpoint)
          if (self.checkpoint_steps and self.global_step % self.checkpoint_steps == 0
              and in_epoch < steps):
            self.save()
          if on_step is not None:
            on_step(self.global_step, logs)
          if self.global_step == self.epochs * steps:
            # Phase II closes the search (the paper's loop ends with a projection): the final θ
            # is feasible whatever step the schedule last projected at.
            self.projection.finish()
        epoch_logs = {name: self.epoch_sums.get(name, 0.0) / max(1, self.epoch_count)
                      for name in LOG_NAMES}
        self.monitor.on_epoch_end(epoch, epoch_logs)
        if self.writer is not None:
          with self.writer.as_default(step=epoch + 1):
            for name, value in epoch_logs.items():
              tf.summary.scalar(f"epoch_{name}", value)
          self.writer.flush()
        self.epochs_done = epoch + 1
        self.epoch_sums, self.epoch_count = {}, 0
        self.save()
        now = self.model.phi().numpy(), self.model.eq1_cost().numpy()
        self._print(f"epoch {epoch + 1}/{self.epochs}: " + ", ".join(
            f"{k} {epoch_logs[k]:.4f}" for k in ("loss", "acc", "arch_loss", "arch_acc")) +
            ", " + ", ".join(f"Φ_{r} {resources.get(r).short(now[0][k])} (Eq. 1 network "
                             f"{resources.get(r).short(now[1][k])})"
                             for k, r in enumerate(costs.RESOURCES)
                             if r in self.model.cost_tables.priced) +
            f", τ {float(self.model.temperature()):.3g}")

  def _progress(self, epoch, in_epoch, steps, logs, seconds):
    self._print(f"  epoch {epoch + 1}/{self.epochs} step {in_epoch}/{steps} (global "
                f"{self.global_step}): loss {logs['loss']:.4f} acc {logs['acc']:.3f} arch_loss "
                f"{logs['arch_loss']:.4f}, " + ", ".join(
                    f"Φ_{r} {resources.get(r).short(logs[f'phi_{r}'])} (Eq. 1 "
                    f"{resources.get(r).short(logs[f'eq1_{r}'])})"
                    for r in self.model.cost_tables.priced if f"phi_{r}" in logs) +
                f", τ {logs['temperature']:.3g}, {seconds:.1f} s")

  def _print(self, line):
    if self.chief and self.out is not None:
      print(line, file=self.out)
      self.out.flush()
