"""rc_darts_tf/search/checkpoint.py: a checkpoint of another op order is refused with one
line. (Resuming a killed search, and checkpoints refused by rc-darts-search:
tests/cli/test_search_resume.py.)"""

import json

import pytest

from tests.helpers import reordered_space


def test_a_checkpoint_of_another_op_order_is_refused(tmp_path):
  import keras
  from rc_darts_tf.errors import SearchSpaceError
  from rc_darts_tf.search.checkpoint import SearchCheckpoint
  from rc_darts_tf.search.supernet import SearchNetwork
  net = SearchNetwork(num_classes=3, init_channels=4, layers=3, levels=1, image_size=8)
  net.compile(keras.optimizers.SGD(0.1, momentum=0.9), keras.optimizers.Adam(1e-3))
  net.build_optimizers()
  directory = str(tmp_path / "checkpoints")
  saved = SearchCheckpoint(directory, net)
  saved.save(1, 0, {"note": 1})
  assert SearchCheckpoint(directory, net).restore() == {"note": 1}   # its own space: restored
  saved.state.assign(json.dumps({"note": 1, "search_space": reordered_space()}))
  saved.manager.save(checkpoint_number=2)
  with pytest.raises(SearchSpaceError) as info:
    SearchCheckpoint(directory, net).restore()
  assert "\n" not in str(info.value) and "search-2" in str(info.value)
  assert "θ's columns would name other ops" in str(info.value)

