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
  """One --budget_<resource> flag ("LOW:HIGH") per resource of resources.REGISTRY (params, MACs,
  latency in ms) and --latency_table, the table latency is priced with (the tuner's hard budget
  too). `budget_params` / `budget_macs`: those flags' defaults."""
  from rc_darts_tf import resources
  if already_defined(flag_values, "budget_params"):
    return
  defaults = {"params": budget_params, "macs": budget_macs}
  for resource in resources.REGISTRY:
    absl_flags.DEFINE_string(resource.flag, defaults.get(resource.name), resource.help,
                             flag_values=flag_values)
    absl_flags.register_validator(resource.flag, _bounds_validator(resource.flag),
                                  flag_values=flag_values)
  absl_flags.DEFINE_string(
      "latency_table", None,
      "Latency table (JSON, written by rc-darts-latency for the budget network's geometry and "
      "the exported file's format): prices latency for --budget_latency_ms. rc-darts-tune takes "
      "one per (C, cells) it tries: table files and directories of them, comma-separated.",
      flag_values=flag_values)


def define_budget_flags(flag_values=absl_flags.FLAGS, *, budget_params=None, budget_macs=None,
                        constraints="rc"):
  """The bound flags (define_bound_flags), --constraints (rc or none) and the geometry
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
