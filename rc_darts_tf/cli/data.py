"""rc-darts-data: open a dataset, build the search input pipeline and report what it yields.

Checks a dataset before a long search: how it is split, what a batch looks like, and how fast the
search pipeline (both halves, paired per step) delivers images once decoded images are cached.

  rc-darts-data --dataset=sample
  rc-darts-data --dataset=imagefolder:../shared/data/cifar10-jpeg --batch_size=64 --preview=p.png
"""

from rc_darts_tf import cli  # first: sets up logging before TensorFlow is imported

import sys  # noqa: E402
import time  # noqa: E402

from absl import flags as absl_flags  # noqa: E402

from flags.data import define_data_flags  # noqa: E402
from flags.train import define_batch_flags  # noqa: E402

define_data_flags()
define_batch_flags()
absl_flags.DEFINE_integer("inspect_epochs", 2, "Epochs of the search pipeline to time.",
                          lower_bound=1)
absl_flags.DEFINE_string("preview", None, "Write a PNG grid of augmented training images here.")
FLAGS = absl_flags.FLAGS


def _fmt(values):
  return "(" + ", ".join(f"{v:.3f}" for v in values) + ")"


def main(argv):
  """absl main of rc-darts-data: flags already parsed, `argv` the leftover arguments (refused);
  returns the exit code (bad input: cli.fail, exit 2)."""
  if len(argv) > 1:
    cli.fail("rc-darts-data", f"unexpected arguments {' '.join(argv[1:])!r}: all options are flags")
  from rc_darts_tf import dataset_check   # the dataset and every image, before TensorFlow
  start = time.perf_counter()
  facts = dataset_check.dataset_facts(FLAGS.dataset, data_dir=FLAGS.data_dir,
                                      manual_dir=FLAGS.manual_dir, download=FLAGS.download,
                                      image_size=FLAGS.image_size)
  dataset_check.verify_images(facts)
  import numpy as np
  from rc_darts_tf import data

  out = sys.stdout
  source = data.load_source(FLAGS.dataset, data_dir=FLAGS.data_dir, manual_dir=FLAGS.manual_dir,
                            download=FLAGS.download, image_size=FLAGS.image_size, facts=facts)
  test = f"{source.num_test} test" if source.num_test is not None else "no test split"
  print(f"dataset {source.name}: {source.num_classes} classes, {source.num_train} train / {test} "
        f"images, input {source.image_size}x{source.image_size}x3 ({source.style}-style "
        f"augmentation), opened in {time.perf_counter() - start:.1f} s", file=out)
  print(f"  normalisation: mean {_fmt(source.mean)} std {_fmt(source.std)}", file=out)
  split = data.search_split(source, FLAGS.batch_size, FLAGS.train_portion, FLAGS.seed)
  print(f"  search split (train_portion={FLAGS.train_portion}, seed={FLAGS.seed}): "
        f"{split.num_train} images train the weights, {split.num_val} the architecture "
        f"(disjoint); {split.steps_per_epoch} steps of {FLAGS.batch_size}+{FLAGS.batch_size} "
        "images per epoch", file=out)
  pairs = split.pairs()
  for epoch in range(1, FLAGS.inspect_epochs + 1):
    tick = time.perf_counter()
    steps = 0
    for (x_train, y_train), (x_val, y_val) in pairs:
      if steps == 0 and epoch == 1:
        x = x_train.numpy()
        print(f"  batch: images {tuple(x.shape)} {x.dtype.name} (mean {x.mean():+.2f}, std "
              f"{x.std():.2f}), labels {tuple(y_train.shape)} {y_train.dtype.name} in "
              f"[{int(np.min(y_train))}, {int(np.max(y_train))}]", file=out)
        if FLAGS.preview:
          _write_preview(FLAGS.preview, x, source)
          print(f"  preview of augmented images: {FLAGS.preview}", file=out)
      steps += 1
    seconds = time.perf_counter() - tick
    images = steps * 2 * FLAGS.batch_size
    note = " (includes decoding and caching)" if epoch == 1 else ""
    print(f"  epoch {epoch}: {steps} steps, {images} images in {seconds:.2f} s = "
          f"{images / max(seconds, 1e-9):,.0f} images/s{note}", file=out)
  return 0


def _write_preview(path, images, source):
  """Un-normalise up to 64 images and save them as an 8-wide grid PNG (atomically)."""
  import numpy as np
  from PIL import Image
  from rc_darts_tf import io_utils
  mean = np.array(source.mean) * 255.0
  std = np.array(source.std) * 255.0
  pixels = np.clip(images[:64] * std + mean, 0, 255).astype(np.uint8)
  count, size = pixels.shape[0], pixels.shape[1]
  cols = min(8, count)
  rows = -(-count // cols)
  grid = np.zeros((rows * size, cols * size, 3), np.uint8)
  for i, image in enumerate(pixels):
    r, c = divmod(i, cols)
    grid[r * size:(r + 1) * size, c * size:(c + 1) * size] = image
  scale = max(1, 256 // size)
  picture = Image.fromarray(grid).resize((cols * size * scale, rows * size * scale),
                                         Image.NEAREST)
  with io_utils.atomic_path(path) as tmp:
    picture.save(tmp, format="PNG")


def run():
  """The `rc-darts-data` console script (cli.run: bad input is one line on stderr and exit 2)."""
  cli.run(main)


if __name__ == "__main__":
  run()
