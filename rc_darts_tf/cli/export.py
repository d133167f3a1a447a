"""rc-darts-export: TFLite (fp32, fp16, int8) and ONNX files with params, MACs, latency and parity
measured on the files themselves, beside costs.py's figures.

  rc-darts-export --model_dir=runs/train --dataset=imagefolder:../shared/data/cifar10-jpeg \
      --output_dir=runs/export
  rc-darts-export --genotype=DARTS_V2 --init_channels=36 --layers=20 --output_dir=runs/darts_v2
  rc-darts-export --genotype=runs/search/genotype.json --formats=tflite_int8 --formats=onnx

Input: --model_dir (a directory written by rc-darts-train: model.keras + model_info.json) or
--genotype with --init_channels, --layers, --stem, --image_size, --num_classes (random weights,
for cost-only studies). Images: with --dataset on the command line, the dataset's test images for
parity and its training images for int8 calibration; otherwise generated uniform random pixels
(seeded by --seed).

The files take raw RGB pixels, [1, S, S, 3] NHWC in [0, 255]: float32 for model_fp32/_fp16.tflite
and model.onnx (batch free), uint8 for model_int8.tflite (full integer; its output is int8 logits
with the file's scale / zero point). The normalisation (pixel / 255 - mean) / std is inside every
file, with the statistics the model was trained with (model_info.json), never those of --dataset:
a dataset given here is decoded and resized like training data and fed as pixels, so the Keras
accuracy in report.json is what `rc-darts-train --evaluate=DIR --dataset=...` prints. Decoding and
resizing stay with the app (preprocessing.py says how). With --genotype the statistics are the
dataset's, or CIFAR-10's without one. Class names: model_info.json's (else --dataset's, else
class_<i>), in labels.txt and inside each file (exporters/metadata.py).

Writes into --output_dir (refused if it holds an earlier export, unless --overwrite; every file
is written atomically, and a failed run removes what it wrote):
  model_fp32.tflite, model_fp16.tflite, model_int8.tflite, model.onnx   as --formats asks
  labels.txt                                                            one class name per line
  report.json                                                           see exporters/report.py
and prints one table row per file. examples/classify_jpeg.py classifies a JPEG with the int8
file using only ai-edge-litert, Pillow and labels.txt.
"""

from rc_darts_tf import cli  # first: quiets TensorFlow before it is imported

import sys  # noqa: E402
import time  # noqa: E402

from absl import flags as absl_flags  # noqa: E402

from flags.data import define_data_flags  # noqa: E402
from flags.export import define_export_flags, define_export_source_flags  # noqa: E402
from flags.output import define_output_flags  # noqa: E402
from flags.train import define_batch_flags  # noqa: E402

define_export_flags()
define_export_source_flags()
define_data_flags()
define_batch_flags()
define_output_flags(output_dir="runs/export")
absl_flags.DEFINE_string(
    "latency_table", None,
    "A latency table of this network's geometry (rc-darts-latency): the TFLite file of its "
    "format is reported with its predicted latency next to the measured one.")
FLAGS = absl_flags.FLAGS
PROG = "rc-darts-export"
DEFAULT_IMAGE_SIZE = 32


def _resolve_input():
  """(genotype, geometry dict, TrainedModel or None); only reads, raises RcDartsError."""
  from rc_darts_tf import genotype as genotype_lib
  from rc_darts_tf import model_dir as model_dir_lib
  from rc_darts_tf.errors import GenotypeError, RcDartsError
  if FLAGS.model_dir and FLAGS["genotype"].present:
    raise RcDartsError("give --model_dir or --genotype, not both")
  if not FLAGS.model_dir and not FLAGS.genotype:
    raise RcDartsError("nothing to export: give --model_dir=DIR (a trained model from "
                       "rc-darts-train) or --genotype=SPEC (random weights)")
  if FLAGS.model_dir:
    trained = model_dir_lib.read(FLAGS.model_dir)
    if FLAGS["image_size"].present and FLAGS.image_size not in (0, trained.geometry["image_size"]):
      raise RcDartsError(f"--image_size={FLAGS.image_size}: the model in --model_dir="
                         f"{FLAGS.model_dir} takes {trained.geometry['image_size']}x"
                         f"{trained.geometry['image_size']} images")
    if trained.preprocessing is None and not FLAGS["dataset"].present:
      model_dir_lib.preprocessing_for(trained, None)      # raises: which statistics to put in
    return trained.genotype, dict(trained.geometry), trained
  genotype = genotype_lib.resolve(FLAGS.genotype).validate()
  geometry = {"init_channels": FLAGS.init_channels, "layers": FLAGS.layers, "stem": FLAGS.stem,
              "image_size": FLAGS.image_size or DEFAULT_IMAGE_SIZE,
              "num_classes": FLAGS.num_classes}
  if genotype is None:
    raise GenotypeError(f"--genotype={FLAGS.genotype}: no genotype")
  return genotype, geometry, None


