"""rc_darts_tf/visualize/style.py: the op tables follow the registry; op families share a
colour."""

from rc_darts_tf import visualize


def test_op_tables_follow_the_registry():
  from rc_darts_tf import ops
  assert visualize.CELL_PRIMITIVES == ops.PRIMITIVES
  assert visualize.CONNECTION_PRIMITIVES == ops.CONNECTION_PRIMITIVES
  for op in ops.PRIMITIVES + ops.CONNECTION_PRIMITIVES:
    assert op in visualize.OP_STYLES, op
  for op in ops.CONNECTION_PRIMITIVES + (None,):
    assert op in visualize.CONNECTION_TEXT, op
  # ops of one family share a colour, and different families differ
  assert visualize.op_color("sep_conv_3x3") == visualize.op_color("sep_conv_5x5")
  assert visualize.op_color("sep_conv_3x3") != visualize.op_color("dil_conv_3x3")
  assert visualize.op_color("max_pool_3x3") != visualize.op_color("skip_connect")

