"""Input pipelines on tensorflow-datasets and tf.data.

Datasets (`--dataset`):
  cifar10, cifar100   `tfds.load` from `--data_dir` (downloaded and prepared once if missing and
                      the network is reachable)
  imagenet2012        tfds with the manually downloaded archives in `--manual_dir`
  imagefolder:PATH    a PATH/<split>/<label>/<image> tree with a `train` split and a `test` (or
                      `validation`, `val`) split, read as tfds.ImageFolder orders it; what is
                      read, skipped and refused: rc_darts_tf/image_tree.py (every image is
                      decoded once before a source is returned)
  sample              a small ImageFolder tree of real CIFAR-10 images bundled with the package
                      (400 train + 100 test, 10 classes, 32x32), so everything runs offline

Splits:
  search   the training split divided into two disjoint halves by a seeded permutation, as DARTS
           does: one trains the weights w, the other the architecture θ (`search_split`)
  retrain  the full training split vs. the test split (`retrain_split`)

Pipelines read encoded images (the files, or tfds `SkipDecoding`), keep only the examples of the
split, decode (and resize when the stored size differs from `image_size`), cache decoded uint8
images in memory when they fit, shuffle, batch, then augment and normalise whole batches at once:
random crop with 4-pixel (size/8) padding and horizontal flip for CIFAR-style inputs,
random-resized crop for ImageNet-style inputs (image_size >= 128), cutout when asked, per-channel
normalisation (the statistics a trained model records: preprocessing.py; `with_preprocessing`
evaluates a model on another dataset with the model's own). Random numbers come from stateless
ops seeded by a seeded `tf.data.Dataset.random`, so a pipeline is reproducible from its seed. Training batches have a
static batch size (drop_remainder) so that a train step is traced once.

The package's modules: sources (Source and the statistics), loading (a --dataset into a Source),
splits (search, hold-out and retraining pipelines), pipelines (decoding, caching, augmentation,
normalisation; also what search/inputs.py builds the search input from). Everything public is
importable from `rc_darts_tf.data`.
"""

from rc_darts_tf.data.sources import (  # noqa: F401
    Source, SearchData, RetrainData, AUTOTUNE, CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN,
    CIFAR100_STD, IMAGENET_MEAN, IMAGENET_STD, IMAGENET_STYLE_MIN_SIZE, CACHE_LIMIT_BYTES,
    STATS_EXAMPLES)
from rc_darts_tf.data.loading import load_source  # noqa: F401
from rc_darts_tf.data.splits import (  # noqa: F401
    search_split, search_subsets, holdout_split, retrain_split)
from rc_darts_tf.data.pipelines import (  # noqa: F401
    cutout, decode, eval_pipeline, finish_batch, random_resized_crop, should_cache,
    train_pipeline, with_preprocessing)
from rc_darts_tf.dataset_check import DEFAULT_PROBE, PROBE_ENV, SAMPLE_DIR  # noqa: F401
from rc_darts_tf.image_tree import TEST_SPLIT_NAMES  # noqa: F401
