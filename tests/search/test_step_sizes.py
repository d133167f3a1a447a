"""rc_darts_tf/search/step_sizes.py: the step-size rule keeps the paper's travel of θ, in
the rule and in a short search."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf.search import step_sizes
from rc_darts_tf.search.supernet import SearchNetwork


def test_step_size_rule_keeps_the_papers_travel():
  assert step_sizes.PAPER_STEPS == 19_550
  assert step_sizes.resolve(None, None, 19_550) == pytest.approx((3e-4, 3e-4))
  for steps in (24, 780, 19_550, 100_000):
    arch, proj = step_sizes.resolve(None, None, steps)
    assert step_sizes.travel(arch, steps) == pytest.approx(3e-4 * 19_550)
    assert proj == pytest.approx(arch)
  assert step_sizes.resolve(1e-3, 2e-3, 24) == (1e-3, 2e-3)      # explicit values win
  with pytest.raises(ValueError):
    step_sizes.scaled(3e-4, 0)


def test_a_short_search_moves_theta_as_far_as_the_papers():
  """The step-size rule: over S = 6 steps, θ's largest move is within 2× of the paper's travel
  3e-4 × 19,550 ≈ 5.9 (at the fixed 3e-4 it would be ≤ 0.0018). τ anneals 1 -> 0.1 on the way."""
  from rc_darts_tf.search import step_sizes
  steps = 6
  arch_lr, _ = step_sizes.resolve(None, None, steps)
  net = SearchNetwork(num_classes=3, init_channels=4, layers=3, levels=1, learn_connection=False,
                      image_size=8, seed=3, temperature_init=1.0, temperature_final=0.1,
                      total_steps=steps)
  net.compile(keras.optimizers.SGD(0.025, momentum=0.9),
              keras.optimizers.Adam(arch_lr, beta_1=0.5, beta_2=0.999))
  net.build_optimizers()
  rng = np.random.default_rng(0)
  x = rng.standard_normal((8, 8, 8, 3)).astype(np.float32)
  y = rng.integers(0, 3, 8).astype(np.int32)
  step = tf.function(net.search_step)
  before = net.theta_cells.numpy().copy()
  taus = []
  for _ in range(steps):
    logs = step(((x[:4], y[:4]), (x[4:], y[4:])))
    taus.append(float(logs["temperature"]))
  move = np.abs(net.theta_cells.numpy() - before).max()
  paper = 3e-4 * step_sizes.PAPER_STEPS
  assert paper / 2 <= move <= 2 * paper, move
  assert taus[-1] == pytest.approx(0.1, rel=1e-5) and taus[0] == pytest.approx(
      0.1 ** (1 / steps), rel=1e-5)
  np.testing.assert_allclose(float(net.temperature(3)), 0.1 ** 0.5, rtol=1e-6)
  # Φ and the Eq. 1 network's exact cost are logged at every step, at τ after the step
  np.testing.assert_allclose(float(logs["eq1_params"]), net.eq1_cost().numpy()[0])

