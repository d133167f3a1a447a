"""Sizing and tuning a genotype's network inside a hard budget (what rc-darts-tune runs).

  c, cost, wider, step = widest_in_budget(genotype, 20, "cifar", 32, 10, bounds)
  hypermodel = BudgetHyperModel(genotype, source, bounds, HyperSpace(16, 64, 8, [8, 14]), ...)
  tuner = keras_tuner.Hyperband(hypermodel, objective="val_accuracy", max_epochs=E)

Costs are costs.py's exact params/MACs (the convention of the exported files) and, with
latency tables (latency.TableSet: one table per C and number of cells), the latency in ms the
table of the configuration's geometry prices it at (costs.genotype_cost: what a search's bound
holds on); a configuration outside the budget is refused in `BudgetHyperModel.build` before any
layer is built (keras_tuner.errors.FailedTrialError, milliseconds) and so never trained.
"""

import dataclasses
import time
from typing import Dict, List, Optional

import keras_tuner as kt

from rc_darts_tf import budget as budget_lib
from rc_darts_tf import costs, search_space
from rc_darts_tf.budget import Bounds


def channel_step(genotype) -> int:
  """The step of C that keeps every layer of `genotype`'s network valid: even (factorized
  reduce, the ImageNet stem's C/2) and divisible by the connection op's groups."""
  return search_space.DEFAULT.channel_step(genotype.connection)


def cost_at(genotype, init_channels: int, layers: int, stem: str, image_size: int,
            num_classes: int, latency_tables=None) -> costs.Cost:
  """Exact params/MACs of `genotype`'s network at this geometry (costs.genotype_cost), and its
  latency in ms by the table of this (C, cells) when `latency_tables` (latency.TableSet) has one
  (latency_ms 0 otherwise). LatencyTableError when that table lacks an entry the network needs
  (measured for another search space)."""
  from rc_darts_tf import latency, network
  plan = network.plan_for(genotype, init_channels, layers, stem, image_size, num_classes)
  table = latency_tables.get(init_channels, layers) if latency_tables is not None else None
  if table is not None:
    latency.check_geometry(table, plan, what=f"C = {init_channels}, {layers} cells")
  return costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection,
                             latency_table=table)


def _over_a_high_bound(cost, bounds) -> bool:
  return any(b is not None and b.high is not None and cost.get(r) > b.high
             for r, b in bounds.items())


def widest_in_budget(genotype, layers: int, stem: str, image_size: int, num_classes: int,
                     bounds: Dict[str, Optional[Bounds]], max_channels: int = 4096,
                     latency_tables=None):
  """The widest C of `layers` cells inside `bounds`: returns (C, its Cost, (C', Cost at C') of
  the next width scanned, step), or (None, (C_first, Cost), (C_stop, Cost), step) when no C
  fits. The widths scanned are the multiples of `channel_step` up to `max_channels` or, with
  `latency_tables` (latency.TableSet, latency priced), the widths of its tables of `layers`
  cells that are such multiples (the next width is then None past the widest table). Cost grows
  with C, so the first C past an upper bound ends the scan. ValueError when `latency_tables`
  has no usable table of `layers` cells."""
  step = channel_step(genotype)
  if latency_tables is not None:
    widths = [c for c in latency_tables.widths(layers) if c % step == 0]
    if not widths:
      raise ValueError(f"no latency table of {layers} cells at a C that is a multiple of {step}"
                       f" (tables at C = {latency_tables.widths(layers) or 'none'})")
  else:
    widths = list(range(step, max_channels + 1, step))

  def at(c):
    return cost_at(genotype, c, layers, stem, image_size, num_classes, latency_tables)

  best, stop = None, None
  for k, c in enumerate(widths):
    cost = at(c)
    if budget_lib.within(cost, bounds):
      best = k
    elif _over_a_high_bound(cost, bounds):
      stop = k
      break
  if best is None:
    last = widths[stop if stop is not None else -1]
    return None, (widths[0], at(widths[0])), (last, at(last)), step
  nxt = widths[best + 1] if best + 1 < len(widths) else (
      None if latency_tables is not None else widths[best] + step)
  return (widths[best], at(widths[best]), None if nxt is None else (nxt, at(nxt)), step)


@dataclasses.dataclass
class HyperSpace:
  """What is tuned: C in [channels_low, channels_high] by channels_step, the number of cells
  from layer_choices, the learning rate log-uniform in [lr_low, lr_high], the drop-path
  probability in [0, max_drop_path] by 0.1."""
  channels_low: int
  channels_high: int
  channels_step: int
  layer_choices: List[int]
  lr_low: float = 0.01
  lr_high: float = 0.1
  max_drop_path: float = 0.3


