"""Image trees from the wild (rc_darts_tf/image_tree.py, read through data.load_source):
tfds.ImageFolder's order, what is read (jpeg, png, bmp, gif, webp), skipped (hidden files, other
files, counted in one warning) and refused with one line (undecodable images, classes without
readable training images, images above the input-size limit)."""

import os

import pytest
import tensorflow_datasets as tfds

from rc_darts_tf import data
from rc_darts_tf.errors import DatasetError
from tests.helpers import make_image_tree


def _convert(root, split, label, fmt, **save):
  """Re-save every image of root/split/label as `fmt` (the old files are removed)."""
  from PIL import Image
  mode = save.pop("mode", "RGB")
  folder = os.path.join(root, split, label)
  for name in os.listdir(folder):
    path = os.path.join(folder, name)
    Image.open(path).convert(mode).save(f"{os.path.splitext(path)[0]}.{fmt}", **save)
    os.remove(path)


def test_tree_order_is_tfds_image_folders(image_tree):
  """The files are read in tfds.ImageFolder's order: the same search halves as before."""
  source = data.load_source(f"imagefolder:{image_tree}")
  builder = tfds.ImageFolder(image_tree)
  assert source.class_names == list(builder.info.features["label"].names)
  for split, make in (("train", source.train_encoded), ("test", source.test_encoded)):
    ours = [(bytes(image), int(label)) for image, label in make().as_numpy_iterator()]
    theirs = [(bytes(image), int(label)) for image, label in builder.as_dataset(
        split=split, shuffle_files=False, as_supervised=True,
        decoders={"image": tfds.decode.SkipDecoding()}).as_numpy_iterator()]
    assert ours == theirs, split