def _latency_table(plan, formats):
  """--latency_table loaded and checked against the exported network and --formats / --threads
  (None without the flag); LatencyTableError (one line) before any work."""
  if not FLAGS.latency_table:
    return None
  from rc_darts_tf import latency
  from rc_darts_tf.latency import LatencyTableError
  table = latency.load(FLAGS.latency_table)
  latency.check_geometry(table, plan, what="the exported network")
  if table.header["format"] not in formats:
    raise LatencyTableError(f"--latency_table={FLAGS.latency_table} is for "
                            f"{table.header['format']}, which --formats does not write")
  if int(table.header.get("threads", 1)) != FLAGS.threads:
    raise LatencyTableError(f"--latency_table={FLAGS.latency_table} was measured with "
                            f"{table.header.get('threads')} thread(s), --threads={FLAGS.threads}")
  return table


def _predicted_latency(report, table, plan, genotype, out):
  """Add the table's prediction to the record of the file of its format (report.json again),
  compared with the file's best-block median: the statistic the table's parts were timed with
  (measure.Latency)."""
  import os
  from exporters import report as report_lib
  predicted = table.predict(plan, genotype.normal, genotype.reduce, genotype.connection)
  for record in report["artifacts"]:
    if record["format"] == table.header["format"]:
      lat = record["latency_ms"]
      measured = float(lat["best_block_median"])
      record["latency_predicted"] = {
          "table": FLAGS.latency_table, "predicted_ms": round(predicted, 4),
          "measured_ms": measured,
          "measured": f"median of the quietest of {lat['rounds']} blocks of the "
                      f"{lat['runs']} timed runs",
          "error_percent": round((predicted - measured) / measured * 100.0, 2),
          "fit_slope": table.fit.slope, "fit_networks": table.fit.networks}
  report_lib.write_json(os.path.join(out, "report.json"), report)


