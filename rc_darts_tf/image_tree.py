"""ImageFolder trees (`--dataset=imagefolder:PATH`, the bundled sample), read without TensorFlow.

A tree is PATH/<split>/<class>/<image>. What is read:
  splits   'train' (required) and the first of 'test', 'validation', 'val' that holds images;
           other folders beside them are not read
  classes  the folders of those splits whose names do not start with '.' (Jupyter's
           .ipynb_checkpoints, .git, ... are not classes); labels are the sorted class names
  images   files directly inside a class folder ending in .jpg, .jpeg, .png, .bmp, .gif or .webp
           (any case): what TensorFlow's decode_image decodes (a GIF gives its first frame)

What is skipped: names starting with '.' (.DS_Store, macOS's ._x.jpg), silently; other files in
a class folder (.tif, .heic, .txt, ...), files directly in a split folder and folders inside a
class folder, counted in one warning line on stderr (`<prog>: warning: dataset ...: N files
skipped ...`).

What is refused (DatasetError, one line): a missing PATH or train/, no readable image in train/,
a class without a readable training image, an inferred input size above
dataset_names.MAX_IMAGE_SIZE (`scan`); an image that cannot be decoded (`verify`, which decodes
every image of the splits read, JPEGs at 1/8 scale, and names up to 3 bad files and their count).

The order of a split's images is tfds.ImageFolder's (paths sorted per class, classes sorted,
then shuffled with random.Random(split name)), so a tree gives the same search halves as with
tensorflow-datasets' reader.
"""

import collections
import concurrent.futures
import dataclasses
import os
import random
import sys
from typing import Dict, List, Optional, Tuple

from rc_darts_tf.dataset_names import MAX_IMAGE_SIZE
from rc_darts_tf.errors import DatasetError

READ_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
READ_LIST = "jpeg (.jpg, .jpeg), png, bmp, gif and webp files are read"
TEST_SPLIT_NAMES = ("test", "validation", "val")
LAYOUT = "expected a PATH/<split>/<label>/<image> tree, e.g. PATH/train/cat/0001.jpg"
# Image formats (as Pillow names them) that tf.io.decode_image decodes; MPO is a phone's JPEG.
_DECODED_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "BMP": "bmp", "GIF": "gif",
                    "WEBP": "webp"}
_BMP_BITS = (8, 24, 32)          # tf.io.decode_bmp: 1, 3 or 4 channels of 8 bits
_SHOWN = 3                       # bad files named in a message


@dataclasses.dataclass
class Tree:
  """An ImageFolder tree as it will be read: images (absolute path, label) of each split read, in
  tfds.ImageFolder's order, and the input size (given, or inferred from the first image)."""

  name: str                       # the dataset as given ('imagefolder:PATH' or 'sample')
  root: str
  class_names: List[str]
  train: List[Tuple[str, int]]
  test_split: Optional[str]       # None when there is no test split
  test: Optional[List[Tuple[str, int]]]
  image_size: int
  skipped: Dict[str, int]         # what was not read, by kind ('.tif files', 'sub-folders', ...)
  verified: bool = False

  @property
  def num_classes(self) -> int:
    """len(class_names)."""
    return len(self.class_names)

  def relative(self, path: str) -> str:
    """`path` relative to the tree's root (for messages)."""
    return os.path.relpath(path, self.root)


def _list_or_refuse(name, path, hint=""):
  """`_list(path)`, or DatasetError naming the folder that cannot be read."""
  try:
    return _list(path)
  except OSError as error:
    raise DatasetError(f"dataset {name}: cannot read {path!r} ({error.strerror or error})"
                       f"{hint}") from None


def _list(path: str):
  """(folders, files) directly in `path`, names sorted, hidden names left out."""
  folders, files = [], []
  with os.scandir(path) as entries:
    for entry in entries:
      if entry.name.startswith("."):
        continue
      (folders if entry.is_dir() else files).append(entry.name)
  return sorted(folders), sorted(files)


def _is_read(filename: str) -> bool:
  return filename.lower().endswith(READ_EXTENSIONS)


def _kind(filename: str) -> str:
  ext = os.path.splitext(filename)[1].lower()
  return f"{ext} file" if ext else "file without extension"


