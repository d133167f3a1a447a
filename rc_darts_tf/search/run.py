"""One RC-DARTS search, assembled from the search modules: `rc-darts-search` and the Python API
(`rc_darts_tf.api.search`) both build, run and save a search through these functions, so a search
driven from a notebook is the command line's search.

  config = SearchConfig(epochs=5, init_channels=8, layers=5)      # defaults: the CLI's flags
  plan = budget_plan(config, source.num_classes, source.image_size)
  bounds = budget.parse_budget("1e5:1.4e5", ":7e6", "a budget")
  search = build(config, source, plan, bounds, strategy)          # SearchNetwork, compiled
  loop, monitor, projection = attach(search, "runs/search", settings)
  loop.run()
  genotype = save_results(search, loop, monitor, projection, "runs/search")

Phase I (SGD on w, Adam on θ, first order), phase II (projection every e_u steps after the warm
start) and the derivation are the RC-DARTS paper's Sec. 3 (search/supernet.py, projection.py,
derive.py); the schedule and the loop are search/callbacks.py and search/loop.py.
"""

import dataclasses
import json
import os
import time
from typing import Dict, Optional

from rc_darts_tf import costs, search_space as search_space_lib
from rc_darts_tf.budget import Bounds
from rc_darts_tf.errors import BudgetError
from rc_darts_tf.search import hparams, step_sizes


@dataclasses.dataclass
class SearchConfig:
  """The settings of a search; every default is `rc-darts-search`'s flag default (a test holds
  them equal). Units: learning rates per step, counts in steps or epochs as named. None for
  `arch_learning_rate` and `projection_lr` means "by rule" (search/step_sizes.py: the paper's
  rate scaled to the search's length), 0 for `warmup_steps` one epoch of warm start."""
  batch_size: int = 64                      # global batch (both halves)
  seed: int = 2
  learning_rate: float = 0.025              # SGD on w, cosine to learning_rate_min (DARTS)
  learning_rate_min: float = 0.001
  momentum: float = 0.9
  weight_decay: float = 3e-4
  epochs: int = 50
  init_channels: int = 16                   # C of the first cell
  layers: int = 8                           # cells; reductions at 1/3 and 2/3 depth
  grad_clip: float = 5.0
  train_portion: float = 0.5                # share of the training images in the w half
  arch_learning_rate: Optional[float] = None   # Adam on θ; None = by rule
  arch_weight_decay: float = hparams.ARCH_WEIGHT_DECAY
  levels: int = hparams.LEVELS              # k: depth groups of normal cells with their own θ
  learn_connection: bool = hparams.LEARN_CONNECTION
  projection_interval: int = hparams.PROJECTION_INTERVAL   # e_u
  projection_iters: int = hparams.PROJECTION_ITERS         # e_p
  projection_lr: Optional[float] = None     # Adam of the Eq. 8 projection; None = by rule
  lambda_init: float = hparams.LAMBDA_INIT
  lambda_decay: float = hparams.LAMBDA_DECAY
  warmup_steps: int = hparams.WARMUP_STEPS
  derive: str = "budget"                    # "budget" (Eq. 1, then the exact-budget MILP) | "eq1"
  temperature_init: float = hparams.TEMPERATURE_INIT
  temperature_final: float = hparams.TEMPERATURE_FINAL
  projection_method: str = hparams.PROJECTION_METHOD       # "newton" (Eq. 7) | "penalty" (Eq. 8)
  partial_channels: int = 1                 # PC-DARTS's K; 1 = every channel
  mixed_precision: bool = False
  search_space: str = search_space_lib.DEFAULT.name
  report_freq: int = 50                     # steps between progress lines
  jit_compile: bool = False

  def check(self, name=lambda setting: setting) -> "SearchConfig":
    """Refuse settings no search can run with: RcDartsError, one line naming the setting as
    `name(setting)` (the command line passes "--" + setting). Returns self."""
    from rc_darts_tf.errors import RcDartsError
    search_space_lib.get(self.search_space)
    if self.init_channels % self.partial_channels:
      raise RcDartsError(f"{name('partial_channels')}={self.partial_channels}: must divide "
                         f"{name('init_channels')}={self.init_channels}")
    try:
      costs.level_of_normal_cells(self.layers, self.levels)
    except ValueError as error:
      raise RcDartsError(f"{name('levels')}={self.levels}: {error} ({name('layers')}="
                         f"{self.layers})") from None
    return self


