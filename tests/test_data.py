"""Input pipelines on generated ImageFolder trees and tfds mock data (no downloads)."""

import os
import socket
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from rc_darts_tf import data
from rc_darts_tf.errors import DatasetError
from tests.helpers import error_lines, make_image_tree, run_entry


def _pixel_ids(encoded_ds):
  """The unique id each generated image carries in pixel (0, 0)."""
  ids = []
  for image, _ in encoded_ds.as_numpy_iterator():
    pixels = tf.io.decode_png(image).numpy()
    ids.append(int(pixels[0, 0, 0]) + 256 * int(pixels[0, 0, 1]))
  return ids


def test_imagefolder_source(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  assert source.num_classes == 4 and source.class_names == [f"class_{k}" for k in range(4)]
  assert source.num_train == 120 and source.num_test == 20
  assert source.image_size == 32 and source.style == "cifar"
  assert all(0.0 < m < 1.0 for m in source.mean) and all(0.0 < s < 1.0 for s in source.std)


def test_search_split_batches_are_float_images_with_int_labels(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  split = data.search_split(source, batch_size=16, train_portion=0.5, seed=3)
  assert (split.num_train, split.num_val, split.steps_per_epoch) == (60, 60, 3)
  (x, y), (xv, yv) = next(iter(split.pairs()))
  assert x.shape == (16, 32, 32, 3) and x.dtype == tf.float32
  assert xv.shape == (16, 32, 32, 3) and yv.dtype == tf.int32
  assert y.dtype == tf.int32 and set(y.numpy()) <= set(range(4))
  # normalised with the source's statistics: the image pixels have roughly zero mean and unit
  # variance. The pad-and-crop border is black (0 before normalising, -mean/std after); it is left
  # out, since how much of it a batch holds depends on the shuffle and the crop offsets.
  xs = np.concatenate([b[0][0].numpy() for b in split.pairs()])
  pad = -np.asarray(source.mean, np.float32) / np.asarray(source.std, np.float32)
  border = np.all(np.isclose(xs, pad, atol=1e-4), axis=-1)
  assert 0 < border.mean() < 0.3  # the crop does pad
  pixels = xs[~border]
  assert abs(pixels.mean()) < 0.05 and 0.95 < pixels.std() < 1.05
  # static batch dimension, so a train step is traced once
  assert split.train.element_spec[0].shape == (16, 32, 32, 3)


def test_search_halves_are_disjoint_complete_and_seeded(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  w1, a1, mask1 = data.search_subsets(source, 0.5, seed=7)
  ids_w, ids_a = _pixel_ids(w1), _pixel_ids(a1)
  assert len(ids_w) == 60 and len(ids_a) == 60
  assert not set(ids_w) & set(ids_a)
  assert sorted(ids_w + ids_a) == list(range(120))  # train images carry ids 0..119
  w2, a2, mask2 = data.search_subsets(data.load_source(f"imagefolder:{image_tree}"), 0.5, seed=7)
  assert _pixel_ids(w2) == ids_w and _pixel_ids(a2) == ids_a
  assert np.array_equal(mask1, mask2)
  _, _, mask3 = data.search_subsets(source, 0.5, seed=8)
  assert not np.array_equal(mask1, mask3)
  _, _, mask4 = data.search_subsets(source, 0.25, seed=7)
  assert mask4.sum() == 30


def test_pipeline_is_reproducible_from_its_seed(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  first = [b[0].numpy() for b in data.search_split(source, 16, seed=4).train]
  again = [b[0].numpy() for b in data.search_split(source, 16, seed=4).train]
  other = [b[0].numpy() for b in data.search_split(source, 16, seed=5).train]
  assert all(np.array_equal(a, b) for a, b in zip(first, again))
  assert not np.array_equal(first[0], other[0])
  # a new epoch reshuffles and re-augments
  ds = data.search_split(source, 16, seed=4).train
  epoch1 = [b[0].numpy() for b in ds]
  epoch2 = [b[0].numpy() for b in ds]
  assert not np.array_equal(epoch1[0], epoch2[0])


def test_augmentation_crop_flip_keep_content(image_tree):
  """Pad-crop shifts by at most 4 px and flips; the un-normalised pixels come from the source."""
  source = data.load_source(f"imagefolder:{image_tree}")
  raw = np.stack([tf.io.decode_png(img).numpy() for img, _ in source.train_encoded().take(8)])
  images = tf.constant(raw)
  out = data.finish_batch(images, source, tf.constant([1, 2], tf.int64), 0, crop=True).numpy()
  restored = np.round(out * np.array(source.std) * 255 + np.array(source.mean) * 255)
  for original, augmented in zip(raw, restored):
    found = False
    for flip in (False, True):
      ref = original[:, ::-1] if flip else original
      padded = np.pad(ref, [(4, 4), (4, 4), (0, 0)])
      for dy in range(9):
        for dx in range(9):
          if np.array_equal(padded[dy:dy + 32, dx:dx + 32], augmented):
            found = True
    assert found


def test_cutout_zeroes_one_clipped_square():
  images = tf.ones([64, 32, 32, 3])
  out = data.cutout(images, 16, tf.constant([3, 4], tf.int64)).numpy()
  zeros = (out[..., 0] == 0).sum(axis=(1, 2))
  assert zeros.max() == 256 and zeros.min() >= 64  # full square, or clipped at a corner
  assert (out[..., 0] == out[..., 2]).all()  # all channels


def test_retrain_split_with_cutout(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  split = data.retrain_split(source, batch_size=32, cutout_length=8, eval_batch_size=7)
  assert split.steps_per_epoch == 3
  x, y = next(iter(split.train))
  assert x.shape == (32, 32, 32, 3)
  assert (x.numpy() == 0).all(axis=-1).sum() >= 32 * 16  # each image has a >= 4x4 zero patch
  sizes = [int(b[1].shape[0]) for b in split.test]
  assert sizes == [7, 7, 6] and sum(sizes) == 20  # evaluation keeps every test image


def test_images_of_another_size_are_resized(tmp_path):
  root = make_image_tree(str(tmp_path / "big"), classes=2, train_per_class=10,
                         test_per_class=2, size=40, fmt="jpg")
  native = data.load_source(f"imagefolder:{root}")
  assert native.image_size == 40
  source = data.load_source(f"imagefolder:{root}", image_size=32)
  x, _ = next(iter(data.search_split(source, 4, seed=0).train))
  assert x.shape == (4, 32, 32, 3)


def test_imagenet_style_pipeline(tmp_path):
  root = make_image_tree(str(tmp_path / "inet"), classes=2, train_per_class=6,
                         test_per_class=3, size=150, fmt="jpg")
  source = data.load_source(f"imagefolder:{root}", image_size=128)
  assert source.style == "imagenet" and source.mean == data.IMAGENET_MEAN
  split = data.retrain_split(source, batch_size=4, eval_batch_size=3)
  x, _ = next(iter(split.train))
  xt, _ = next(iter(split.test))
  assert x.shape == (4, 128, 128, 3) and xt.shape == (3, 128, 128, 3)


def test_sample_dataset_is_bundled_and_small():
  source = data.load_source("sample")
  assert (source.num_train, source.num_test, source.num_classes) == (400, 100, 10)
  assert source.class_names[0] == "airplane" and source.image_size == 32
  total = 0
  for folder, _, files in os.walk(data.SAMPLE_DIR):
    total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
  assert total <= 2 * 1024 * 1024


@pytest.mark.parametrize("make_tree, fragment", [
    (lambda root: None, "does not exist"),
    (lambda root: os.makedirs(os.path.join(root, "test", "a")), "no 'train' split"),
    (lambda root: os.makedirs(os.path.join(root, "train", "a")), "holds no images"),
])
def test_bad_imagefolder_trees(tmp_path, make_tree, fragment):
  root = str(tmp_path / "tree")
  make_tree(root)
  with pytest.raises(DatasetError) as info:
    data.load_source(f"imagefolder:{root}")
  assert fragment in str(info.value) and root in str(info.value)


# -- image trees from the wild: what is read, skipped and refused (rc_darts_tf/image_tree.py) ----

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


def test_no_test_split_is_an_error_only_for_retraining(tmp_path):
  root = make_image_tree(str(tmp_path / "t"), classes=2, train_per_class=8,
                         splits={"train": 8})
  source = data.load_source(f"imagefolder:{root}")
  assert source.num_test is None
  data.search_split(source, 4)
  with pytest.raises(DatasetError, match="no test split"):
    data.retrain_split(source, 4)


def test_too_small_for_a_batch(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  with pytest.raises(DatasetError, match="less than one batch of 64"):
    data.search_split(source, 64)


def test_unknown_dataset_name():
  with pytest.raises(DatasetError, match="unknown dataset 'mnist'"):
    data.load_source("mnist")


def test_cifar10_without_data_and_nodownload(tmp_path):
  with pytest.raises(DatasetError, match="not prepared .* --nodownload"):
    data.load_source("cifar10", data_dir=str(tmp_path / "tfds"), download=False)
  assert not os.path.exists(tmp_path / "tfds")  # nothing written


def test_cifar10_offline_exits_2_quickly_with_one_line(tmp_path):
  """No prepared data and no network (the probe host refuses): exit 2 in seconds, one line."""
  start = time.monotonic()
  result = run_entry("rc_darts_tf.cli.data", "--dataset=cifar10",
                     f"--data_dir={tmp_path / 'tfds'}", env={data.PROBE_ENV: "127.0.0.1:9"})
  elapsed = time.monotonic() - start
  assert result.returncode == 2, result.stderr
  lines = error_lines(result.stderr)
  assert len(lines) == 1, lines
  assert "cifar10 is not prepared" in lines[0] and "network is unreachable" in lines[0]
  assert "--data_dir" in lines[0] and "imagefolder:PATH" in lines[0]
  assert elapsed < 30


def test_cifar10_through_tfds_mock_data(tmp_path, monkeypatch):
  """The tfds path end to end on tfds's mock data (download_and_prepare is mocked)."""
  listener = socket.socket()
  listener.bind(("127.0.0.1", 0))
  listener.listen(1)
  monkeypatch.setenv(data.PROBE_ENV, f"127.0.0.1:{listener.getsockname()[1]}")
  try:
    with tfds.testing.mock_data(num_examples=48):
      source = data.load_source("cifar10", data_dir=str(tmp_path / "tfds"))
      assert source.num_classes == 10 and source.image_size == 32
      assert (source.num_train, source.num_test) == (48, 48)
      split = data.search_split(source, 8, seed=1)
      (x, y), _ = next(iter(split.pairs()))
      assert x.shape == (8, 32, 32, 3) and y.dtype == tf.int32
  finally:
    listener.close()
