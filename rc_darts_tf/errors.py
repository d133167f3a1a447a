"""Project exceptions.

Every error a user can cause (bad flag value, missing dataset, malformed genotype, impossible
budget, ...) is raised as an `RcDartsError` whose message names the bad value and what is allowed.
Entry points turn it into one line on stderr and exit code 2 (see `rc_darts_tf.cli`).
"""


class RcDartsError(Exception):
  """Base class of errors caused by user input; the message is shown to the user as is."""


class DatasetError(RcDartsError):
  """A dataset name is unknown, or the dataset is not available (not prepared, offline, bad path)."""


class BudgetError(RcDartsError):
  """A resource budget is malformed or cannot be met."""


class GenotypeError(RcDartsError):
  """A genotype (file, string or name) is malformed or uses unknown ops / bad node indices."""


class SearchSpaceError(RcDartsError):
  """A search space is unknown, or a saved file records other ops or another op order than this
  version's space of that name (θ's columns would be read as other ops)."""
