"""rc-darts-train: retrain a derived network from scratch with DARTS's evaluation recipe.

  rc-darts-train --genotype=runs/search/genotype.json --dataset=imagefolder:../shared/data/cifar10-jpeg
  rc-darts-train --genotype=DARTS_V2 --preset=cifar10 --dataset=cifar10       # the paper's run
  rc-darts-train --genotype=DARTS_V2 --preset=imagenet --dataset=imagenet2012 --manual_dir=...
  rc-darts-train --evaluate=runs/train --dataset=imagefolder:my_photos     # accuracy, no training

--preset sets the recipe (cifar10, the default, or imagenet); any flag given on the command line
wins over the preset. Writes into --output_dir:
  flags.txt, run.json        the effective flags / the settings a resume must match
  checkpoints/               tf.train checkpoints at every epoch end (weights, optimizer state,
                             epoch, best accuracy): re-running the same command resumes
  history.json               per-epoch train/test loss and accuracy, learning rate, seconds
  best.keras                 the network with the best test accuracy so far (logits only)
  model.keras, saved_model/  the final network (logits only) for the exporters
  model_info.json            genotype, geometry, class names, preprocessing (the training set's
                             per-channel mean/std, preprocessing.py), exact params/MACs, final
                             and best accuracy
  tensorboard/               the same scalars per epoch
With --evaluate=DIR nothing is trained or written: the model in DIR is evaluated on --dataset's
test split through the same evaluation pipeline, normalised with DIR's own statistics.
"""

from rc_darts_tf import cli  # first: quiets TensorFlow before it is imported

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from absl import flags as absl_flags  # noqa: E402

from flags.data import define_data_flags  # noqa: E402
from flags.distribution import define_distribution_flags  # noqa: E402
from flags.output import define_output_flags  # noqa: E402
from flags.retrain import (PRESETS, apply_preset, define_evaluate_flag,  # noqa: E402
                           define_retrain_flags)
from flags.train import define_accelerator_flags, define_train_flags  # noqa: E402

_CIFAR = PRESETS["cifar10"]
define_data_flags(cutout=_CIFAR["cutout"], cutout_length=_CIFAR["cutout_length"])
define_train_flags(**{k: _CIFAR[k] for k in (
    "batch_size", "learning_rate", "learning_rate_min", "momentum", "weight_decay", "epochs",
    "init_channels", "layers", "drop_path_prob", "auxiliary", "auxiliary_weight", "grad_clip")})
define_retrain_flags()
define_accelerator_flags()
define_evaluate_flag()
define_distribution_flags()
define_output_flags(output_dir="runs/train")
FLAGS = absl_flags.FLAGS

SETTINGS = ("dataset", "image_size", "batch_size", "seed", "learning_rate", "learning_rate_min",
            "momentum", "weight_decay", "epochs", "init_channels", "layers", "drop_path_prob",
            "auxiliary", "auxiliary_weight", "grad_clip", "cutout", "cutout_length", "stem",
            "lr_schedule", "lr_decay_rate", "label_smoothing", "max_steps_per_epoch",
            "mixed_precision")
FINISHED = "model_info.json"


def settings_of(genotype) -> dict:
  """The settings a resumed training must share with the run in --output_dir (SETTINGS flags and
  the genotype)."""
  settings = {name: FLAGS[name].value for name in SETTINGS}
  settings["genotype"] = genotype.to_json_dict()
  settings["genotype"].pop("meta", None)
  return settings


def check_output_dir(out: str, settings: dict) -> bool:
  """True when `out` holds an unfinished training with the same settings (resume); refuses a
  finished run, other settings or another kind of run unless --overwrite (run_record.plan);
  never writes."""
  from rc_darts_tf import io_utils, run_record
  out = io_utils.prepare_output_dir(out, (), True)
  defaults = {key: FLAGS[key].default for key in settings if key != "genotype"}
  return run_record.plan(out, "training", settings, defaults, FLAGS.overwrite, (FINISHED,),
                         finished=FINISHED) == "resume"


TRAIN_STRATEGIES = ("default", "mirrored")   # Keras's fit under multi_worker fails (Keras 3.15)


