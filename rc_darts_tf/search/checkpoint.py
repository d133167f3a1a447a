"""Search checkpoints: everything a killed search needs to continue as if never stopped.

One tf.train.Checkpoint (written by a tf.train.CheckpointManager into OUTPUT_DIR/checkpoints/,
the newest `max_to_keep` kept) holds
  model           every variable of the supernet: weights w, θ (theta_cells, theta_connection),
                  batch-norm moving statistics
  optimizer       the weights' SGD state (iterations -> learning-rate schedule, momenta)
  arch_optimizer  θ's Adam state (iterations, moments)
  projection      λ and the number of projections done
  step, epoch     global steps done and epochs completed
  state           JSON: the projection history, the monitor's Φ/θ histories and the running
                  sums of the current epoch's metrics
The input order is a function of (seed, epoch) (search/inputs.py), so (step, epoch) is the whole
RNG/shuffle state: a resumed epoch rebuilds its pipeline and skips the steps already done.

A checkpoint is written atomically by TensorFlow (data files first, then the `checkpoint` index
file), so a kill at any moment leaves the previous checkpoint usable.
"""

import json
import os
from typing import Optional

import tensorflow as tf

from rc_darts_tf import search_space
from rc_darts_tf.errors import RcDartsError

# The run record (run.json) and the directory name need no TensorFlow: a refusal of
# --output_dir reads them before TensorFlow is imported (rc_darts_tf/run_record.py).
from rc_darts_tf.run_record import CHECKPOINT_DIR  # noqa: F401


def _variables(variables):
  """{unique key: tf variable} for a list of Keras variables (their backing tf.Variable)."""
  out = {}
  for i, v in enumerate(variables):
    value = getattr(v, "value", v)
    if not isinstance(value, tf.Variable) and hasattr(v, "_value"):
      value = v._value
    out[f"{i:05d}_{getattr(v, 'path', v.name)}"] = value
  return out


class SearchCheckpoint:
  """The search's tf.train.Checkpoint (layout in the module docstring) and its
  CheckpointManager (prefix "search", numbered by global step). `model` is a compiled
  SearchNetwork whose optimizers are built."""

  def __init__(self, directory: str, model, max_to_keep: int = 2,
               restore_directory: Optional[str] = None):
    """Saves into `directory`; restores from `restore_directory` (default: the same; a
    multi-worker run's non-chief workers save into their own directory and restore the
    chief's)."""
    self.directory = directory
    self.restore_directory = restore_directory or directory
    self.model = model
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
    self.state = tf.Variable("{}", dtype=tf.string, trainable=False, name="search_state")
    projection = model.projection
    self.checkpoint = tf.train.Checkpoint(
        model=_variables(model.variables),
        optimizer=_variables(model.optimizer.variables),
        arch_optimizer=_variables(model.arch_optimizer.variables),
        projection={"lambda": projection.lam, "count": projection.count},
        step=self.step, epoch=self.epoch, state=self.state)
    self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=max_to_keep,
                                              checkpoint_name="search")

  @property
  def latest(self) -> Optional[str]:
    """Path prefix of the newest checkpoint in restore_directory, or None."""
    if self.restore_directory == self.directory:
      return self.manager.latest_checkpoint
    return tf.train.latest_checkpoint(self.restore_directory)

  def restore(self) -> Optional[dict]:
    """Restore the newest checkpoint; returns its JSON state (None when there is none).

    A truncated, corrupt or mismatched checkpoint (another network, other settings) raises a
    one-line RcDartsError (check_compatible reads every tensor and compares the shapes before
    anything is restored). No checkpoint yet, or only the pieces of a first one interrupted
    while being written: None (the run starts afresh).
    """
    path = self.latest
    if path is None:   # none yet, or killed while writing the first one: start afresh
      return None
    check_compatible(path, self.checkpoint)
    try:
      status = self.checkpoint.restore(path)
      status.assert_consumed()
      state = json.loads(self.state.numpy().decode("utf-8"))
    except (tf.errors.OpError, ValueError, IndexError, RuntimeError, AssertionError,
            UnicodeDecodeError) as error:
      first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
      raise RcDartsError(f"checkpoint {path} is truncated or does not match this run "
                         f"({first[:200]}): remove {self.directory} or pass --overwrite") from None
    # θ's columns follow the op order of the space the checkpoint was written with (checkpoints
    # written before spaces were recorded: DARTS's); nothing has been written yet
    recorded = search_space.check_record(state.pop("search_space", None)
                                         if isinstance(state, dict) else None,
                                         f"checkpoint {path}")
    space = getattr(self.model, "search_space", search_space.DEFAULT)
    if recorded is not space:
      raise search_space.SearchSpaceError(
          f"checkpoint {path} is of search space {recorded.name!r}, this run searches "
          f"{space.name!r}: remove {self.directory} or pass --overwrite")
    return state

  def save(self, step: int, epoch: int, state: dict) -> str:
    """Save with `step` global steps and `epoch` epochs done and the JSON `state` (plus the
    search space's record); returns the checkpoint's path prefix."""
    self.step.assign(step)
    self.epoch.assign(epoch)
    space = getattr(self.model, "search_space", search_space.DEFAULT)
    self.state.assign(json.dumps({**state, "search_space": space.record()}))
    return self.manager.save(checkpoint_number=step)


def check_compatible(path: str, checkpoint: tf.train.Checkpoint) -> None:
  """Read the checkpoint's index and every tensor's header before restoring anything: a
  truncated data file, a missing shard or a tensor of another shape is a one-line error."""
  try:
    reader = tf.train.load_checkpoint(path)
    saved = reader.get_variable_to_shape_map()
    for name in saved:
      if name.endswith("/.ATTRIBUTES/VARIABLE_VALUE"):
        reader.get_tensor(name)  # reads the bytes: a truncated data file fails here
  except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as error:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    raise RcDartsError(f"checkpoint {path} is truncated or unreadable ({first[:200]}): remove "
                       f"{os.path.dirname(path)} or pass --overwrite") from None
  expected = _expected_shapes(checkpoint)
  missing = [n for n in expected if n not in saved]
  wrong = [n for n, s in expected.items() if n in saved and list(saved[n]) != list(s)]
  if missing or wrong:
    what = (f"{len(wrong)} tensor(s) of another shape, e.g. {wrong[0]} {saved[wrong[0]]} vs "
            f"{expected[wrong[0]]}" if wrong else f"{len(missing)} missing tensor(s), e.g. "
            f"{missing[0]}")
    raise RcDartsError(f"checkpoint {path} does not match this run ({what}): remove "
                       f"{os.path.dirname(path)} or pass --overwrite")


def _expected_shapes(checkpoint):
  """{checkpoint key: shape} of the variables `checkpoint` would restore."""
  return {f"{path}/.ATTRIBUTES/VARIABLE_VALUE": list(var.shape)
          for var, path in _iterate_paths(checkpoint)}


def _iterate_paths(root, prefix=""):
  """(variable, checkpoint path) for the dict-of-variables layout built by SearchCheckpoint."""
  children = {"model", "optimizer", "arch_optimizer", "projection", "step", "epoch", "state"}
  for name in children:
    child = getattr(root, name, None)
    if child is None:
      continue
    if isinstance(child, tf.Variable):
      yield child, _escape(name)
      continue
    for key, value in dict(child).items():
      yield value, f"{_escape(name)}/{_escape(key)}"


def _escape(name: str) -> str:
  return name.replace(".", "..").replace("/", ".S")