class BudgetHyperModel(kt.HyperModel):
  """keras-tuner HyperModel of `genotype`'s network: `build` returns a compiled
  training.Trainer (SGD with momentum, cosine learning rate over `epochs` × `steps_per_epoch`,
  DARTS's weight decay and gradient clipping) or refuses a configuration outside `bounds` (or,
  with a latency bound, one that `latency_tables` (latency.TableSet) has no table for) before
  building it; `fit` adds the drop-path schedule. `current` holds the trial being built or
  trained (values, exact cost, status "rejected" / "trained", seconds) for the caller's record."""

  def __init__(self, genotype, source, bounds: Dict[str, Optional[Bounds]], space: HyperSpace,
               epochs: int, steps_per_epoch: int, stem: str = "cifar", seed: int = 2,
               learning_rate_min: float = 0.0, momentum: float = 0.9,
               weight_decay: float = 3e-4, grad_clip: float = 5.0, latency_tables=None):
    super().__init__()
    self.latency_tables = latency_tables    # latency.TableSet pricing latency, or None
    self.genotype, self.source, self.bounds, self.space = genotype, source, bounds, space
    self.epochs, self.steps_per_epoch, self.stem, self.seed = epochs, steps_per_epoch, stem, seed
    self.learning_rate_min, self.momentum = learning_rate_min, momentum
    self.weight_decay, self.grad_clip = weight_decay, grad_clip
    self.current: Dict[str, object] = {}

  def build(self, hp):
    """A compiled Trainer for the trial's values; FailedTrialError when they are over budget."""
    import keras
    from rc_darts_tf import network, training
    started = time.perf_counter()
    space = self.space
    c = hp.Int("init_channels", space.channels_low, space.channels_high,
               step=space.channels_step)
    layers = hp.Choice("layers", space.layer_choices)
    lr = hp.Float("learning_rate", space.lr_low, space.lr_high, sampling="log")
    drop = hp.Float("drop_path_prob", 0.0, space.max_drop_path, step=0.1)
    source = self.source
    cost = cost_at(self.genotype, c, layers, self.stem, source.image_size, source.num_classes,
                   self.latency_tables)
    self.current = {"values": dict(hp.values), "cost": cost.as_dict()}
    unpriced = (self.bounds.get("latency_ms") is not None and
                (self.latency_tables is None or self.latency_tables.get(c, layers) is None))
    if unpriced:   # the CLI refuses such a space at the start; a caller of the API may not
      self.current["status"] = "rejected"
      self.current["seconds"] = round(time.perf_counter() - started, 4)
      raise kt.errors.FailedTrialError(f"no latency table for C={c}, {layers} cells: latency "
                                       "cannot be bounded")
    if not budget_lib.within(cost, self.bounds):
      self.current["status"] = "rejected"
      self.current["seconds"] = round(time.perf_counter() - started, 4)
      raise kt.errors.FailedTrialError(f"over budget: C={c}, {layers} cells cost "
                                       f"{budget_lib.describe(cost, self.bounds)}")
    keras.utils.set_random_seed(self.seed)
    net = network.build_network(self.genotype, c, layers, self.stem, source.image_size,
                                source.num_classes, seed=self.seed)
    schedule = training.learning_rate_schedule("cosine", lr, self.steps_per_epoch, self.epochs,
                                               self.learning_rate_min)
    trainer = training.Trainer(net, source.num_classes, weight_decay=self.weight_decay,
                               grad_clip=self.grad_clip)
    trainer.compile(optimizer=keras.optimizers.SGD(schedule, momentum=self.momentum))
    trainer.exact_cost = cost
    trainer.drop_path_prob = drop
    return trainer

  def fit(self, hp, model, *args, **kwargs):
    """Keras fit with the drop-path schedule; records the trial as trained."""
    from rc_darts_tf import training
    # Defence in depth: build() already refused over-budget configurations.
    if not budget_lib.within(model.exact_cost, self.bounds):
      raise kt.errors.FatalError(f"internal error: over-budget configuration reached fit "
                                 f"({model.exact_cost})")
    callbacks = list(kwargs.pop("callbacks", []))
    callbacks.append(training.DropPathSchedule(model.network, model.drop_path_prob, self.epochs))
    started = time.perf_counter()
    history = model.fit(*args, callbacks=callbacks, **kwargs)
    self.current["status"] = "trained"
    self.current["seconds"] = round(time.perf_counter() - started, 1)
    self.current["epochs"] = kwargs.get("epochs")
    return history

