"""Regenerate rc_darts_tf/sample_data, the bundled offline sample, from a CIFAR-10 ImageFolder tree.

Takes the first 40 training and 10 test images (by file name) of every class:
  python scripts/make_sample.py --source=../shared/data/cifar10-jpeg
The files are copied byte for byte (real CIFAR-10 JPEGs, 32x32).
"""

import argparse
import os
import shutil

DEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rc_darts_tf", "sample_data")
PER_CLASS = {"train": 40, "test": 10}


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--source", required=True, help="a <split>/<label>/<image> CIFAR-10 tree")
  args = parser.parse_args()
  if os.path.isdir(DEST):
    shutil.rmtree(DEST)
  total = 0
  for split, count in PER_CLASS.items():
    for label in sorted(os.listdir(os.path.join(args.source, split))):
      src = os.path.join(args.source, split, label)
      dst = os.path.join(DEST, split, label)
      os.makedirs(dst)
      for name in sorted(os.listdir(src))[:count]:
        shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
        total += 1
  print(f"wrote {total} images to {os.path.normpath(DEST)}")


if __name__ == "__main__":
  main()
