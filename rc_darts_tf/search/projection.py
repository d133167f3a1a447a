"""Phase II of RC-DARTS: project θ onto the feasible set C_L <= Φ(θ) <= C_H (Eq. 8).

Starting from θ_p = θ, minimise

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


class Projection:

  def __init__(self, cost_model: costs.CostModel, bounds: Optional[Dict[str, Bounds]],
               lr=3e-4, max_iters=500, lambda_init=1.0, lambda_decay=0.95, beta_1=0.5,
               beta_2=0.999, epsilon=1e-8):
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
    self._fn = None

  def bind(self, theta_cells, theta_connection=None):
    """Attach the θ variables the projection moves; the projection function is traced once."""
    self.theta_cells = theta_cells
    self.theta_connection = theta_connection
    self._fn = tf.function(self._project, autograph=False)
    return self

  def feasible(self, phi):
    return tf.reduce_all((phi >= self.low) & (phi <= self.high))

  def violation(self, phi):
    """Σ_m of the scaled hinge violations (0 when feasible)."""
    below = tf.where(tf.math.is_finite(self.low), tf.nn.relu(self.low - phi), 0.0)
    above = tf.where(tf.math.is_finite(self.high), tf.nn.relu(phi - self.high), 0.0)
    return tf.reduce_sum((below + above) / self.scale)

  def __call__(self):
    """Run one projection; returns (iterations, Φ after [M], feasible after)."""
    if self._fn is None:
      raise RuntimeError("Projection.bind(theta_cells, theta_connection) was not called")
    return self._fn()

  @property
  def tracing_count(self):
    return self._fn.experimental_get_tracing_count() if self._fn is not None else 0

  def _split(self, flat):
    n = int(np.prod(self.theta_cells.shape))
    cells = tf.reshape(flat[:n], self.theta_cells.shape)
    connection = flat[n:] if self.theta_connection is not None else None
    return cells, connection

  def _phi(self, flat):
    cells, connection = self._split(flat)
    return self.cost_model.expected(cells, connection)

  def _project(self):
    parts = [tf.reshape(tf.convert_to_tensor(self.theta_cells), [-1])]
    if self.theta_connection is not None:
      parts.append(tf.reshape(tf.convert_to_tensor(self.theta_connection), [-1]))
    theta0 = tf.concat(parts, axis=0)
    lam = tf.convert_to_tensor(self.lam)
    b1, b2, lr, eps = self.beta_1, self.beta_2, self.lr, self.epsilon

    def not_done(i, theta, m, v):
      return tf.logical_and(i < self.max_iters, tf.logical_not(self.feasible(self._phi(theta))))

    def step(i, theta, m, v):
      with tf.GradientTape() as tape:
        tape.watch(theta)
        objective = (0.5 * tf.reduce_sum(tf.square(theta - theta0)) +
                     lam * self.violation(self._phi(theta)))
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
    cells, connection = self._split(theta)
    self.theta_cells.assign(cells)
    if connection is not None:
      self.theta_connection.assign(connection)
    self.lam.assign(lam * self.lambda_decay)
    self.count.assign_add(1)
    phi = self._phi(theta)
    return iters, phi, self.feasible(phi)
