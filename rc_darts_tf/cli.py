"""Shared plumbing for the absl entry points.

`run(main)` runs `main` under `absl.app.run` (so `--flagfile`, `--helpfull` and `--helpshort` work)
with two project rules on top:
  * a bad flag value (absl validator, enum, type or unknown flag) is reported as ONE line on stderr,
    `<prog>: error: flag --name=value: what is allowed`, with exit code 2, before any work starts;
  * an `RcDartsError` raised by `main` is reported the same way (one line, exit code 2).
Import this module before TensorFlow: it quiets TensorFlow's C++ start-up chatter unless the user
set TF_CPP_MIN_LOG_LEVEL themselves.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags as absl_flags  # noqa: E402
from absl import logging as absl_logging  # noqa: E402  (also defines --verbosity)

from rc_darts_tf.errors import RcDartsError  # noqa: E402

EXIT_USAGE = 2
_HELP_FLAGS = {"--help", "-help", "-h", "-?", "--helpshort", "-helpshort", "--helpfull",
               "-helpfull", "--helpxml", "-helpxml"}


def _prog(argv):
  return os.path.basename(argv[0]) if argv else "rc-darts"


def fail(prog: str, message: str) -> "NoReturn":  # noqa: F821
  """Print one line `<prog>: error: <message>` on stderr and exit 2."""
  first_line = " ".join(str(message).split())
  sys.stderr.write(f"{prog}: error: {first_line}\n")
  sys.stderr.flush()
  sys.exit(EXIT_USAGE)


def parse_flags(argv):
  """absl flags parser: one-line error and exit 2 instead of absl's multi-line FATAL and exit 1."""
  try:
    return absl_flags.FLAGS(argv)
  except absl_flags.Error as error:
    fail(_prog(argv), str(error))
  except SystemExit as done:
    # absl's --help/--helpshort/--helpfull print the help and exit 1; asking for help succeeds.
    if done.code == 1 and any(arg.split("=")[0] in _HELP_FLAGS for arg in argv[1:]):
      sys.exit(0)
    raise


def run(main):
  """Run `main(argv)` under absl.app with the project's error conventions."""

  def _main(argv):
    # Library INFO/WARNING chatter (tfds, TensorFlow's Python side) stays out of the user's way
    # unless they ask for it with --verbosity=0 (or -v 0).
    if not absl_flags.FLAGS["verbosity"].present:
      absl_logging.set_verbosity(absl_logging.ERROR)
    try:
      return main(argv)
    except RcDartsError as error:
      fail(_prog(argv), str(error))

  app.run(_main, flags_parser=parse_flags)
