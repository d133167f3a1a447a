"""SearchNetwork: the RC-DARTS supernet with θ per level and a first-order custom train_step.

θ lives in two Keras variables kept out of the weight optimizer:
  theta_cells       [G, E, O]: rows 0..levels-1 are the normal-cell levels (normal cells split
                    evenly by depth), row `levels` is the reduce cells' θ;
  theta_connection  [K]: the connection cell's θ (only with learn_connection);
  theta_edges       [G, E]: β, the edge weights of a partial-channel search (PC-DARTS, only with
                    partial_channels K > 1): node j's edges weigh β̂ = softmax of β over its
                    incoming edges (costs.edge_log_weights), not τ-annealed, and β̂ enters the
                    edge strength of σ in Φ and of derivation.
The mixed ops, Φ, the projection and the derivation all weigh the candidates by softmax(θ / τ).
The temperature τ is annealed exponentially over the search, τ(t) = τ_0 · (τ_1 / τ_0)^(t / T) at
step t of T (`temperature_init` τ_0, `temperature_final` τ_1, `total_steps` T; t is the weight
optimizer's iteration count, so a resumed search continues the schedule): as τ falls the mixed ops
and Φ concentrate on the op derivation will pick, so Φ ends close to the exact cost of the network
Eq. 1 derives (logged next to Φ every step as eq1_<resource>).
They are owned by a second optimizer (`arch_optimizer`, Adam). One search_step (traced once; run
under any tf.distribute strategy by search/loop.py, or by Keras's fit through train_step) does:
  1. SGD with momentum on the weights w with a training batch (DARTS: L2 weight decay added to the
     clipped gradient, as PyTorch's SGD does);
  2. Adam on θ with a validation batch (first order; L2 weight decay on θ as DARTS's Adam).
With several replicas both gradients are averaged over the replicas (and batch norm uses the
global batch's statistics), so the step equals one device's on the same global batch.
The dataset yields ((x_train, y_train), (x_val, y_val)). Metrics: loss, acc (weights batch),
arch_loss, arch_acc (architecture batch, training-mode BN), phi_<resource> (Φ at the step, one per
costs.RESOURCES),
feasible (1 when Φ is inside the bounds).
"""

from typing import Optional

import keras
import tensorflow as tf

from rc_darts_tf import costs, ops, precision
from rc_darts_tf.search import hparams
from rc_darts_tf.search.mixed import SearchCell
from rc_darts_tf.search.projection import Projection


