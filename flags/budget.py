"""Budget flags: resource bounds C_L <= Φ <= C_H and the geometry they are stated for."""

from absl import flags as absl_flags

from flags._define import already_defined
from rc_darts_tf.budget import parse_bounds
from rc_darts_tf.errors import BudgetError


def _bounds_validator(what):
  def _validate(value):
    if value is None:
      return True
    try:
      parse_bounds(value, what)
    except BudgetError as error:
      raise absl_flags.ValidationError(str(error)) from None
    return True
  return _validate


def define_bound_flags(flag_values=absl_flags.FLAGS, *, budget_params=None, budget_macs=None):
  """--budget_params and --budget_macs alone (the tuner's hard budget)."""
  if already_defined(flag_values, "budget_params"):
    return
  absl_flags.DEFINE_string(
      "budget_params", budget_params,
      "Parameter bounds LOW:HIGH, e.g. 1.8e5:2.0e5 (either end may be empty). Counted as trainable "
      "weights of the inference network without the auxiliary head, BN γ/β included.",
      flag_values=flag_values)
  absl_flags.register_validator("budget_params", _bounds_validator("budget_params"),
                                flag_values=flag_values)
  absl_flags.DEFINE_string(
      "budget_macs", budget_macs,
      "Multiply-accumulate bounds LOW:HIGH at batch 1, e.g. 2.8e7:3.3e7 (Conv2D, DepthwiseConv2D "
      "and Dense).", flag_values=flag_values)
  absl_flags.register_validator("budget_macs", _bounds_validator("budget_macs"),
                                flag_values=flag_values)


def define_budget_flags(flag_values=absl_flags.FLAGS, *, budget_params=None, budget_macs=None,
                        constraints="rc"):
  """--budget_params, --budget_macs ("LOW:HIGH"), --constraints (rc or none) and the geometry
  the budget is stated for (--budget_layers, --budget_channels, --budget_stem) on `flag_values`;
  a second call is a no-op."""
  define_bound_flags(flag_values, budget_params=budget_params, budget_macs=budget_macs)
  if already_defined(flag_values, "constraints"):
    return
  absl_flags.DEFINE_enum(
      "constraints", constraints, ["rc", "none"],
      "rc: RC-DARTS with the budget constraints; none: plain first-order DARTS (baselines).",
      flag_values=flag_values)
  absl_flags.DEFINE_integer(
      "budget_layers", None,
      "State the budget for a target network with this many cells instead of the search "
      "network (default: the search network).", lower_bound=3, flag_values=flag_values)
  absl_flags.DEFINE_integer(
      "budget_channels", None,
      "Initial channels of the target network the budget is stated for (default: the search "
      "network's).", lower_bound=1, flag_values=flag_values)
  absl_flags.DEFINE_enum("budget_stem", "cifar", ["cifar", "imagenet"],
                         "Stem of the target network the budget is stated for.",
                         flag_values=flag_values)
