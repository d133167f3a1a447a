"""The Python API: search with a budget -> genotype -> network -> fit -> export, from a notebook.

  from rc_darts_tf import api
  source = api.load_dataset("sample", image_size=16)
  found = api.search(source, budget_params="2e4:6e4", epochs=1, init_channels=8, layers=5,
                     levels=1, batch_size=32, output_dir="runs/api/search")
  trained = api.train(found.genotype, source, init_channels=8, layers=5, epochs=1,
                      batch_size=32, output_dir="runs/api/train")
  report = api.export(trained.output_dir, "runs/api/export", dataset=source)

(examples/api_notebook.py is this, run by tests/test_api.py.)

Each function is what the command-line tool of the same name does, without flags: `search` is
rc-darts-search (search/run.py builds, runs and saves it; same defaults, SearchConfig), `train`
is rc-darts-train's recipe without checkpoints or resume (training.Trainer: cross-entropy, SGD
with momentum, cosine learning rate, weight decay, gradient clipping), `export` is
rc-darts-export on a trained-model directory (exporters/bundle.py). The directories they write
are the tools' (rc-darts-plot, rc-darts-export and `rc-darts-train --evaluate` read them).
Bad input raises rc_darts_tf.errors.RcDartsError (or a subclass) with a one-line message.
"""

import dataclasses
import os
import tempfile
import time
from typing import Dict, List, Optional, Sequence

from rc_darts_tf.errors import RcDartsError


def load_dataset(dataset: str = "sample", image_size: int = 0, data_dir: Optional[str] = None,
                 manual_dir: Optional[str] = None, download: bool = False):
  """A checked dataset (data.Source): "sample" (the bundled 10-class sample), "cifar10" or
  another tfds name, or "imagefolder:PATH" (PATH/train/<label>/<image>, optional PATH/test);
  images resized to `image_size`² pixels (0: the dataset's own size). Every image is decoded
  once first (dataset_check.verify_images); RcDartsError names the first bad one."""
  from rc_darts_tf import data, dataset_check
  facts = dataset_check.dataset_facts(dataset, data_dir=data_dir, manual_dir=manual_dir,
                                      download=download, image_size=image_size)
  dataset_check.verify_images(facts)
  return data.load_source(dataset, data_dir=data_dir, manual_dir=manual_dir, download=download,
                          image_size=image_size, facts=facts)


def _source(dataset, image_size: int = 0):
  return load_dataset(dataset, image_size) if isinstance(dataset, str) else dataset


@dataclasses.dataclass
class SearchResult:
  """What `search` returns. `genotype.meta` holds Φ, the exact cost, the budget and the
  projections as genotype.json does."""
  genotype: object                          # genotype.Genotype (derived: Eq. 1, then the budget)
  exact_cost: Dict[str, int]                # {"params": ..., "macs": ...} of the derived network
  phi: Dict[str, float]                     # Φ(θ) at the end, same units
  theta_cells: object                       # np.ndarray [G, E, O]
  output_dir: str                           # genotype.json, theta.npz, histories, TensorBoard


