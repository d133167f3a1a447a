"""Phase II of RC-DARTS: project θ onto the feasible set C_L <= Φ(θ) <= C_H.

Two solvers, both one traced tf.while_loop that stops as soon as Φ is inside every bound or after
`max_iters` (e_p) iterations:

method="newton" (default): Eq. 7 itself, min ½‖θ_p − θ‖² subject to the bounds, solved by
sequential linearisation (Gauss-Newton / SQP on the active constraints): with J the [A, n]
Jacobian of the active Φ_m (scaled by their bounds) and r their distance past a target just inside
the bound (`margin` of the bound),

    θ_p ← θ + Jᵀ (J Jᵀ)⁻¹ (J (θ_p − θ) − r),

the exact projection of θ onto the linearised constraints, each step's largest entry capped at
`max_step` · τ. A constraint once violated stays active. Φ is only piecewise smooth (σ keeps the
top-2 edges of every node, and moving weight off an edge's dear ops can hand its place to another
edge), so after `anchored_iters` iterations without feasibility — the anchored step then cycles —
the solver takes the smallest step from the current θ_p instead, θ_p ← θ_p − Jᵀ (J Jᵀ)⁻¹ r, which
keeps what earlier steps did. θ is only a few hundred numbers; a
projection takes a handful of iterations and ends feasible whenever the bounds are achievable.
The closing projection (`finish`, after the search's last step) also requires the network Eq. 1
derives from θ to be inside the bounds: a resource whose Eq. 1 cost is outside asks Φ to move by
that cost's distance to the target (Φ's gradient stands in for the discrete cost's, which has
none), until both are inside or `max_iters`.

method="penalty": the paper's Eq. 8. Starting from θ_p = θ, minimise

    ½‖θ_p − θ‖² + λ · Σ_m [max(C_L^m − Φ_m(θ_p), 0) + max(Φ_m(θ_p) − C_H^m, 0)] / s_m

with Adam (lr 3e-4, betas 0.5/0.999 by default) until every constraint holds or `max_iters`
(e_p) iterations have run, then θ ← θ_p. s_m is the bound's own scale (C_H^m, or C_L^m when
there is no upper bound), so λ is unit-free and one λ serves params and MACs. λ decays
exponentially: λ ← λ · lambda_decay after every projection.

The whole loop is one tf.while_loop in a tf.function without arguments (the θ variables are
bound at construction), so it is traced once and costs no Python per iteration. Adam's update is
written out in the loop body (8 tensor ops): a Keras optimizer keeps its state in variables across
calls, while each projection starts from fresh moments, as an independent minimisation should.
"""

from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from rc_darts_tf import costs
from rc_darts_tf.budget import Bounds
from rc_darts_tf.search import hparams