def evaluate(path: str) -> int:
  """--evaluate=DIR: top-1 accuracy and loss of DIR's model on --dataset's test split, through
  the evaluation pipeline with DIR's own preprocessing. Checks DIR and the dataset (every image)
  before TensorFlow is imported."""
  from rc_darts_tf import dataset_check, model_dir
  from rc_darts_tf.errors import RcDartsError
  trained = model_dir.read(path, "--evaluate")
  side = trained.geometry["image_size"]
  if FLAGS["image_size"].present and FLAGS.image_size not in (0, side):
    raise RcDartsError(f"--image_size={FLAGS.image_size}: the model in --evaluate={path} takes "
                       f"{side}x{side} images")
  facts = dataset_check.dataset_facts(FLAGS.dataset, data_dir=FLAGS.data_dir,
                                      manual_dir=FLAGS.manual_dir, download=FLAGS.download,
                                      image_size=side)
  dataset_check.verify_images(facts)
  from rc_darts_tf import data, training
  source = data.load_source(FLAGS.dataset, data_dir=FLAGS.data_dir, manual_dir=FLAGS.manual_dir,
                            download=FLAGS.download, image_size=side, facts=facts)
  model_dir.check_classes(trained, source)
  if source.test_encoded is None:
    raise RcDartsError(f"dataset {source.name}: no test split to evaluate on (expected a 'test', "
                       "'validation' or 'val' folder beside 'train')")
  prep, prep_from = model_dir.preprocessing_for(trained, source)
  source = data.with_preprocessing(source, prep)
  net = model_dir.load_network(trained)
  test = data.eval_pipeline(source.test_encoded(), source, source.num_test, FLAGS.batch_size)
  result = training.evaluate_network(net, test)
  print(f"evaluate: {trained.path} on {source.name} test split ({result['images']} images), "
        f"normalised with {prep_from} mean ({', '.join(f'{m:.4f}' for m in prep.mean)}) and std "
        f"({', '.join(f'{s:.4f}' for s in prep.std)})")
  print(f"top-1 accuracy {100 * result['accuracy']:.2f}% ({result['accuracy']:.6f}), "
        f"loss {result['loss']:.4f}")
  return 0


