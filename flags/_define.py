"""Helpers shared by the flag modules."""

from absl import flags as absl_flags


def already_defined(flag_values: absl_flags.FlagValues, name: str) -> bool:
  """True when `name` is defined in `flag_values` (so a define function can run twice)."""
  return name in flag_values


def check(flag_values, name, predicate, allowed):
  """Register a validator: `predicate(value)` must hold, else `flag --name=value: allowed`."""

  def _validate(value):
    ok = predicate(value)
    if not ok:
      raise absl_flags.ValidationError(allowed)
    return True

  absl_flags.register_validator(name, _validate, flag_values=flag_values)