def main(argv):
  """absl main of rc-darts-export: flags already parsed, `argv` the leftover arguments (refused);
  returns the exit code (bad input: cli.fail, exit 2)."""
  if len(argv) > 1:
    cli.fail(PROG, f"unexpected arguments {' '.join(argv[1:])!r}: all options are flags")
  from rc_darts_tf import io_utils
  from rc_darts_tf.errors import RcDartsError
  started = time.perf_counter()
  formats = list(dict.fromkeys(FLAGS.formats))
  genotype, geometry, trained = _resolve_input()
  model_dir = trained.path if trained is not None else None
  from exporters import artifacts
  out = io_utils.prepare_output_dir(FLAGS.output_dir, artifacts.MARKERS, FLAGS.overwrite)
  facts = None
  if FLAGS["dataset"].present:        # the dataset and every image, before TensorFlow
    from rc_darts_tf import dataset_check
    facts = dataset_check.dataset_facts(FLAGS.dataset, data_dir=FLAGS.data_dir,
                                        manual_dir=FLAGS.manual_dir, download=FLAGS.download,
                                        image_size=geometry["image_size"])
    dataset_check.verify_images(facts)
  from rc_darts_tf import costs   # the geometry and --latency_table, before TensorFlow
  if facts is not None and trained is None and not FLAGS["num_classes"].present:
    geometry["num_classes"] = facts.num_classes
  plan = costs.plan_for(genotype, geometry["init_channels"], geometry["layers"],
                        geometry["stem"], geometry["image_size"], geometry["num_classes"])
  latency_table = _latency_table(plan, formats)
  from rc_darts_tf import data, model_dir as model_dir_lib, network
  from rc_darts_tf import preprocessing as preprocessing_lib
  source = None
  if facts is not None:
    source = data.load_source(FLAGS.dataset, data_dir=FLAGS.data_dir,
                              manual_dir=FLAGS.manual_dir, download=FLAGS.download,
                              image_size=geometry["image_size"], facts=facts)
    if trained is None and not FLAGS["num_classes"].present:
      geometry["num_classes"] = source.num_classes
      plan = network.plan_for(genotype, geometry["init_channels"], geometry["layers"],
                              geometry["stem"], geometry["image_size"], geometry["num_classes"])
    if trained is not None:
      model_dir_lib.check_classes(trained, source)
  # The model's own statistics, not the dataset's: every image goes through the model's
  # preprocessing, and the files carry it.
  if trained is not None:
    prep, prep_from = model_dir_lib.preprocessing_for(trained, source)
  elif source is not None:
    prep = preprocessing_lib.Preprocessing.from_source(source)
    prep_from = f"dataset {source.name}'s"
  else:
    prep = preprocessing_lib.Preprocessing(geometry["image_size"], data.CIFAR10_MEAN,
                                           data.CIFAR10_STD)
    prep_from = "CIFAR-10's (no --dataset)"
  if source is not None:
    source = data.with_preprocessing(source, prep)
  labels, labels_from = model_dir_lib.labels_for(trained, source, geometry["num_classes"])

  import keras
  if trained is not None:
    net = model_dir_lib.load_network(trained)
    weights = "trained"
  else:
    keras.utils.set_random_seed(FLAGS.seed)
    try:
      net = network.build_network(genotype, geometry["init_channels"], geometry["layers"],
                                  geometry["stem"], geometry["image_size"],
                                  geometry["num_classes"], seed=FLAGS.seed)
    except ValueError as error:     # e.g. channels not divisible by a grouped conv's groups
      raise RcDartsError(f"--genotype={FLAGS.genotype} at --init_channels="
                         f"{geometry['init_channels']} --layers={geometry['layers']}: "
                         f"{error}") from None
    weights = f"random (seed {FLAGS.seed})"
  expected = artifacts.expected_costs(net, plan, genotype)
  if source is not None:
    images = artifacts.dataset_images(source, FLAGS.parity_images, FLAGS.calibration_images,
                                      FLAGS.seed, normalise=False)
  else:
    images = artifacts.Images(
        artifacts.generated_pixels(FLAGS.parity_images, geometry["image_size"], FLAGS.seed),
        artifacts.generated_pixels(FLAGS.calibration_images, geometry["image_size"],
                                   FLAGS.seed + 1), None,
        f"generated: {FLAGS.parity_images} uniform random pixel images for parity, "
        f"{FLAGS.calibration_images} for int8 calibration (seed {FLAGS.seed})")

  print(f"export: {'--model_dir=' + model_dir if model_dir else '--genotype=' + FLAGS.genotype} "
        f"({weights} weights): {geometry['layers']} cells, C={geometry['init_channels']}, "
        f"{geometry['stem']} stem, {geometry['image_size']}x{geometry['image_size']}, "
        f"{geometry['num_classes']} classes; costs.py: {expected.params:,} params, "
        f"{expected.macs:,} MACs")
  print(f"  input: raw RGB pixels in [0, 255], normalised inside the files with {prep_from} "
        f"mean ({', '.join(f'{m:.4f}' for m in prep.mean)}) and std "
        f"({', '.join(f'{v:.4f}' for v in prep.std)}); labels: {labels_from}")
  print(f"  images: {images.source}")
  print(f"  output: {out}")
  sys.stdout.flush()

  from exporters import bundle, report as report_lib
  report = bundle.export_network(
      net, out, genotype, geometry, prep, labels, images, formats, plan=plan, opset=FLAGS.opset,
      threads=FLAGS.threads, latency_runs=FLAGS.latency_runs, warmup_runs=FLAGS.warmup_runs,
      latency_rounds=FLAGS.latency_rounds,
      overwrite=FLAGS.overwrite, source=model_dir or FLAGS.genotype, weights=weights,
      labels_from=labels_from, started=started, log=lambda line: print(line, flush=True))
  records = report["artifacts"]
  if latency_table is not None:
    _predicted_latency(report, latency_table, plan, genotype, out)
  print()
  print(report_lib.table(report))
  for record in records:
    if "latency_predicted" in record:
      p = record["latency_predicted"]
      print(f"{record['file']}: predicted {p['predicted_ms']:.3f} ms by {p['table']} "
            f"({p['error_percent']:+.1f} % against the measured {p['measured_ms']:.3f} ms, the "
            f"{p['measured']}; all runs: median {record['latency_ms']['median']:.3f} ms)")
  print(f"\nwrote {', '.join(r['file'] for r in records)}, labels.txt, report.json in {out} "
        f"({report['seconds']:.0f} s)")
  failed = [r["format"] for r in records if not r["parity"]["passed"]]
  if failed:
    print(f"warning: parity check failed for {', '.join(failed)} (see report.json)",
          file=sys.stderr)
    if FLAGS.require_parity:
      return 1
  return 0


def run():
  """The `rc-darts-export` console script (cli.run: bad input is one line on stderr and exit 2)."""
  cli.run(main)


if __name__ == "__main__":
  run()
