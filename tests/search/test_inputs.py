"""rc_darts_tf/search/inputs.py: an epoch's input is a function of the seed and the epoch
(what makes resuming a search exact)."""

import numpy as np
import pytest

from tests.helpers import make_image_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  root = tmp_path_factory.mktemp("resume_tree")
  # 3 classes x 16 train images -> 24 + 24 in the halves -> 3 steps of 8 per epoch
  return make_image_tree(str(root), classes=3, train_per_class=16, test_per_class=2, size=8)


def test_epoch_input_is_a_function_of_seed_and_epoch(tree):
  """What makes resuming exact: epoch e's batches do not depend on what ran before in the
  process, and skipping k steps gives the rest of the same epoch."""
  from rc_darts_tf import data
  from rc_darts_tf.search.inputs import SearchInput
  source = data.load_source(f"imagefolder:{tree}")

  def batches(ds):
    return [np.concatenate([x.numpy().ravel() for x in (xw, yw, xa, ya)])
            for (xw, yw), (xa, ya) in ds]

  first = SearchInput(source, 8, 0.5, seed=5)
  epoch0, epoch1 = batches(first.epoch(0)), batches(first.epoch(1))
  assert len(epoch0) == len(epoch1) == first.steps_per_epoch == 3
  fresh = SearchInput(source, 8, 0.5, seed=5)           # a restarted process
  again = batches(fresh.epoch(1, skip_steps=1))
  assert len(again) == 2
  for a, b in zip(again, epoch1[1:]):
    np.testing.assert_array_equal(a, b)
  assert not np.array_equal(epoch0[0], epoch1[0])        # every epoch reshuffles
  other = batches(SearchInput(source, 8, 0.5, seed=6).epoch(1))
  assert not np.array_equal(other[0], epoch1[0])

