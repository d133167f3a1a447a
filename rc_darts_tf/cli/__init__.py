"""Shared plumbing for the absl entry points.

`run(main)` runs `main` under `absl.app.run` (so `--flagfile`, `--helpfull` and `--helpshort` work)
with two project rules on top:
  * a bad flag value (absl validator, enum, type or unknown flag) is reported as ONE line on stderr,
    `<prog>: error: flag --name=value: what is allowed`, with exit code 2, before any work starts;
  * an `RcDartsError` raised by `main` is reported the same way (one line, exit code 2).
Import this module before TensorFlow: it quiets TensorFlow's C++ start-up chatter unless the user
set TF_CPP_MIN_LOG_LEVEL themselves. TensorFlow 2.21 prints a few lines on stderr while it is
imported whatever TF_CPP_MIN_LOG_LEVEL says (they are logged before absl::InitializeLog), so the
first `import tensorflow` of the process, wherever it happens (here, in Keras or in
tensorflow-datasets), runs with file descriptor 2 captured; afterwards every captured line is
written back to stderr except the ones the log level hides (`_is_startup_noise`). A refusal is
then the only line on stderr. `--verbosity=0` or TF_CPP_MIN_LOG_LEVEL=0 shows them all.
It also sets ORT_DISABLE_TELEMETRY=1 unless the user set it: onnxruntime (>= 1.29) reads it when it
is imported (by the exporters, or lazily by tf2onnx), and its usage uploader would otherwise make
network calls while latency is timed and, where the home directory is read-only, print "Failed to
persist telemetry device ID" on stderr.
"""

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from typing import NoReturn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from absl import app  # noqa: E402
from absl import flags as absl_flags  # noqa: E402
from absl import logging as absl_logging  # noqa: E402  (also defines --verbosity)

from rc_darts_tf.errors import RcDartsError  # noqa: E402

EXIT_USAGE = 2
_HERE = os.path.dirname(os.path.abspath(__file__))   # the entry points: rc_darts_tf/cli/<tool>.py
# A C++ log line (absl / glog format): severity letter, date, time, thread, file:line]
# (before absl::InitializeLog the seconds count from the epoch: "I0000 00:00:1796082921.187967")
_CPP_LOG_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^ \]]+:\d+\] ")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
# Printed at import on every machine, or on every GPU machine: harmless duplicate registrations
# and the notice that logging is not initialised yet (TensorFlow issue 62075).
_KNOWN_NOISE = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
                "STDERR",
                "Unable to register cuDNN factory", "Unable to register cuFFT factory",
                "Unable to register cuBLAS factory", "computation placer already registered")
_HELP_FLAGS = {"--help", "-help", "-h", "-?", "--helpshort", "-helpshort", "--helpfull",
               "-helpfull", "--helpxml", "-helpxml"}


def _prog(argv):
  """The program's name for messages: the console script's (`rc-darts-search`), also when a tool
  runs as `python -m rc_darts_tf.cli.search`."""
  if not argv:
    return "rc-darts"
  name = os.path.basename(argv[0])
  if name.endswith(".py") and os.path.dirname(os.path.abspath(argv[0])) == _HERE:
    return "rc-darts-" + name[:-len(".py")]
  return name


def fail(prog: str, message: str) -> NoReturn:
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


def _min_log_level() -> int:
  try:
    return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
  except ValueError:
    return 0


def _is_startup_noise(line: str, min_level: int) -> bool:
  """Whether TensorFlow's C++ runtime printed `line` at import although the log level hides it:
  a C++ log line below TF_CPP_MIN_LOG_LEVEL, or one of the known start-up lines (when the level
  hides warnings). Python warnings, tracebacks and anything else are never noise."""
  match = _CPP_LOG_LINE.match(line)
  if match and _SEVERITY[match.group(1)] < min_level:
    return True
  return min_level >= 1 and any(text in line for text in _KNOWN_NOISE)


def _libraries_verbose() -> bool:
  """--verbosity given on the command line (or TF_CPP_MIN_LOG_LEVEL=0): show everything."""
  try:
    if absl_flags.FLAGS.is_parsed() and absl_flags.FLAGS["verbosity"].present:
      return True
  except KeyError:
    pass
  return _min_log_level() <= 0


class _QuietLoader(importlib.abc.Loader):
  """Runs the real loader of `tensorflow` with fd 2 captured; replays all but start-up noise."""

  def __init__(self, loader):
    self.loader = loader

  def create_module(self, spec):
    """The real loader's module (importlib's Loader protocol)."""
    return self.loader.create_module(spec)

  def exec_module(self, module):
    """Execute `tensorflow` with fd 2 captured; write back what the log level lets through (all
    of it when the import fails)."""
    module.__loader__ = self.loader
    if module.__spec__ is not None:
      module.__spec__.loader = self.loader
    if _libraries_verbose():
      return self.loader.exec_module(module)
    from rc_darts_tf.io_utils import redirect_fd2
    with tempfile.TemporaryFile() as captured:
      failed = True
      try:
        with redirect_fd2(captured):
          self.loader.exec_module(module)
        failed = False
      finally:
        captured.seek(0)
        text = captured.read().decode("utf-8", "replace")
        level = -1 if failed else _min_log_level()   # a failed import shows everything
        kept = [line for line in text.splitlines(keepends=True)
                if line.strip() and not _is_startup_noise(line, level)]
        if kept:
          sys.stderr.write("".join(kept))
          sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
  """Finds `tensorflow` once, through the normal path finder, and wraps its loader."""

  def find_spec(self, fullname, path=None, target=None):
    """`tensorflow`'s spec with the quieting loader (importlib's MetaPathFinder protocol); None
    for every other module."""
    if fullname != "tensorflow":
      return None
    if self in sys.meta_path:
      sys.meta_path.remove(self)        # once per process
    spec = importlib.machinery.PathFinder.find_spec(fullname, path)
    if spec is None or spec.loader is None:
      return None
    spec.loader = _QuietLoader(spec.loader)
    return spec


if "tensorflow" not in sys.modules and not any(isinstance(finder, _QuietTensorFlowImport)
                                               for finder in sys.meta_path):
  sys.meta_path.insert(0, _QuietTensorFlowImport())


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
