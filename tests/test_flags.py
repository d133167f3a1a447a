"""Flag groups (flags/): DARTS names, defaults, one-line validation errors at parse time,
one source for the search's defaults, and retraining presets. (The entry points' handling of
bad flags and flag files: tests/cli/test_flags.py.)"""

import pytest
from absl import flags as absl_flags

from flags.budget import define_budget_flags
from flags.data import define_data_flags
from flags.distribution import define_distribution_flags
from flags.export import define_export_flags
from flags.output import define_output_flags
from flags.search import define_search_flags
from flags.train import define_train_flags

DARTS_NAMES = ["batch_size", "learning_rate", "learning_rate_min", "momentum", "weight_decay",
               "epochs", "init_channels", "layers", "cutout", "cutout_length", "drop_path_prob",
               "auxiliary", "auxiliary_weight", "grad_clip", "arch_learning_rate",
               "arch_weight_decay", "seed", "train_portion", "output_dir", "dataset", "data_dir"]


def all_flags():
  fv = absl_flags.FlagValues()
  define_data_flags(fv)
  define_train_flags(fv)
  define_search_flags(fv)
  define_budget_flags(fv)
  define_export_flags(fv)
  define_distribution_flags(fv)
  define_output_flags(fv)
  return fv


def parse(*args):
  fv = all_flags()
  fv(["prog", *args])
  return fv


def test_darts_flag_names_exist_with_paper_defaults():
  fv = parse()
  for name in DARTS_NAMES:
    assert name in fv, name
  assert fv.batch_size == 64 and fv.learning_rate == 0.025 and fv.learning_rate_min == 0.001
  assert fv.momentum == 0.9 and fv.weight_decay == 3e-4 and fv.epochs == 50
  assert fv.init_channels == 16 and fv.layers == 8 and fv.train_portion == 0.5
  # θ's rate follows the search's length (search/step_sizes.py): the paper's 3e-4 at its
  # 50 epochs × 391 steps
  from rc_darts_tf.search import step_sizes
  assert fv.arch_learning_rate is None and fv.projection_lr is None
  assert step_sizes.resolve(fv.arch_learning_rate, fv.projection_lr,
                            fv.epochs * 391) == pytest.approx((3e-4, 3e-4))
  assert fv.arch_weight_decay == 1e-3
  assert fv.projection_interval == 150 and fv.projection_iters == 500
  assert fv.levels == 3 and fv.learn_connection and fv.constraints == "rc"


def test_define_functions_are_idempotent_and_take_defaults():
  fv = absl_flags.FlagValues()
  define_train_flags(fv, batch_size=96, epochs=600)
  define_train_flags(fv)  # a second call changes nothing
  fv(["prog"])
  assert fv.batch_size == 96 and fv.epochs == 600


@pytest.mark.parametrize("arg, fragments", [
    ("--batch_size=0", ["--batch_size=0"]),
    ("--train_portion=1.5", ["--train_portion=1.5", "between 0 and 1"]),
    ("--dataset=mnist", ["--dataset=mnist", "cifar10", "imagefolder:PATH"]),
    ("--dataset=imagefolder:", ["imagefolder needs a path"]),
    ("--budget_params=2e5:1e5", ["--budget_params=2e5:1e5", "above upper bound"]),
    ("--budget_macs=-3", ["--budget_macs=-3", "finite number >= 0"]),
    ("--budget_macs=lots", ["--budget_macs=lots", "not a number"]),
    ("--constraints=maybe", ["--constraints=maybe", "rc", "none"]),
    ("--strategy=cluster", ["--strategy=cluster", "mirrored", "multi_worker"]),
    ("--formats=tflite_int4", ["--formats=tflite_int4", "tflite_int8"]),
    ("--opset=13", ["--opset=13"]),
    ("--learning_rate=0", ["--learning_rate=0", "> 0"]),
    ("--momentum=1.5", ["--momentum=1.5"]),
    ("--drop_path_prob=1", ["--drop_path_prob=1", "[0, 1)"]),
    ("--levels=0", ["--levels=0"]),
    ("--layers=2", ["--layers=2"]),
])
def test_bad_values_name_the_flag_value_and_what_is_allowed(arg, fragments):
  with pytest.raises(absl_flags.Error) as info:
    parse(arg)
  message = str(info.value)
  for fragment in fragments:
    assert fragment in message, (fragment, message)
  assert "\n" not in message.strip()