def search(dataset, budget_params: Optional[str] = None, budget_macs: Optional[str] = None,
           output_dir: Optional[str] = None, constraints: str = "rc", image_size: int = 0,
           strategy=None, verbose: bool = True, budget_latency_ms: Optional[str] = None,
           latency_table: Optional[str] = None, **settings) -> SearchResult:
  """Run an RC-DARTS search (the paper's phases I and II, then the derivation) on `dataset`
  (a data.Source from `load_dataset`, or its spec string) inside the budget
  "LOW:HIGH" on params, MACs and/or latency in ms (either end may be empty: ":3e6"; latency
  needs `latency_table`, rc-darts-latency's table of the budget network); `constraints="none"` runs
  plain first-order DARTS. `settings` are SearchConfig fields (epochs, init_channels, layers,
  levels, batch_size, search_space, ...; defaults are rc-darts-search's). Writes into
  `output_dir` (default: a new temporary directory) what rc-darts-search writes, without
  checkpoints. RcDartsError/BudgetError (one line) for a bad setting, a missing budget or one no
  genotype of the space can meet (the exact achievable range is named)."""
  from rc_darts_tf import budget as budget_lib, resources
  from rc_darts_tf.search import run as search_run
  fields = {f.name for f in dataclasses.fields(search_run.SearchConfig)}
  unknown = sorted(set(settings) - fields)
  if unknown:
    raise RcDartsError(f"search: unknown setting(s) {', '.join(unknown)}; SearchConfig has "
                       f"{', '.join(sorted(fields))}")
  config = search_run.SearchConfig(**settings).check()
  if constraints == "none":
    bounds = {name: None for name in resources.NAMES}
  elif constraints == "rc":
    bounds = budget_lib.parse_budget(budget_params, budget_macs,
                                     "search needs a budget: budget_params='LOW:HIGH', "
                                     "budget_macs='LOW:HIGH' and/or budget_latency_ms='LOW:HIGH', "
                                     "or constraints='none'", budget_latency_ms)
  else:
    raise RcDartsError(f"constraints={constraints!r}: choose 'rc' or 'none'")
  import keras
  import tensorflow as tf
  keras.utils.set_random_seed(config.seed)
  source = _source(dataset, image_size)
  plan = search_run.budget_plan(config, source.num_classes, source.image_size)
  table = search_run.load_latency_table(latency_table, plan, bounds)
  search_run.check_achievable(plan, bounds, config, table)
  out = os.path.abspath(output_dir or tempfile.mkdtemp(prefix="rc_darts_search_"))
  os.makedirs(out, exist_ok=True)
  started = time.perf_counter()
  built = search_run.build(config, source, plan, bounds, strategy, table)
  settings_record = dict(dataclasses.asdict(config), dataset=source.name,
                         budget_params=budget_params, budget_macs=budget_macs,
                         budget_latency_ms=budget_latency_ms, latency_table=latency_table,
                         constraints=constraints)
  # chief=False: no progress lines (the loop and the projections print only on the chief)
  loop, monitor, projection = search_run.attach(built, out, settings_record, chief=verbose)
  monitor.writer = projection.writer = tf.summary.create_file_writer(
      os.path.join(out, "tensorboard", "search"))
  loop.writer = tf.summary.create_file_writer(os.path.join(out, "tensorboard", "train"))
  loop.run()
  genotype = search_run.save_results(built, monitor, projection, out, started)
  meta = genotype.meta
  return SearchResult(genotype, dict(meta["exact_cost"]), dict(meta["phi"]),
                      built.model.theta_cells.numpy(), out)


@dataclasses.dataclass
class TrainResult:
  """What `train` returns."""
  network: object                           # keras.Model [B, S, S, 3] -> [B, K] logits
  test_accuracy: float                      # top-1 on the dataset's test split, in [0, 1]
  history: List[Dict[str, float]]           # Keras's per-epoch logs (loss, accuracy, ...)
  exact_cost: Dict[str, int]                # {"params", "macs"} of the network (costs.py)
  output_dir: str                           # model.keras + model_info.json (model_dir.read)