class Projection:
  """Phase II bound to the θ variables (`bind`); `__call__` projects once.

  cost_model: Φ (costs.CostModel); bounds: {resource: Bounds or None}; method: "newton" (Eq. 7,
  default) or "penalty" (Eq. 8 with Adam at `lr`, λ = lambda_init · lambda_decay^k at the k-th
  projection); temperature: a callable returning the search's current softmax temperature τ
  (a scalar tensor) or None for τ = 1. Raises ValueError for unknown resources or methods.
  """

  def __init__(self, cost_model: costs.CostModel, bounds: Optional[Dict[str, Bounds]],
               lr=hparams.PROJECTION_LR, max_iters=hparams.PROJECTION_ITERS,
               lambda_init=hparams.LAMBDA_INIT, lambda_decay=hparams.LAMBDA_DECAY,
               beta_1=hparams.PROJECTION_BETAS[0], beta_2=hparams.PROJECTION_BETAS[1], epsilon=1e-8,
               method=hparams.PROJECTION_METHOD, temperature=None, margin=2e-3,
               max_step=1.0, anchored_iters=20):
    if method not in ("newton", "penalty"):
      raise ValueError(f"unknown projection method {method!r}: newton or penalty")
    self.method = method
    self.temperature = temperature
    self.margin = float(margin)
    self.max_step = float(max_step)
    self.anchored_iters = int(anchored_iters)
    self.cost_model = cost_model
    bounds = bounds or {}
    unknown = set(bounds) - set(costs.RESOURCES)
    if unknown:
      raise ValueError(f"unknown resources {sorted(unknown)}; known: {costs.RESOURCES}")
    low, high, scale = [], [], []
    for resource in costs.RESOURCES:
      b = bounds.get(resource)
      low.append(b.low if b is not None and b.low is not None else -np.inf)
      high.append(b.high if b is not None and b.high is not None else np.inf)
      ref = high[-1] if np.isfinite(high[-1]) else low[-1]
      scale.append(ref if np.isfinite(ref) and ref > 0 else 1.0)
    self.bounds = {r: bounds.get(r) for r in costs.RESOURCES}
    self.active = any(b is not None for b in bounds.values())
    self.low = tf.constant(low, tf.float32)
    self.high = tf.constant(high, tf.float32)
    self.scale = tf.constant(scale, tf.float32)
    self.lr = float(lr)
    self.max_iters = int(max_iters)
    self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
    self.lambda_decay = float(lambda_decay)
    self.lam = tf.Variable(float(lambda_init), trainable=False, name="projection_lambda")
    self.count = tf.Variable(0, dtype=tf.int64, trainable=False, name="projection_count")
    self.theta_cells = None
    self.theta_connection = None
    self.theta_edges = None
    self._fn = None

  def bind(self, theta_cells, theta_connection=None, theta_edges=None):
    """Attach the θ variables the projection moves (theta_cells [G, E, O], theta_connection
    [K] or None) and β [G, E] of a partial-channel search or None, which the projection reads
    (it selects σ) but does not move; the projection function is traced once. Returns self."""
    self.theta_cells = theta_cells
    self.theta_connection = theta_connection
    self.theta_edges = theta_edges
    self._fn = tf.function(self._project if self.method == "penalty" else self._project_newton,
                           autograph=False)
    self._finish_fn = tf.function(lambda: self._project_newton(discrete=True), autograph=False)
    return self

  def finish(self):
    """The closing projection (Eq. 7 with the Newton solver whatever `method`): afterwards Φ and
    the exact cost of the Eq. 1 network are both inside the bounds when that is reachable in
    `max_iters` iterations. Returns (iterations, Φ after [R], feasible after)."""
    if self._fn is None:
      raise RuntimeError("Projection.bind(theta_cells, theta_connection) was not called")
    return self._finish_fn()

  def current_temperature(self):
    """τ from the `temperature` callable as a float32 scalar tensor (1.0 without one)."""
    return (tf.constant(1.0) if self.temperature is None else
            tf.cast(self.temperature(), tf.float32))

  def feasible(self, phi):
    """Scalar bool tensor: C_L <= Φ <= C_H for every resource; phi: [R] (params, MACs), an
    unset bound is ±inf."""
    return tf.reduce_all((phi >= self.low) & (phi <= self.high))

  def violation(self, phi):
    """Σ_m of the scaled hinge violations (0 when feasible)."""
    below = tf.where(tf.math.is_finite(self.low), tf.nn.relu(self.low - phi), 0.0)
    above = tf.where(tf.math.is_finite(self.high), tf.nn.relu(phi - self.high), 0.0)
    return tf.reduce_sum((below + above) / self.scale)

  def __call__(self):
    """Run one projection; returns (iterations, Φ after [R], feasible after)."""
    if self._fn is None:
      raise RuntimeError("Projection.bind(theta_cells, theta_connection) was not called")
    return self._fn()

  @property
  def tracing_count(self):
    """Times the projection function (`__call__`'s) was traced; 0 before `bind`."""
    return self._fn.experimental_get_tracing_count() if self._fn is not None else 0

  def _split(self, flat):
    n = int(np.prod(self.theta_cells.shape))
    cells = tf.reshape(flat[:n], self.theta_cells.shape)
    connection = flat[n:] if self.theta_connection is not None else None
    return cells, connection

  def _phi(self, flat, temperature=1.0):
    cells, connection = self._split(flat)
    return self.cost_model.expected(cells, connection, temperature,
                                    theta_edges=self._edges(cells.dtype))

  def _edges(self, dtype):
    return (None if self.theta_edges is None else
            tf.cast(tf.convert_to_tensor(self.theta_edges), dtype))

  def _theta0(self):
    parts = [tf.reshape(tf.convert_to_tensor(self.theta_cells), [-1])]
    if self.theta_connection is not None:
      parts.append(tf.reshape(tf.convert_to_tensor(self.theta_connection), [-1]))
    return tf.concat(parts, axis=0)

  def _finish(self, iters, theta, tau):
    cells, connection = self._split(theta)
    self.theta_cells.assign(cells)
    if connection is not None:
      self.theta_connection.assign(connection)
    self.lam.assign(self.lam * self.lambda_decay)
    self.count.assign_add(1)
    phi = self._phi(theta, tau)
    return iters, phi, self.feasible(phi)

  def _eq1(self, flat, temperature):
    cells, connection = self._split(flat)
    return self.cost_model.eq1(cells, connection, temperature,
                               theta_edges=self._edges(cells.dtype))

  def _project_newton(self, discrete=False):
    # float64: at a low temperature softmax weights of 1e-20 are ordinary, their squares are not
    f64 = tf.float64
    theta0 = tf.cast(self._theta0(), f64)
    tau = tf.cast(self.current_temperature(), f64)
    m = len(costs.RESOURCES)
    low, high, scale = (tf.cast(t, f64) for t in (self.low, self.high, self.scale))
    has_low, has_high = tf.math.is_finite(low), tf.math.is_finite(high)
    # targets just inside each bound (the middle when the interval is narrower than 2 margins)
    width = tf.where(has_low & has_high, high - low, tf.constant(np.inf, f64))
    inset = tf.minimum(self.margin * scale, 0.5 * width)
    low_target = tf.where(has_low, low + inset, 0.0)
    high_target = tf.where(has_high, high - inset, 0.0)
    max_step = self.max_step * tau          # in units of θ / τ, the softmax's own scale

    def feasible(phi):
      return tf.reduce_all((phi >= low) & (phi <= high))

    def not_done(i, theta, active_low, active_high):
      done = feasible(self._phi(theta, tau))
      if discrete:
        done = done & feasible(self._eq1(theta, tau))
      return tf.logical_not(done)

    def step(i, theta, active_low, active_high):
      with tf.GradientTape(persistent=True) as tape:
        tape.watch(theta)
        phi = self._phi(theta, tau)
        scaled = phi / scale
        parts = [scaled[k] for k in range(m)]
      jac = tf.stack([tape.gradient(part, theta) for part in parts])       # [R, n]
      del tape
      active_low = active_low | (has_low & (phi < low))
      active_high = active_high | (has_high & (phi > high))
      value = phi
      if discrete:
        eq1 = self._eq1(theta, tau)
        active_low = active_low | (has_low & (eq1 < low))
        active_high = active_high | (has_high & (eq1 > high))
        # the side of the bound the further of Φ and the Eq. 1 cost is on decides
        value = tf.where(active_high, tf.maximum(phi, eq1), tf.minimum(phi, eq1))
      # a resource is pinned to the bound it crossed (its high bound if both were crossed)
      target = tf.where(active_high, high_target, low_target) / scale
      active = active_low | active_high
      r = tf.where(active, value / scale - target, 0.0)                       # [R]
      jac = tf.where(active[:, None], jac, 0.0)
      gram = tf.matmul(jac, jac, transpose_b=True)
      ridge = 1e-12 * tf.reduce_max(tf.linalg.diag_part(gram)) + 1e-300
      gram += tf.linalg.diag(tf.where(active, ridge, 1.0))
      # the nearest point to θ on the linearised constraints ...
      rhs = tf.linalg.matvec(jac, theta - theta0) - r
      mult = tf.linalg.solve(gram, rhs[:, None])[:, 0]
      anchored = theta0 + tf.linalg.matvec(jac, mult, transpose_a=True) - theta
      # ... or, once that has cycled for `anchored_iters` iterations (the top-2 edges σ swap as
      # weight moves between edges, and a step anchored at θ undoes the moves on edges that just
      # left σ), the smallest step from here that meets them
      mult = tf.linalg.solve(gram, -r[:, None])[:, 0]
      local = tf.linalg.matvec(jac, mult, transpose_a=True)
      delta = tf.where(i < self.anchored_iters, anchored, local)
      biggest = tf.reduce_max(tf.abs(delta))
      delta *= tf.minimum(tf.constant(1.0, f64), max_step / tf.maximum(biggest, 1e-300))
      return i + 1, theta + delta, active_low, active_high

    off = tf.zeros([m], tf.bool)
    iters, theta, _, _ = tf.while_loop(not_done, step, (tf.constant(0), theta0, off, off),
                                       maximum_iterations=self.max_iters)
    return self._finish(iters, tf.cast(theta, tf.float32), self.current_temperature())

  def _project(self):
    theta0 = self._theta0()
    tau = self.current_temperature()
    lam = tf.convert_to_tensor(self.lam)
    b1, b2, lr, eps = self.beta_1, self.beta_2, self.lr, self.epsilon

    def not_done(i, theta, m, v):
      return tf.logical_and(i < self.max_iters,
                            tf.logical_not(self.feasible(self._phi(theta, tau))))

    def step(i, theta, m, v):
      with tf.GradientTape() as tape:
        tape.watch(theta)
        objective = (0.5 * tf.reduce_sum(tf.square(theta - theta0)) +
                     lam * self.violation(self._phi(theta, tau)))
      g = tape.gradient(objective, theta)
      m = b1 * m + (1.0 - b1) * g
      v = b2 * v + (1.0 - b2) * tf.square(g)
      t = tf.cast(i + 1, tf.float32)
      m_hat = m / (1.0 - tf.pow(b1, t))
      v_hat = v / (1.0 - tf.pow(b2, t))
      return i + 1, theta - lr * m_hat / (tf.sqrt(v_hat) + eps), m, v

    zeros = tf.zeros_like(theta0)
    iters, theta, _, _ = tf.while_loop(not_done, step, (tf.constant(0), theta0, zeros, zeros),
                                       maximum_iterations=self.max_iters)
    return self._finish(iters, theta, tau)
