"""Which part of a trained network its int8 file loses agreement in (exporters/int8_attribution.py).

  python scripts/int8_attribution.py --model_dir=runs/train --dataset=imagefolder:TREE \\
      [--parity_images=2000] [--calibration_images=200] [--seeds=0,1,2] [--parts=stem,cell0,head]

The images are the export's: the first --parity_images test images and --calibration_images
shuffled training images (one calibration set per seed; seed 0 is rc-darts-export's default),
raw pixels through the model's own preprocessing. For every seed, the int8 file as it ships and
one file per part with that part in float; one JSON line per file, then a table of the means
over the seeds: misses (top-1 disagreements with the Keras network, ties included), tied misses,
logit error std and the share of the int8 file's logit error variance that keeping the part in
float removes.
"""

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--model_dir", required=True, help="a directory rc-darts-train wrote")
  p.add_argument("--dataset", required=True, help="the dataset, as rc-darts-export takes it")
  p.add_argument("--parity_images", type=int, default=2000)
  p.add_argument("--calibration_images", type=int, default=200)
  p.add_argument("--seeds", default="0", help="calibration sets, comma-separated seeds")
  p.add_argument("--parts", default="", help="comma-separated parts (default: all)")
  args = p.parse_args(argv)
  try:
    seeds = [int(s) for s in args.seeds.split(",")]
  except ValueError:
    print(f"int8_attribution: --seeds={args.seeds}: not comma-separated integers", file=sys.stderr)
    return 2
  from rc_darts_tf import model_dir as model_dir_lib
  from rc_darts_tf.errors import RcDartsError
  try:
    trained = model_dir_lib.read(args.model_dir)
    prep, _ = model_dir_lib.preprocessing_for(trained, None)
    from rc_darts_tf import data
    source = data.with_preprocessing(data.load_source(args.dataset, image_size=prep.image_size),
                                     prep)
  except RcDartsError as error:
    print(f"int8_attribution: {error}", file=sys.stderr)
    return 2
  from exporters import artifacts, int8_attribution
  from rc_darts_tf import preprocessing as preprocessing_lib
  model = preprocessing_lib.pixel_model(model_dir_lib.load_network(trained), prep)
  rows = {}
  for seed in seeds:
    images = artifacts.dataset_images(source, args.parity_images, args.calibration_images, seed,
                                      normalise=False)
    try:
      records = int8_attribution.attribute(model, images.parity, images.calibration,
                                           labels=images.labels,
                                           only=[s for s in args.parts.split(",") if s] or None)
    except ValueError as error:      # an unknown --parts name (known once the file is made)
      print(f"int8_attribution: --parts={args.parts}: {error}", file=sys.stderr)
      return 2
    for record in records:
      record["seed"] = seed
      print(json.dumps({k: record[k] for k in ("seed", "part", "float_operators", "disagreements",
                                               "disagreements_tied", "top1_agreement",
                                               "logit_error_std")}), flush=True)
      rows.setdefault(record["part"], []).append(record)
  mean = lambda part, key: sum(r[key] for r in rows[part]) / len(rows[part])  # noqa: E731
  base = mean("int8", "logit_error_std") ** 2
  print(f"\nmeans over {len(seeds)} calibration set(s), {args.parity_images} parity images")
  print(f"{'in float':<10} {'operators':>9} {'misses':>7} {'tied':>5} {'logit err std':>13} "
        f"{'variance removed':>16}")
  for part in rows:
    std = mean(part, "logit_error_std")
    print(f"{'nothing' if part == 'int8' else part:<10} {mean(part, 'float_operators'):>9.0f} "
          f"{mean(part, 'disagreements'):>7.1f} {mean(part, 'disagreements_tied'):>5.1f} "
          f"{std:>13.4f} {100 * (1 - std ** 2 / base):>15.1f}%")
  return 0


if __name__ == "__main__":
  sys.exit(main())