def train(genotype, dataset, output_dir: Optional[str] = None, init_channels: int = 36,
          layers: int = 20, stem: str = "cifar", epochs: int = 600, batch_size: int = 96,
          learning_rate: float = 0.025, learning_rate_min: float = 0.0, momentum: float = 0.9,
          weight_decay: float = 3e-4, grad_clip: float = 5.0, auxiliary: bool = False,
          auxiliary_weight: float = 0.4, cutout_length: int = 0, seed: int = 2,
          image_size: int = 0, verbose: bool = True) -> TrainResult:
  """Train `genotype` (a genotype.Genotype, a genotype.json path, "DARTS_V2", ...) from scratch
  on `dataset` (data.Source or its spec) with DARTS's evaluation recipe (defaults: DARTS's
  CIFAR-10 run: C = 36, 20 cells, batch 96, SGD 0.025 cosine, 600 epochs) and write a
  trained-model directory into `output_dir` (default: a new temporary directory): model.keras
  and model_info.json as rc-darts-train writes them (without its saved_model/ copy). RcDartsError for a bad
  genotype or a network the geometry cannot hold."""
  import keras
  from rc_darts_tf import genotype as genotype_lib, network, training
  if isinstance(genotype, str):
    genotype = genotype_lib.resolve(genotype)
  genotype.validate()
  keras.utils.set_random_seed(seed)
  source = _source(dataset, image_size)
  try:
    prepared = training.prepare_retraining(
        genotype, source, init_channels, layers, stem, epochs=epochs, batch_size=batch_size,
        seed=seed, learning_rate=learning_rate, learning_rate_min=learning_rate_min,
        momentum=momentum, weight_decay=weight_decay, grad_clip=grad_clip, auxiliary=auxiliary,
        auxiliary_weight=auxiliary_weight, cutout_length=cutout_length)
  except ValueError as error:
    raise RcDartsError(f"genotype at init_channels={init_channels} layers={layers}: "
                       f"{error}") from None
  net, split, exact = prepared.network, prepared.split, prepared.exact
  fit = prepared.trainer.fit(split.train.repeat(), epochs=epochs,
                             steps_per_epoch=split.steps_per_epoch,
                             shuffle=False, verbose=2 if verbose else 0)  # split shuffles
  final = training.evaluate_network(net, split.test)
  out = os.path.abspath(output_dir or tempfile.mkdtemp(prefix="rc_darts_train_"))
  os.makedirs(out, exist_ok=True)
  training.save_trained(out, net, genotype, {"init_channels": init_channels, "layers": layers,
                                             "stem": stem}, source, final, exact,
                        extra={"epochs": epochs, "preset": "api"}, saved_model=False)
  history = [{k: float(v[i]) for k, v in fit.history.items()} for i in range(epochs)]
  if verbose:
    print(f"test accuracy {100 * final['accuracy']:.2f}% on {final['images']} images; "
          f"{exact.params:,} params, {exact.macs:,} MACs; wrote {out}")
  return TrainResult(network.inference_model(net), final["accuracy"], history,
                     exact.as_dict(), out)


def export(model_dir: str, output_dir: str, dataset=None,
           formats: Sequence[str] = ("tflite_fp32", "tflite_fp16", "tflite_int8", "onnx"),
           parity_images: int = 100, calibration_images: int = 100, latency_runs: int = 50,
           seed: int = 2, overwrite: bool = False, verbose: bool = True) -> Dict[str, object]:
  """The files an app uses, from a trained-model directory (`train`'s or rc-darts-train's):
  TFLite fp32/fp16/int8 and ONNX taking raw RGB pixels, labels.txt and report.json (params,
  MACs, latency and parity measured on the files), as rc-darts-export writes them. Parity and
  int8 calibration use `dataset`'s images (data.Source or its spec) through the model's own
  preprocessing, or generated pixels without one. Returns the report. RcDartsError for a bad
  directory, a dataset with other classes, an `output_dir` holding an earlier export (unless
  `overwrite`), or a file that fails to convert or measure."""
  from exporters import artifacts, bundle
  from rc_darts_tf import data, io_utils, model_dir as model_dir_lib
  trained = model_dir_lib.read(model_dir, "model_dir")
  out = io_utils.prepare_output_dir(output_dir, artifacts.MARKERS, overwrite)
  geometry = dict(trained.geometry)
  source = None
  if dataset is not None:
    source = _source(dataset, geometry["image_size"])
    model_dir_lib.check_classes(trained, source)
  prep, _ = model_dir_lib.preprocessing_for(trained, source)
  labels, labels_from = model_dir_lib.labels_for(trained, source, geometry["num_classes"])
  net = model_dir_lib.load_network(trained)
  if source is not None:
    images = artifacts.dataset_images(data.with_preprocessing(source, prep), parity_images,
                                      calibration_images, seed, normalise=False)
  else:
    size = geometry["image_size"]
    images = artifacts.Images(
        artifacts.generated_pixels(parity_images, size, seed),
        artifacts.generated_pixels(calibration_images, size, seed + 1), None,
        f"generated: {parity_images} uniform random pixel images for parity, "
        f"{calibration_images} for int8 calibration (seed {seed})")
  report = bundle.export_network(
      net, out, trained.genotype, geometry, prep, labels, images, formats,
      latency_runs=latency_runs, warmup_runs=min(5, latency_runs), overwrite=overwrite,
      source=trained.path, labels_from=labels_from, log=print if verbose else lambda line: None)
  if verbose:
    from exporters import report as report_lib
    print(report_lib.table(report))
  return report