def test_undecodable_images_are_refused_by_name_before_any_pipeline(tmp_path):
  root = make_image_tree(str(tmp_path / "t"), classes=2, train_per_class=12, test_per_class=3,
                         size=16, fmt="jpg")
  bad = os.path.join(root, "train", "class_1", "0005.jpg")
  with open(bad, "rb") as f:
    content = f.read()
  with open(bad, "wb") as f:
    f.write(content[:len(content) // 3])
  with pytest.raises(DatasetError) as info:
    data.load_source(f"imagefolder:{root}")
  message = str(info.value)
  assert "train/class_1/0005.jpg cannot be decoded" in message and root in message
  assert "\n" not in message
  # several bad files (one in the test split, one that is no image at all): counted, named
  with open(os.path.join(root, "test", "class_0", "0000.jpg"), "wb") as f:
    f.write(b"<html>not an image</html>")
  with pytest.raises(DatasetError) as info:
    data.load_source(f"imagefolder:{root}")
  message = str(info.value)
  assert "2 of 30 images cannot be decoded" in message
  assert "test/class_0/0000.jpg is not an image" in message and "0005.jpg" in message


def test_hidden_folders_and_files_are_not_classes_or_images(tmp_path):
  root = make_image_tree(str(tmp_path / "t"), classes=2, train_per_class=6, test_per_class=2,
                         size=8)
  os.makedirs(os.path.join(root, "train", ".ipynb_checkpoints"))
  os.makedirs(os.path.join(root, "test", ".ipynb_checkpoints"))
  with open(os.path.join(root, "train", "class_0", "._0000.png"), "wb") as f:
    f.write(b"\x00\x05\x16\x07 AppleDouble")          # macOS resource fork: not an image
  with open(os.path.join(root, "train", "class_1", ".DS_Store"), "wb") as f:
    f.write(b"\x00")
  source = data.load_source(f"imagefolder:{root}")
  assert source.class_names == ["class_0", "class_1"] and source.num_classes == 2
  assert (source.num_train, source.num_test) == (12, 4)


@pytest.mark.parametrize("make_bad, fragment", [
    (lambda root: os.makedirs(os.path.join(root, "train", "class_9")),
     "class folder 'train/class_9' holds no readable image"),
    (lambda root: (os.makedirs(os.path.join(root, "train", "scans")),
                   open(os.path.join(root, "train", "scans", "1.tif"), "wb").close()),
     "'train/scans' holds no readable image (only 1 other file(s))"),
    (lambda root: _convert(root, "train", "class_1", "tiff"),
     "'train/class_1' holds no readable image (only 6 other file(s))"),
    (lambda root: make_image_tree(os.path.join(root, "extra"), classes=1, splits={"test": 2})
     and os.rename(os.path.join(root, "extra", "test", "class_0"),
                   os.path.join(root, "test", "only_in_test")),
     "class 'only_in_test' has images in test/ but no folder in train/"),
])
def test_class_without_readable_training_images_is_refused(tmp_path, make_bad, fragment):
  root = make_image_tree(str(tmp_path / "t"), classes=2, train_per_class=6, test_per_class=2,
                         size=8)
  make_bad(root)
  with pytest.raises(DatasetError) as info:
    data.load_source(f"imagefolder:{root}")
  assert fragment in str(info.value) and "jpeg (.jpg, .jpeg), png, bmp, gif and webp files are " \
      "read" in str(info.value)


def test_bmp_gif_webp_are_read_and_other_files_are_counted(tmp_path, capsys):
  root = make_image_tree(str(tmp_path / "t"), classes=4, train_per_class=4, test_per_class=1,
                         size=8, fmt="jpg")
  for split in ("train", "test"):
    _convert(root, split, "class_1", "bmp")
    _convert(root, split, "class_2", "gif")
    _convert(root, split, "class_3", "webp", lossless=True)
  for name in ("a.tif", "b.tif", "notes.txt"):
    open(os.path.join(root, "train", "class_0", name), "wb").close()
  open(os.path.join(root, "train", "README"), "wb").close()
  source = data.load_source(f"imagefolder:{root}")
  assert (source.num_train, source.num_test, source.num_classes) == (16, 4, 4)
  warning = capsys.readouterr().err.strip().splitlines()
  assert len(warning) == 1, warning
  assert ("warning: dataset imagefolder:" in warning[0] and "2 .tif files, 1 .txt file, 1 file "
          "directly in a split folder not read" in warning[0]), warning
  labels = []
  for images, batch_labels in data.retrain_split(source, 4).test:
    assert images.shape[1:] == (8, 8, 3)
    labels += batch_labels.numpy().tolist()
  assert sorted(labels) == [0, 1, 2, 3]     # every format decodes, every class is there


def test_all_bmp_tree_is_read(tmp_path):
  root = make_image_tree(str(tmp_path / "t"), classes=2, train_per_class=4, test_per_class=1,
                         size=8, fmt="bmp")
  source = data.load_source(f"imagefolder:{root}")
  assert source.num_train == 8 and source.image_size == 8
  x, _ = next(iter(data.search_split(source, 2, seed=0).train))
  assert x.shape == (2, 8, 8, 3)


def test_bmp_tensorflow_cannot_decode_is_refused(tmp_path):
  root = make_image_tree(str(tmp_path / "t"), classes=2, train_per_class=4, test_per_class=1,
                         size=8, fmt="png")
  _convert(root, "train", "class_1", "bmp", mode="1")     # 1-bit BMP: decode_bmp refuses it
  with pytest.raises(DatasetError, match=r"train/class_1/\d+.bmp cannot be decoded \(1-bit BMP"):
    data.load_source(f"imagefolder:{root}", image_size=8)


def test_inferred_input_size_has_the_flags_limit(tmp_path):
  from PIL import Image
  from rc_darts_tf import dataset_names
  root = make_image_tree(str(tmp_path / "t"), classes=2, train_per_class=2, test_per_class=1,
                         size=1)
  for folder, _, files in os.walk(root):
    for name in files:
      Image.new("RGB", (dataset_names.MAX_IMAGE_SIZE + 8, 30)).save(os.path.join(folder, name))
  with pytest.raises(DatasetError) as info:
    data.load_source(f"imagefolder:{root}")
  assert "above the limit of 1024" in str(info.value) and "--image_size" in str(info.value)
  assert data.load_source(f"imagefolder:{root}", image_size=64).image_size == 64