def scan(name: str, root: str, image_size: int = 0, warn=None) -> Tree:
  """List the tree (no decoding; about a second for 100,000 files) and check its layout.

  name: the dataset as the user gave it (used in messages); image_size: the network input side,
  0 = the larger side of the first training image, which must not exceed MAX_IMAGE_SIZE. `warn`
  receives the one-line warning about skipped files (default: written to stderr).
  Raises DatasetError (one line naming the path) as listed in the module docstring.
  """
  root = os.path.expanduser(root)
  if not os.path.isdir(root):
    raise DatasetError(f"dataset {name}: directory {root!r} does not exist; {LAYOUT}")
  splits, _ = _list_or_refuse(name, root, f"; {LAYOUT}")
  if "train" not in splits:
    raise DatasetError(f"dataset {name}: no 'train' split under {root!r} (splits found: "
                       f"{', '.join(splits) or 'none'}); {LAYOUT}")
  skipped = collections.Counter()
  examples = {}
  unread = collections.Counter()  # per train class folder: files that are not read
  for split in ["train"] + [s for s in TEST_SPLIT_NAMES if s in splits]:
    split_dir = os.path.join(root, split)
    classes, loose = _list_or_refuse(name, split_dir)
    skipped["file directly in a split folder"] += len(loose)
    found = {}
    for label in classes:
      folder = os.path.join(split_dir, label)
      inner, files = _list_or_refuse(name, folder)
      skipped["folder inside a class folder"] += len(inner)
      for filename in files:
        if not _is_read(filename):
          skipped[_kind(filename)] += 1
          unread[split, label] += 1
      found[label] = [os.path.join(folder, f) for f in files if _is_read(f)]
    examples[split] = found
    if split != "train" and sum(map(len, found.values())):
      break                       # the first test split that holds images is the one read
  test_split = next((s for s in TEST_SPLIT_NAMES
                     if s in examples and sum(map(len, examples[s].values()))), None)
  skipped = {kind: count for kind, count in skipped.items() if count}
  train_dir = os.path.join(root, "train")
  if not sum(map(len, examples["train"].values())):
    raise DatasetError(f"dataset {name}: {train_dir!r} holds no images ({READ_LIST}"
                       f"{_skipped_text(skipped, '; skipped: ')}); {LAYOUT}")
  tested = {label for label, files in examples[test_split].items() if files} if test_split else ()
  class_names = sorted(set(examples["train"]) | set(tested))
  for label in class_names:
    if not examples["train"].get(label):
      if label in examples["train"]:
        others = unread["train", label]
        where = (f"class folder {os.path.join('train', label)!r} holds no readable image"
                 + (f" (only {others} other file(s))" if others else ""))
      else:
        where = f"class {label!r} has images in {test_split}/ but no folder in train/"
      raise DatasetError(f"dataset {name}: {where}; {READ_LIST}; every class needs training "
                         "images: add some, or remove the folder (folders whose names start "
                         "with '.' are not classes)")
  label_of = {label: k for k, label in enumerate(class_names)}

  def ordered(split):
    # tfds.ImageFolder's order: sorted paths per sorted class, shuffled by the split's name
    items = [(path, label_of[label]) for label in sorted(examples[split])
             for path in examples[split][label]]
    random.Random(split).shuffle(items)
    return items

  train = ordered("train")
  tree = Tree(name=name, root=root, class_names=class_names, train=train, test_split=test_split,
              test=ordered(test_split) if test_split else None, image_size=image_size,
              skipped=skipped)
  if image_size <= 0:
    tree.image_size = _inferred_size(tree)
  if skipped:
    (warn or _warn)(f"dataset {name}: {_skipped_text(skipped)} not read; {READ_LIST}")
  return tree