def test_good_values_parse():
  fv = parse("--dataset=imagefolder:/data/x", "--budget_params=1.8e5:2.0e5",
             "--budget_macs=:3.3e7", "--constraints=none", "--strategy=mirrored",
             "--formats=onnx", "--formats=tflite_int8", "--nolearn_connection", "--levels=1")
  assert fv.dataset == "imagefolder:/data/x" and fv.formats == ["onnx", "tflite_int8"]
  assert not fv.learn_connection and fv.levels == 1


def test_search_defaults_have_one_source():
  """rc-darts-search's flags, SearchNetwork and Projection default to search/hparams.py's values
  (a search driven from Python is the command line's search)."""
  import inspect
  from rc_darts_tf.search import hparams
  from rc_darts_tf.search.projection import Projection
  from rc_darts_tf.search.supernet import SearchNetwork
  fv = all_flags()
  network = inspect.signature(SearchNetwork.__init__).parameters
  projection = inspect.signature(Projection.__init__).parameters
  expected = {"arch_weight_decay": hparams.ARCH_WEIGHT_DECAY, "levels": hparams.LEVELS,
              "learn_connection": hparams.LEARN_CONNECTION,
              "projection_interval": hparams.PROJECTION_INTERVAL,
              "projection_iters": hparams.PROJECTION_ITERS,
              "projection_method": hparams.PROJECTION_METHOD,
              "lambda_init": hparams.LAMBDA_INIT, "lambda_decay": hparams.LAMBDA_DECAY,
              "warmup_steps": hparams.WARMUP_STEPS,
              "temperature_init": hparams.TEMPERATURE_INIT,
              "temperature_final": hparams.TEMPERATURE_FINAL}
  for name, value in expected.items():
    assert fv[name].default == value, name
    if name in network:
      assert network[name].default == value, name
  assert {"lambda_init", "lambda_decay", "projection_iters", "temperature_final",
          "projection_method", "arch_weight_decay"} <= set(network)
  assert projection["lambda_init"].default == hparams.LAMBDA_INIT
  assert projection["lambda_decay"].default == hparams.LAMBDA_DECAY
  assert projection["max_iters"].default == hparams.PROJECTION_ITERS
  assert projection["method"].default == hparams.PROJECTION_METHOD
  assert network["projection_lr"].default == projection["lr"].default == hparams.PROJECTION_LR
  # the paper's values where it gives them (../shared/DESIGN.md)
  assert (hparams.PROJECTION_INTERVAL, hparams.PROJECTION_ITERS) == (150, 500)
  assert hparams.ARCH_LEARNING_RATE == 3e-4 and hparams.ARCH_WEIGHT_DECAY == 1e-3


def test_presets_fill_only_what_the_command_line_leaves_open():
  from flags.retrain import PRESETS, apply_preset, define_retrain_flags
  from flags.train import define_train_flags
  from flags.data import define_data_flags
  fv = absl_flags.FlagValues()
  define_data_flags(fv)
  define_train_flags(fv)
  define_retrain_flags(fv)
  fv(["prog", "--preset=imagenet", "--epochs=3"])
  changed = apply_preset(fv)
  assert "epochs" not in changed and fv.epochs == 3
  for key in ("layers", "init_channels", "batch_size", "learning_rate", "weight_decay",
              "label_smoothing", "lr_schedule", "lr_decay_rate", "auxiliary", "stem"):
    assert fv[key].value == PRESETS["imagenet"][key], key
  assert fv.layers == 14 and fv.learning_rate == 0.1 and fv.label_smoothing == 0.1

  fv = absl_flags.FlagValues()
  define_data_flags(fv)
  define_train_flags(fv)
  define_retrain_flags(fv)
  fv(["prog", "--layers=8"])
  apply_preset(fv)
  assert fv.layers == 8 and fv.epochs == 600 and fv.batch_size == 96 and fv.cutout
  assert fv.drop_path_prob == 0.3 and fv.auxiliary_weight == 0.4 and fv.grad_clip == 5.0