@dataclasses.dataclass
class Search:
  """A built search: the compiled SearchNetwork and what drives it (see `build`)."""
  config: SearchConfig
  model: object                             # search.supernet.SearchNetwork
  inputs: object                            # search.inputs.SearchInput
  strategy: object                          # tf.distribute.Strategy
  plan: costs.NetworkPlan                   # the network the budget is stated for
  bounds: Dict[str, Optional[Bounds]]
  space: search_space_lib.SearchSpace
  total_steps: int
  warmup_steps: int
  arch_lr: float                            # Adam on θ, as used
  projection_lr: float                      # Adam of Eq. 8, as used


def budget_plan(config: SearchConfig, num_classes: int, image_size: int, budget_layers: int = 0,
                budget_channels: int = 0, budget_stem: str = "cifar") -> costs.NetworkPlan:
  """The network the budget is stated for: the search network (C, layers, levels of `config`),
  or `budget_layers` cells of `budget_channels` with `budget_stem` (an "imagenet" stem at 224×224)
  when given. BudgetError when that network cannot be built."""
  layers = budget_layers or config.layers
  channels = budget_channels or config.init_channels
  size = image_size if budget_stem == "cifar" else 224
  try:
    return costs.network_plan(channels, layers, config.levels, budget_stem, size, num_classes)
  except ValueError as error:
    raise BudgetError(f"budget network: {error}") from None


def check_achievable(plan: costs.NetworkPlan, bounds: Dict[str, Optional[Bounds]],
                     config: SearchConfig, latency_table=None):
  """The cost tables u of the space at `plan` ([G, E, O] per resource, costs.cost_tables; the
  latency rows from `latency_table`), after refusing bounds no genotype of the space meets
  (BudgetError naming the achievable range; the derivation's MILP, derive.check_feasible)."""
  from rc_darts_tf.search import derive
  tables = costs.cost_tables(plan, config.learn_connection,
                             search_space_lib.get(config.search_space), latency_table)
  derive.check_feasible(tables, bounds)
  return tables


def load_latency_table(path: Optional[str], plan: costs.NetworkPlan,
                       bounds: Dict[str, Optional[Bounds]]):
  """The latency.LatencyTable at `path` checked against the budget network `plan` (None without
  a path). LatencyTableError (a BudgetError-like one-line refusal) for a bad file or another
  geometry; BudgetError when latency is bounded without a table."""
  from rc_darts_tf import latency
  if not path:
    if bounds.get("latency_ms") is not None:
      raise BudgetError(f"--budget_latency_ms={bounds['latency_ms']} needs --latency_table: a "
                        "table measured for the budget network with rc-darts-latency "
                        f"--init_channels={plan.init_channels} --layers={plan.layers} "
                        f"--image_size={plan.image_size} --num_classes={plan.num_classes} "
                        "--output=TABLE.json")
    return None
  table = latency.load(path)
  latency.check_geometry(table, plan)
  return table


def build(config: SearchConfig, source, plan: costs.NetworkPlan,
          bounds: Dict[str, Optional[Bounds]], strategy=None, latency_table=None) -> Search:
  """The compiled SearchNetwork (SGD with a cosine schedule on w, Adam on θ) under `strategy`
  (default: tf.distribute's default strategy) and the search input over `source`
  (data.Source; halves of its training split, search/inputs.py); Φ prices latency with
  `latency_table` (latency.LatencyTable of `plan`'s geometry) when given. The caller seeds Keras
  (keras.utils.set_random_seed(config.seed)) before loading the data, as rc-darts-search does."""
  import keras
  import tensorflow as tf
  from rc_darts_tf import precision
  from rc_darts_tf.search.inputs import SearchInput
  from rc_darts_tf.search.supernet import SearchNetwork
  config.check()
  strategy = strategy or tf.distribute.get_strategy()
  inputs = SearchInput(source, config.batch_size, config.train_portion, config.seed)
  steps = inputs.steps_per_epoch
  total_steps = config.epochs * steps
  arch_lr, projection_lr = step_sizes.resolve(config.arch_learning_rate, config.projection_lr,
                                              total_steps)
  space = search_space_lib.get(config.search_space)
  with strategy.scope(), precision.policy(config.mixed_precision):
    model = SearchNetwork(
        num_classes=source.num_classes, init_channels=config.init_channels, layers=config.layers,
        levels=config.levels, learn_connection=config.learn_connection,
        image_size=source.image_size, budget_plan=plan, bounds=bounds,
        weight_decay=config.weight_decay, arch_weight_decay=config.arch_weight_decay,
        grad_clip=config.grad_clip, projection_lr=projection_lr,
        projection_iters=config.projection_iters, lambda_init=config.lambda_init,
        lambda_decay=config.lambda_decay, seed=config.seed,
        temperature_init=config.temperature_init, temperature_final=config.temperature_final,
        total_steps=total_steps, projection_method=config.projection_method,
        partial_channels=config.partial_channels, search_space=space,
        latency_table=latency_table)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=max(1, total_steps),
        alpha=config.learning_rate_min / config.learning_rate)
    model.compile(keras.optimizers.SGD(schedule, momentum=config.momentum),
                  keras.optimizers.Adam(arch_lr, *hparams.ARCH_BETAS))
    model.build_optimizers()
    if strategy.num_replicas_in_sync > 1:
      model.use_synchronized_batch_norm()
  return Search(config, model, inputs, strategy, plan, bounds, space, total_steps,
                config.warmup_steps or steps, arch_lr, projection_lr)