class SearchNetwork(keras.Model):
  """The RC-DARTS search supernet (DARTS cnn/model_search.py `Network`) with θ per level.

  Constructor arguments:
    network: num_classes, init_channels (C, the node channels of the first cells; the stem
      gives 3C; divisible by partial_channels), layers (cells), levels (θ groups of normal
      cells; G = levels + 1), learn_connection (learn the connection cell's θ, else it is
      fixed), image_size (H = W of the input), search_space (default search_space.DEFAULT;
      O = its cell ops), partial_channels (PC-DARTS K', 1 = off);
    budget: budget_plan (the costs.NetworkPlan Φ is stated for; default this network's plan),
      bounds (the resource bounds the projection enforces), projection_lr, projection_iters,
      lambda_init, lambda_decay, projection_method (search/projection.py);
    optimisation: weight_decay (on w), arch_weight_decay (on θ), grad_clip (global norm of w's
      gradient), seed (θ's initializer), temperature_init τ_0, temperature_final τ_1, total_steps
      T of the τ schedule (None: τ stays τ_0).
  Variables: theta_cells [G, E, O], theta_connection [K] (trainable only with learn_connection),
  theta_edges [G, E] (β) or None without partial channels; all initialised N(0, 1e-3²).
  train_step (Keras's fit) and search_step run one first-order DARTS step on a batch
  ((x_train, y_train), (x_val, y_val)): SGD on w with the training half, then Adam
  (`arch_optimizer`, set by compile) on θ with the validation half. phi() is Φ [R] (Eq. 6),
  eq1_cost() the exact cost [R] of the Eq. 1 network, temperature() τ at a step (R = params,
  MACs). Raises ValueError if partial_channels < 1 or does not divide init_channels, or if a
  temperature is <= 0.
  """

  def __init__(self, num_classes=10, init_channels=16, layers=8, levels=3,
               learn_connection=True, image_size=32, budget_plan: Optional[costs.NetworkPlan] = None,
               bounds=None, weight_decay=3e-4, arch_weight_decay=hparams.ARCH_WEIGHT_DECAY,
               grad_clip=5.0, projection_lr=hparams.PROJECTION_LR,
               projection_iters=hparams.PROJECTION_ITERS, lambda_init=hparams.LAMBDA_INIT,
               lambda_decay=hparams.LAMBDA_DECAY, seed=None,
               temperature_init=hparams.TEMPERATURE_INIT,
               temperature_final=hparams.TEMPERATURE_FINAL, total_steps=None,
               projection_method=hparams.PROJECTION_METHOD, partial_channels=1, search_space=None,
               latency_table=None, **kwargs):
    # θ stays float32 under mixed precision: the model does not autocast its own variables (θ);
    # its layers (stem, cells, classifier) follow the dtype policy.
    kwargs.setdefault("autocast", False)
    super().__init__(**kwargs)
    if partial_channels < 1 or init_channels % partial_channels:
      raise ValueError(f"partial_channels={partial_channels} must be >= 1 and divide "
                       f"init_channels={init_channels}")
    self.partial_channels = int(partial_channels)
    from rc_darts_tf import search_space as search_space_lib
    # the candidate ops: θ_cells [G, E, O] has one column per cell op of this space, in its order
    self.search_space = search_space or search_space_lib.DEFAULT
    if temperature_init <= 0 or temperature_final <= 0:
      raise ValueError(f"temperatures must be > 0, got {temperature_init}, {temperature_final}")
    self.temperature_init = float(temperature_init)
    self.temperature_final = float(temperature_final)
    self.total_steps = max(1, int(total_steps)) if total_steps else None
    self.plan = costs.network_plan(init_channels, layers, levels, "cifar", image_size,
                                   num_classes)
    self.levels = levels
    self.learn_connection = learn_connection
    self.weight_decay = weight_decay
    self.arch_weight_decay = arch_weight_decay
    self.grad_clip = grad_clip
    # Φ is stated for the network the user deploys (default: this search network's geometry).
    self.budget_plan = budget_plan or self.plan
    # latency (ms) is priced with a latency.LatencyTable of the budget network's geometry
    self.cost_tables = costs.cost_tables(self.budget_plan, learn_connection, self.search_space,
                                         latency_table)
    self.cost_model = costs.CostModel(self.cost_tables)
    (stem,) = costs.stem_convs("cifar", init_channels)     # DARTS's search network: CIFAR stem
    self.stem_conv = keras.layers.Conv2D(stem.c_out, 3, stem.stride, padding="same",
                                         use_bias=False, name=stem.name)
    self.stem_bn = ops.batch_norm(True, name=stem.bn)
    self.cells = [SearchCell(plan, learn_connection, partial_channels=self.partial_channels,
                             space=self.search_space, name=f"cell{plan.index}")
                  for plan in self.plan.cells]
    self.gap = keras.layers.GlobalAveragePooling2D(name="gap")
    self.classifier = keras.layers.Dense(num_classes, name="classifier")
    init = keras.initializers.RandomNormal(stddev=1e-3, seed=seed)
    self.theta_cells = self.add_weight(shape=(self.plan.num_groups, costs.NUM_EDGES,
                                              len(self.search_space.primitives)),
                                       initializer=init, name="theta_cells")
    self.theta_connection = self.add_weight(shape=(len(self.search_space.connection_primitives),),
                                            initializer=init, name="theta_connection",
                                            trainable=learn_connection)
    self.theta_edges = (self.add_weight(shape=(self.plan.num_groups, costs.NUM_EDGES),
                                        initializer=init, name="theta_edges")
                        if self.partial_channels > 1 else None)
    self.projection = Projection(self.cost_model, bounds, lr=projection_lr,
                                 max_iters=projection_iters, lambda_init=lambda_init,
                                 lambda_decay=lambda_decay, method=projection_method,
                                 temperature=self.temperature).bind(
                                     self.theta_cells,
                                     self.theta_connection if learn_connection else None,
                                     self.theta_edges)
    self.trackers = {name: keras.metrics.Mean(name=name) for name in
                     ("loss", "acc", "arch_loss", "arch_acc",
                      *(f"phi_{r}" for r in costs.RESOURCES),
                      *(f"eq1_{r}" for r in costs.RESOURCES), "feasible", "temperature")}
    self.arch_optimizer = None
    self._grad_fn = None

  # -- variables ------------------------------------------------------------------------------

  @property
  def arch_variables(self):
    """θ variables for the arch optimizer: [theta_cells] + [theta_connection] (only with
    learn_connection) + [theta_edges] (only with partial channels)."""
    return ([self.theta_cells] + ([self.theta_connection] if self.learn_connection else []) +
            ([self.theta_edges] if self.theta_edges is not None else []))

  @property
  def weight_variables(self):
    """The trainable variables except θ_cells, θ_connection and θ_edges: the weights w."""
    arch = {id(v) for v in (self.theta_cells, self.theta_connection, self.theta_edges)
            if v is not None}
    return [v for v in self.trainable_variables if id(v) not in arch]

  def count_weight_params(self) -> int:
    """Elements of the network weights w (θ and β excluded): 1,930,618 for PyTorch DARTS's
    search network (C = 16, 8 cells, 10 classes; ../shared/bench)."""
    return costs.count_weights(self.weight_variables)

  # -- forward --------------------------------------------------------------------------------

  def build(self, input_shape=None):
    """Create every variable from the plan's shapes (fast: no symbolic forward pass)."""
    size = self.plan.image_size
    shape = (None, size, size, 3)
    self.stem_conv.build(shape)
    self.stem_bn.build((None, size, size, self.stem_conv.filters))
    for cell in self.cells:
      cell.build_from_plan()
    self.classifier.build((None, self.plan.cells[-1].out_channels))
    self.built = True

  def temperature(self, step=None):
    """τ at `step` (default: the weight optimizer's iterations), a float32 scalar tensor."""
    if self.total_steps is None or self.temperature_init == self.temperature_final:
      return tf.constant(self.temperature_init, tf.float32)
    if step is None:
      if self.optimizer is None:
        return tf.constant(self.temperature_init, tf.float32)
      step = self.optimizer.iterations
    progress = tf.minimum(tf.cast(step, tf.float32) / float(self.total_steps), 1.0)
    return self.temperature_init * tf.pow(self.temperature_final / self.temperature_init,
                                          progress)

  def call(self, x, training=None, temperature=None):
    tau = self.temperature() if temperature is None else temperature
    probs = tf.nn.softmax(self.theta_cells / tau, axis=-1)
    conn = tf.nn.softmax(self.theta_connection / tau) if self.learn_connection else None
    edges = (tf.exp(costs.edge_log_weights_tf(self.theta_edges))
             if self.theta_edges is not None else None)
    s = self.stem_bn(self.stem_conv(x), training=training)
    s0 = s1 = s
    for cell in self.cells:
      s0, s1 = s1, cell(s0, s1, probs[cell.plan.group], conn, training=training,
                        edge_weights=None if edges is None else edges[cell.plan.group])
    return tf.cast(self.classifier(self.gap(s1)), tf.float32)   # float16 under mixed precision

  def phi(self, temperature=None):
    """Φ per resource [R] (params, MACs) at the current θ and τ (Eq. 6), float32."""
    tau = self.temperature() if temperature is None else temperature
    return self.cost_model.expected(self.theta_cells,
                                    self.theta_connection if self.learn_connection else None, tau,
                                    theta_edges=self.theta_edges)

  def eq1_cost(self, temperature=None):
    """Exact cost [R] of the network Eq. 1 derives from the current θ and τ, float32."""
    tau = self.temperature() if temperature is None else temperature
    return self.cost_model.eq1(self.theta_cells,
                               self.theta_connection if self.learn_connection else None, tau,
                               theta_edges=self.theta_edges)

  def softmax_weights(self, temperature=None):
    """(softmax(θ_cells / τ) [G, E, O], softmax(θ_connection / τ) [K] or None) as NumPy."""
    tau = self.temperature() if temperature is None else temperature
    cells = tf.nn.softmax(tf.convert_to_tensor(self.theta_cells) / tau, axis=-1).numpy()
    conn = (tf.nn.softmax(tf.convert_to_tensor(self.theta_connection) / tau).numpy()
            if self.learn_connection else None)
    return cells, conn

  # -- training -------------------------------------------------------------------------------

  def compile(self, optimizer, arch_optimizer, **kwargs):
    """Keras's compile plus θ's optimizer. Under the mixed_float16 policy both optimizers are
    wrapped in keras.optimizers.LossScaleOptimizer (dynamic loss scaling; precision.py)."""
    kwargs.setdefault("jit_compile", False)  # XLA compile of a supernet takes minutes on CPU
    mixed = self.dtype_policy.name == precision.MIXED
    optimizer = precision.loss_scaling(optimizer, mixed)
    arch_optimizer = precision.loss_scaling(arch_optimizer, mixed)
    super().compile(optimizer=optimizer, auto_scale_loss=False, **kwargs)
    self.arch_optimizer = arch_optimizer
    for opt in (optimizer, arch_optimizer, precision.inner(optimizer),
                precision.inner(arch_optimizer)):
      # search_step hands the optimizers gradients already averaged over the replicas; Keras's
      # own all-reduce (a SUM) would count them num_replicas times.
      opt._all_reduce_sum_gradients = lambda grads_and_vars: list(grads_and_vars)

  def build_optimizers(self):
    """Build the model and both optimizers' slots eagerly, so the traced step creates nothing."""
    if not self.built:
      self.build()
    self.optimizer.build(self.weight_variables)
    self.arch_optimizer.build(self.arch_variables)

  @property
  def metrics(self):
    """The keras.metrics.Mean trackers train_step updates: loss, acc, arch_loss, arch_acc,
    phi_<resource>, eq1_<resource> (costs.RESOURCES), feasible, temperature."""
    return list(self.trackers.values())

  def _loss_and_grads(self, x, y, tau, scale=None):
    """Cross-entropy, logits and the gradients w.r.t. (w, θ) of one batch (with a loss scale S:
    of S · loss, divided by S again, so the float16 backward pass does not underflow).

    A tf.function of its own, called twice by train_step: the supernet's forward and backward
    pass is traced once instead of twice (time to first step), and after TensorFlow inlines the
    calls, the gradients a step does not use are pruned, so no compute is wasted.
    """
    with tf.GradientTape() as tape:
      logits = self(x, training=True, temperature=tau)
      loss = tf.reduce_mean(
          keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
      scaled = loss if scale is None else loss * scale
    w_vars, a_vars = self.weight_variables, self.arch_variables
    grads = precision.unscale(tape.gradient(scaled, w_vars + a_vars), scale)
    return loss, logits, grads[:len(w_vars)], grads[len(w_vars):]

  def use_synchronized_batch_norm(self, enabled: bool = True):
    """Give the Keras BatchNormalization layers (stem, connection, preprocessing) the statistics
    of the global batch under a multi-replica strategy (the MixedOps' search_bn does this by
    itself), so N replicas compute what one device computes on the same global batch."""
    for layer in self._flatten_layers(include_self=False, recursive=True):
      if isinstance(layer, keras.layers.BatchNormalization):
        layer.synchronized = bool(enabled)

  def search_step(self, data):
    """One first-order search step (w on the training batch, then θ on the validation batch).

    Runs in replica context (the default strategy's, or inside `strategy.run`): the gradients of
    w and θ are averaged over the replicas before clipping and weight decay, so every replica
    applies the same update and a step equals one device's on the same global batch. Returns
    the step's logs, averaged over replicas: loss, acc, arch_loss, arch_acc, phi_<resource>
    (Φ after the step), eq1_<resource> (exact cost of the Eq. 1 network after the
    step), temperature (τ after the step), feasible (1.0 when Φ is inside the bounds) and finite
    (1.0 when the losses and θ are finite).
    """
    (x, y), (x_val, y_val) = data
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
      # Synchronisation points (sync BN, BN moving-statistics updates of mirrored variables) may
      # not sit in a nested tf.function: the forward/backward pass is traced inline, twice.
      grad_fn = self._loss_and_grads
    else:
      if self._grad_fn is None:
        self._grad_fn = tf.function(self._loss_and_grads, autograph=False)
      grad_fn = self._grad_fn
    w_vars = self.weight_variables
    tau = self.temperature()     # before the weight step moves the iteration count
    scale = precision.scale_of(self.optimizer)
    loss, logits, grads, _ = grad_fn(x, y, tau, scale)
    grads = _replica_mean(ctx, grads)
    if self.grad_clip:
      grads, _ = tf.clip_by_global_norm(grads, self.grad_clip)
    if self.weight_decay:
      grads = [g + self.weight_decay * v for g, v in zip(grads, w_vars)]
    precision.apply(self.optimizer, grads, w_vars, scale)

    a_vars = self.arch_variables
    a_scale = precision.scale_of(self.arch_optimizer)
    arch_loss, val_logits, _, a_grads = grad_fn(x_val, y_val, tau, a_scale)
    a_grads = _replica_mean(ctx, a_grads)
    if self.arch_weight_decay:
      a_grads = [g + self.arch_weight_decay * v for g, v in zip(a_grads, a_vars)]
    precision.apply(self.arch_optimizer, a_grads, a_vars, a_scale)

    loss, acc, arch_loss, arch_acc = _replica_mean(
        ctx, [loss, _accuracy(y, logits), arch_loss, _accuracy(y_val, val_logits)])
    tau_after = self.temperature()
    phi = self.phi(tau_after)
    eq1 = self.eq1_cost(tau_after)
    finite = tf.reduce_all([tf.math.is_finite(loss), tf.math.is_finite(arch_loss)] +
                           [tf.reduce_all(tf.math.is_finite(v)) for v in a_vars])
    return {"loss": loss, "acc": acc, "arch_loss": arch_loss, "arch_acc": arch_acc,
            **{f"phi_{r}": phi[k] for k, r in enumerate(costs.RESOURCES)},
            **{f"eq1_{r}": eq1[k] for k, r in enumerate(costs.RESOURCES)},
            "temperature": tau_after,
            "feasible": tf.cast(self.projection.feasible(phi), tf.float32),
            "finite": tf.cast(finite, tf.float32)}

  def train_step(self, data):
    """Keras's hook (model.fit): search_step plus the running means of its logs."""
    logs = self.search_step(data)
    for name, tracker in self.trackers.items():
      tracker.update_state(logs[name])
    return {name: tracker.result() for name, tracker in self.trackers.items()}

  def project(self):
    """Phase II: move θ to the nearest feasible point (see projection.py). Returns
    (iterations, Φ after, feasible after) as tensors."""
    return self.projection()


def _replica_mean(ctx, values):
  """Mean over the replicas of a list of tensors (identity with one replica)."""
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return list(values)
  return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, list(values))


def _accuracy(labels, logits):
  predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
  return tf.reduce_mean(tf.cast(tf.equal(predicted, tf.cast(labels, tf.int32)), tf.float32))
