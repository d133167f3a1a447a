"""rc_darts_tf/model_dir.py: a trained-model directory whose model_info.json lacks the
statistics and class names rc-darts-train records (the export takes the dataset's, or refuses)."""

import json

import pytest

from rc_darts_tf import network
from tests.trained_network import IMAGE_SIZE, NUM_CLASSES


def test_model_directory_without_statistics_or_class_names(trained, tmp_path):
  """A model_info.json without mean/std and class names (not written by rc-darts-train): read
  with preprocessing None; the dataset's statistics are taken (and said so), and without a
  dataset the export is refused; labels fall back to the dataset's, else class_<i>."""
  import types
  from rc_darts_tf import model_dir as model_dir_lib
  from rc_darts_tf.errors import RcDartsError
  network.inference_model(trained["model"]).save(str(tmp_path / "model.keras"))
  info = {"genotype": trained["genotype"].to_json_dict(), "init_channels": 8, "layers": 3,
          "stem": "cifar", "image_size": IMAGE_SIZE, "num_classes": NUM_CLASSES,
          "dataset": "generated"}
  (tmp_path / "model_info.json").write_text(json.dumps(info))
  old = model_dir_lib.read(str(tmp_path))
  assert old.preprocessing is None and old.class_names is None
  source = types.SimpleNamespace(name="tree", mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25),
                                 num_classes=NUM_CLASSES, class_names=list("abcd"))
  prep, said = model_dir_lib.preprocessing_for(old, source)
  assert prep.mean == (0.4, 0.5, 0.6) and prep.std == (0.2, 0.3, 0.25) and "tree" in said
  with pytest.raises(RcDartsError, match="no mean/std"):
    model_dir_lib.preprocessing_for(old, None)
  assert model_dir_lib.labels_for(old, source, NUM_CLASSES) == (list("abcd"), "dataset tree")
  assert model_dir_lib.labels_for(old, None, NUM_CLASSES)[0] == [f"class_{i}" for i in range(4)]
  net = model_dir_lib.load_network(old)
  assert tuple(net.outputs[0].shape[1:]) == (NUM_CLASSES,)