def settings_used(search: Search, settings: dict) -> dict:
  """`settings` with the step sizes the search uses (recorded in genotype.json's meta)."""
  return dict(settings, arch_learning_rate_used=search.arch_lr,
              projection_lr_used=search.projection_lr, total_steps=search.total_steps)


def attach(search: Search, output_dir: str, settings: dict, checkpoint=None,
           checkpoint_steps: int = 0, chief: bool = True, out=None):
  """(SearchLoop, SearchMonitor, ProjectionSchedule) for `search`: the monitor writes
  genotype_epoch_NNN.json into `output_dir` and records Φ; the projection runs every e_u steps
  after the warm start. TensorBoard writers are set later (`loop.writer`, `monitor.writer`)."""
  import sys
  from rc_darts_tf.search import callbacks as cb
  from rc_darts_tf.search.loop import SearchLoop
  config = search.config
  steps = search.inputs.steps_per_epoch
  monitor = cb.SearchMonitor(output_dir, search.plan, search.bounds,
                             settings_used(search, settings), None,
                             every_n_steps=min(config.report_freq, max(1, steps)),
                             fit_budget=config.derive == "budget")
  projection = cb.ProjectionSchedule(config.projection_interval, search.warmup_steps, None,
                                     verbose=chief)
  loop = SearchLoop(search.model, search.strategy, search.inputs, config.epochs, projection,
                    monitor, checkpoint=checkpoint, checkpoint_steps=checkpoint_steps,
                    report_freq=config.report_freq, chief=chief, out=out or sys.stdout,
                    jit_compile=config.jit_compile)
  return loop, monitor, projection


def save_results(search: Search, monitor, projection, output_dir: str, started: float,
                 strategy_name: str = "default"):
  """The derived genotype (genotype.current_genotype with the run's meta) after the loop has
  run, written with θ and the histories into `output_dir`: genotype.json, theta.npz
  (theta_cells [G, E, O], theta_connection [K], theta_edges β with partial channels, and the
  search space's record), search_history.npz, projections.json. Returns the Genotype."""
  import numpy as np
  from rc_darts_tf import io_utils
  from rc_darts_tf.genotype import save as save_genotype
  model = search.model
  genotype = monitor.current_genotype()
  genotype.meta["epoch"] = search.config.epochs
  genotype.meta["search_seconds"] = round(time.perf_counter() - started, 1)
  genotype.meta["projections"] = projection.history
  genotype.meta["strategy"] = {"name": strategy_name,
                               "replicas": search.strategy.num_replicas_in_sync}
  os.makedirs(output_dir, exist_ok=True)
  monitor.save_histories(os.path.join(output_dir, "search_history.npz"))
  io_utils.atomic_write_text(os.path.join(output_dir, "projections.json"),
                             json.dumps(projection.history, indent=2))
  save_genotype(genotype, os.path.join(output_dir, "genotype.json"))
  arrays = dict(theta_cells=model.theta_cells.numpy(),
                theta_connection=model.theta_connection.numpy(),
                search_space=np.array(search_space_lib.record_text(search.space)))
  if model.theta_edges is not None:
    arrays["theta_edges"] = model.theta_edges.numpy()
  with io_utils.atomic_path(os.path.join(output_dir, "theta.npz"), ".npz") as tmp:
    np.savez(tmp, **arrays)
  return genotype
