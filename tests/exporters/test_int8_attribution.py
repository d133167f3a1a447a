"""exporters/int8_attribution.py: operators grouped by part, and one file per part in float
compared with the Keras network."""

from exporters import int8_attribution

NAMES = ["net_pixels_1/normalise_1/mul", "net_pixels_1/net_1/stem_bn_1/batchnorm/add_1",
         "net_pixels_1/net_1/cell0_1/sep_conv_3_1/block1_1/depthwise_1/depthwise",
         "net_pixels_1/net_1/cell0_1/add_2", "net_pixels_1/net_1/cell1_1/concat",
         "net_pixels_1/net_1/cell10_1/add", "net_pixels_1/net_1/global_pool_1/Mean", "Identity"]


def test_operators_are_grouped_by_part_in_network_order():
  grouped = int8_attribution.parts(NAMES)
  assert list(grouped) == ["stem", "cell0", "cell1", "cell10", "head"]
  assert grouped["stem"] == NAMES[:2]
  assert grouped["cell0"] == NAMES[2:4]
  assert grouped["cell1"] == [NAMES[4]] and grouped["cell10"] == [NAMES[5]]
  assert grouped["head"] == NAMES[6:]


def test_each_part_in_float_on_the_trained_network(trained):
  images = trained["images"]
  records = int8_attribution.attribute(trained["model"], images.parity, images.calibration,
                                       pixel_input=False, labels=images.labels)
  by_part = {r["part"]: r for r in records}
  assert list(by_part) == ["int8", "stem", "cell0", "cell1", "cell2", "head"]
  total = by_part["int8"]["quantized_operators"]
  assert by_part["int8"]["float_operators"] == 0
  # every operator is in exactly one part, and every cell has some
  assert sum(by_part[p]["float_operators"] for p in by_part) == total
  assert min(by_part[f"cell{k}"]["float_operators"] for k in range(3)) > 0
  for record in records:
    assert record["images"] == len(images.parity)
    assert 0 <= record["disagreements_tied"] <= record["disagreements"]
    assert record["logit_error_std"] > 0
  # the float parts took effect: each file's logits are its own
  errors = [r["logit_error_std"] for r in records]
  assert len(set(errors)) == len(errors), records