def _skipped_text(skipped: Dict[str, int], prefix: str = "") -> str:
  """'12 .tif files, 1 .txt file' (most frequent first), after `prefix`; '' when none."""
  if not skipped:
    return ""

  def counted(kind, count):
    head, _, tail = kind.partition(" ")     # pluralise the noun: '.tif file' -> '.tif files'
    if count == 1:
      return f"1 {kind}"
    noun, _, rest = tail.partition(" ") if head.startswith(".") else (head, "", tail)
    if head.startswith("."):
      return f"{count} {head} {noun}s" + (f" {rest}" if rest else "")
    return f"{count} {noun}s" + (f" {rest}" if rest else "")

  return prefix + ", ".join(counted(kind, count) for kind, count in
                            sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])))


def _inferred_size(tree: Tree) -> int:
  """The larger side of the first training image; DatasetError above MAX_IMAGE_SIZE."""
  from PIL import Image
  path = tree.train[0][0]
  problem = _decode_problem(path, header_only=True)
  if problem:
    raise DatasetError(f"dataset {tree.name}: {tree.relative(path)} {problem} (the first "
                       "training image, which gives the input size)")
  with Image.open(path) as image:
    width, height = image.size
  size = max(width, height)
  if size > MAX_IMAGE_SIZE:
    raise DatasetError(
        f"dataset {tree.name}: the input size would be {size}x{size} (the first training image, "
        f"{tree.relative(path)}, is {width}x{height}), above the limit of {MAX_IMAGE_SIZE}: pass "
        f"--image_size=N with N <= {MAX_IMAGE_SIZE} (images are resized to NxN), e.g. "
        "--image_size=224")
  return size


def _decode_problem(path: str, header_only: bool = False) -> Optional[str]:
  """None when TensorFlow's decode_image can decode the file at `path` (checked with Pillow:
  format, BMP depth, then a full decode, JPEGs at 1/8 scale), else why not (a short phrase)."""
  from PIL import Image, UnidentifiedImageError
  try:
    with Image.open(path) as image:
      kind = _DECODED_FORMATS.get(image.format)
      if kind is None:
        return f"is {image.format} data, which TensorFlow does not decode"
      if kind == "bmp":
        bits = _bmp_bits(path)
        if bits not in _BMP_BITS:
          return (f"cannot be decoded ({bits}-bit BMP; TensorFlow decodes 8, 24 and 32-bit "
                  "BMPs)")
      if header_only:
        return None
      if kind == "jpeg":
        width, height = image.size
        image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
      image.load()
  except UnidentifiedImageError:
    return "is not an image (not JPEG, PNG, BMP, GIF or WebP data)"
  except FileNotFoundError:
    return "has disappeared"
  except Exception as error:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError...
    text = " ".join(str(error).replace(path, os.path.basename(path)).split())
    return f"cannot be decoded ({text or type(error).__name__})"
  return None


def _bmp_bits(path: str) -> int:
  with open(path, "rb") as f:
    header = f.read(30)
  return int.from_bytes(header[28:30], "little") if len(header) >= 30 else 0


def verify(tree: Tree, workers: Optional[int] = None) -> None:
  """Decode every image of the splits read (Pillow, several threads; about 1 s per 12,000
  32x32 JPEGs on one core). Raises DatasetError naming up to 3 images that cannot be decoded
  (path relative to the root, and why) and their count. Runs once per Tree."""
  if tree.verified:
    return
  paths = [path for path, _ in tree.train] + [path for path, _ in tree.test or ()]
  workers = workers or min(8, os.cpu_count() or 1)
  if workers > 1 and len(paths) > 256:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
      problems = list(pool.map(_decode_problem, paths, chunksize=64))
  else:
    problems = [_decode_problem(path) for path in paths]
  bad = [(path, problem) for path, problem in zip(paths, problems) if problem]
  if bad:
    shown = "; ".join(f"{tree.relative(path)} {problem}" for path, problem in bad[:_SHOWN])
    more = f"; and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    count = (f"{len(bad)} of {len(paths)} images cannot be decoded: " if len(bad) > 1 else "")
    raise DatasetError(f"dataset {tree.name}: {count}{shown}{more}; delete or replace "
                       f"{'them' if len(bad) > 1 else 'it'} (every image is checked before "
                       "training)")
  tree.verified = True


def _warn(message: str) -> None:
  prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "rc-darts"
  sys.stderr.write(f"{prog}: warning: {' '.join(message.split())}\n")
  sys.stderr.flush()