def main(argv):
  """absl main of rc-darts-train: flags already parsed, `argv` the leftover arguments (refused);
  returns the exit code (bad input: cli.fail, exit 2)."""
  if len(argv) > 1:
    cli.fail("rc-darts-train", f"unexpected arguments {' '.join(argv[1:])!r}: all options are "
             "flags")
  if FLAGS.evaluate:
    return evaluate(FLAGS.evaluate)
  preset_set = apply_preset()
  if FLAGS.strategy not in TRAIN_STRATEGIES:
    cli.fail("rc-darts-train", f"flag --strategy={FLAGS.strategy}: training supports "
             f"{' and '.join(TRAIN_STRATEGIES)} in this version")
  from rc_darts_tf import genotype as genotype_lib
  genotype = genotype_lib.resolve(FLAGS.genotype)
  settings = settings_of(genotype)
  resume = check_output_dir(FLAGS.output_dir, settings)
  out = os.path.abspath(FLAGS.output_dir)
  from rc_darts_tf import dataset_check   # the dataset and every image, before TensorFlow
  facts = dataset_check.dataset_facts(FLAGS.dataset, data_dir=FLAGS.data_dir,
                                      manual_dir=FLAGS.manual_dir, download=FLAGS.download,
                                      image_size=FLAGS.image_size)
  dataset_check.verify_images(facts)
  from rc_darts_tf import distribute as dist
  strategy = dist.make_strategy(FLAGS.strategy)

  import keras
  import tensorflow as tf
  from rc_darts_tf import data, io_utils, network, training

  started = time.perf_counter()
  source = data.load_source(FLAGS.dataset, data_dir=FLAGS.data_dir, manual_dir=FLAGS.manual_dir,
                            download=FLAGS.download, image_size=FLAGS.image_size, facts=facts)
  keras.utils.set_random_seed(FLAGS.seed)
  prepared = training.prepare_retraining(
      genotype, source, FLAGS.init_channels, FLAGS.layers, FLAGS.stem, epochs=FLAGS.epochs,
      batch_size=FLAGS.batch_size, seed=FLAGS.seed, learning_rate=FLAGS.learning_rate,
      learning_rate_min=FLAGS.learning_rate_min, lr_schedule=FLAGS.lr_schedule,
      lr_decay_rate=FLAGS.lr_decay_rate, momentum=FLAGS.momentum,
      weight_decay=FLAGS.weight_decay, label_smoothing=FLAGS.label_smoothing,
      grad_clip=FLAGS.grad_clip, auxiliary=FLAGS.auxiliary,
      auxiliary_weight=FLAGS.auxiliary_weight,
      cutout_length=FLAGS.cutout_length if FLAGS.cutout else 0,
      max_steps_per_epoch=FLAGS.max_steps_per_epoch, mixed_precision=FLAGS.mixed_precision,
      jit_compile=FLAGS.jit_compile, strategy=strategy)
  net, trainer, optimizer = prepared.network, prepared.trainer, prepared.optimizer
  data_split, steps, exact = prepared.split, prepared.steps_per_epoch, prepared.exact
  checkpoint = training.TrainCheckpoint(os.path.join(out, "checkpoints"), net, optimizer)
  start_epoch, history, best = 0, [], -1.0
  if resume:
    try:
      start_epoch = checkpoint.restore()
    except (tf.errors.OpError, AssertionError, ValueError) as error:
      cli.fail("rc-darts-train", f"--output_dir={out}: the checkpoint "
               f"{checkpoint.latest} cannot be restored ({str(error).splitlines()[0]}); pass "
               "--overwrite to start over")
    best = float(checkpoint.best.numpy())
    if os.path.exists(os.path.join(out, "history.json")):
      with open(os.path.join(out, "history.json")) as f:
        history = [r for r in json.load(f) if r["epoch"] <= start_epoch]
  elif FLAGS.overwrite:
    import shutil
    for name in ("checkpoints", "tensorboard", "saved_model"):
      shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    for name in ("history.json", "best.keras", "model.keras", FINISHED, "settings.json",
                 "run.json"):
      if os.path.exists(os.path.join(out, name)):
        os.unlink(os.path.join(out, name))
  os.makedirs(out, exist_ok=True)   # every check has passed: now the run may write
  io_utils.atomic_write_text(os.path.join(out, "flags.txt"), FLAGS.flags_into_string())
  from rc_darts_tf import run_record
  run_record.write(out, "training", settings)

  print(f"train: {source.name}, {data_split.num_train} train / {data_split.num_test} test images, "
        f"{steps} steps/epoch x {FLAGS.epochs} epochs (batch {FLAGS.batch_size}"
        f"{', ' + str(strategy.num_replicas_in_sync) + ' replicas' if strategy.num_replicas_in_sync > 1 else ''}),"
        f" preset {FLAGS.preset}"
        + (", mixed_float16 with loss scaling" if FLAGS.mixed_precision else "")
        + (", XLA (jit_compile)" if FLAGS.jit_compile else ""))
  print(f"  network: {FLAGS.layers} cells, C={FLAGS.init_channels}, {FLAGS.stem} stem, "
        f"{genotype.levels} level(s), connection {genotype.connection or 'fixed (DARTS)'}; "
        f"{exact.params:,} params, {exact.macs:,} MACs at {source.image_size}x{source.image_size}"
        f"{', auxiliary head ' + str(FLAGS.auxiliary_weight) if FLAGS.auxiliary else ''}")
  if resume:
    print(f"  resuming from {checkpoint.latest}: epoch {start_epoch} done, best test accuracy "
          f"{100 * max(best, 0):.2f}%")
  print(f"  output: {out}")
  sys.stdout.flush()

  # A resumed run reshuffles with a seed derived from (seed, first epoch).
  if start_epoch:
    data_split = data.retrain_split(source, FLAGS.batch_size, FLAGS.seed + 7919 * start_epoch,
                                    FLAGS.cutout_length if FLAGS.cutout else 0)
  writer = tf.summary.create_file_writer(os.path.join(out, "tensorboard", "train"))
  epoch_end = training.EpochEnd(out, net, checkpoint, data_split.test, FLAGS.epochs,
                                FLAGS.eval_every, best, history, writer)
  callbacks = [training.DropPathSchedule(net, FLAGS.drop_path_prob, FLAGS.epochs), epoch_end,
               keras.callbacks.TerminateOnNaN()]
  if start_epoch < FLAGS.epochs:
    try:
      trainer.fit(data_split.train.repeat(), epochs=FLAGS.epochs, initial_epoch=start_epoch,
                  steps_per_epoch=steps, callbacks=callbacks, shuffle=False,
                  verbose=1 if sys.stdout.isatty() else 0)
    except FloatingPointError as error:
      cli.fail("rc-darts-train", str(error))
  if trainer.stop_training and len(epoch_end.history) < FLAGS.epochs:
    cli.fail("rc-darts-train", f"training stopped at epoch {len(epoch_end.history) + 1}: the "
             f"loss became non-finite; the last good checkpoint is {checkpoint.latest}")

  network.set_drop_path(net, 0.0)
  final = training.evaluate_network(net, data_split.test)
  best = max(epoch_end.best, final["accuracy"])
  info = training.save_trained(
      out, net, genotype, {"init_channels": FLAGS.init_channels, "layers": FLAGS.layers,
                           "stem": FLAGS.stem}, source, final, exact,
      extra={"epochs": FLAGS.epochs, "preset": FLAGS.preset, "best_test_accuracy": best,
             "train_seconds_this_run": round(time.perf_counter() - started, 1),
             "train_seconds_total": round(sum(r["seconds"] for r in epoch_end.history), 1)})
  print(f"\nfinal test accuracy {100 * final['accuracy']:.2f}% on {final['images']} images "
        f"(best {100 * info['best_test_accuracy']:.2f}%), {exact.params:,} params, "
        f"{exact.macs:,} MACs; {info['train_seconds_total']:.0f} s of training")
  print(f"  wrote {out}/model.keras, saved_model/, model_info.json")
  del preset_set
  return 0


def run():
  """The `rc-darts-train` console script (cli.run: bad input is one line on stderr and exit 2)."""
  cli.run(main)


if __name__ == "__main__":
  run()
