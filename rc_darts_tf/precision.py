"""Mixed precision for the search and retraining (`--mixed_precision`, issue 17).

`mixed_float16` is Keras's policy (keras.mixed_precision): layers compute in float16 and keep
their variables in float32. What this project adds:
  * `policy(enabled)`: a context that sets Keras's global dtype policy while a network is built
    and restores the previous one afterwards (tests build float32 and mixed networks in one
    process);
  * loss scaling for our own train steps. Both steps (the search's, DARTS-style, and `Trainer`'s)
    clip the gradient and add coupled L2 weight decay before the optimizer, so Keras's
    `LossScaleOptimizer` cannot be handed the scaled gradient directly: the loss is multiplied
    by the optimizer's dynamic scale S, the gradient divided by S (`unscale`), clipped and
    decayed in float32, then given back multiplied by S (`apply`), so the wrapper divides it
    again, skips the step when it is not finite and halves S (doubling it after 2,000 finite
    steps; Keras's defaults).
θ, Φ, the cost tables and the projection stay float32: SearchNetwork does not autocast its own
variables (θ), and the logits are cast to float32 before the loss.
"""

import contextlib
from typing import List, Optional, Sequence

MIXED = "mixed_float16"


@contextlib.contextmanager
def policy(enabled: bool):
  """Keras's global dtype policy `mixed_float16` inside the block when `enabled` (else
  unchanged); the previous policy is restored on exit."""
  import keras
  if not enabled:
    yield
    return
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(MIXED)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)


def loss_scaling(optimizer, enabled: bool = True):
  """`optimizer` wrapped in keras.optimizers.LossScaleOptimizer when `enabled` (else itself)."""
  import keras
  if not enabled or isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
    return optimizer
  return keras.optimizers.LossScaleOptimizer(optimizer)


def inner(optimizer):
  """The optimizer that owns the slots and iterations (the wrapped one, or `optimizer`)."""
  return getattr(optimizer, "inner_optimizer", optimizer)


def scale_of(optimizer, variables: Optional[Sequence] = None):
  """The loss scale S to multiply the loss by (a float32 tensor), or None without scaling. An
  optimizer not built yet is built for `variables` first (Keras's fit builds it at the first
  step, inside the step's first trace)."""
  import keras
  import tensorflow as tf
  if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
    return None
  if not optimizer.built:
    optimizer.build(list(variables))
  return tf.convert_to_tensor(optimizer.dynamic_scale)


def unscale(grads: Sequence, scale) -> List:
  """The gradient of the unscaled loss: grads / S (unchanged when scale is None)."""
  if scale is None:
    return list(grads)
  return [g / scale for g in grads]


def apply(optimizer, grads: Sequence, variables: Sequence, scale: Optional[object] = None):
  """optimizer.apply(grads) for the unscaled gradient; with loss scaling the wrapper receives
  grads · S, so it can unscale them, skip a non-finite step and adapt S."""
  if scale is not None:
    grads = [g * scale for g in grads]
  optimizer.apply(list(grads), list(variables))
