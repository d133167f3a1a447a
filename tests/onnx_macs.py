"""Independent MAC counts for tests: Keras layers exported to ONNX (tf2onnx), profiled by onnx_tool.

costs.py counts multiply-accumulates of Conv2D, DepthwiseConv2D and Dense only. In ONNX these are
Conv (a depthwise conv is a Conv with group = channels), Gemm and MatMul, so the count here sums
onnx_tool's per-node forward MACs over those node types and nothing else (onnx_tool also charges
pooling, ReLU, BN's Mul/Add and the like, which costs.py treats as free).

onnx_tool charges a Conv, Gemm or MatMul with a bias input one extra MAC per output element for the
bias addition. None of the ops has a bias; one can only appear when tf2onnx folds a BN into the
conv before it, and BN is free in costs.py, so that addition is taken back out.

Many layers are exported as parallel branches of one Keras model (one conversion instead of one per
layer; a conversion takes about a second). Each branch layer is named by its key, which tf2onnx
keeps as the name of the branch's graph output; a counted node belongs to the branch whose output
it feeds (each must feed exactly one). Node names are only a cross-check: tf2onnx keeps the name
scopes Keras opens per layer (`key` or `key_<n>`), but renames the nodes it fuses (a conv with a
folded BN bias becomes `Conv__<n>`).
"""

import dataclasses
import re
from typing import Dict, List, Mapping, Sequence, Set, Tuple

import keras
import numpy as np
import onnx
import onnx_tool
import tensorflow as tf
import tf2onnx
from onnx_tool import node as onnx_tool_node

COUNTED_OP_TYPES = ("Conv", "Gemm", "MatMul")
OPSET = 17


@dataclasses.dataclass(frozen=True)
class CountedNode:
  """A Conv / Gemm / MatMul node and the MACs charged to it."""

  name: str
  op_type: str
  output: str                 # name of its (first) output tensor
  macs: int                   # onnx_tool's forward MACs, less the bias addition if any
  input_shapes: Tuple[Tuple[int, ...], ...]
  output_shape: Tuple[int, ...]
  attributes: Mapping[str, object]


def export(model: keras.Model, opset: int = OPSET) -> onnx.ModelProto:
  """The ONNX model of a Keras model whose inputs have static shapes (batch 1)."""
  signature = [tf.TensorSpec(tuple(t.shape), tf.float32, name=t.name) for t in model.inputs]
  proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset)
  return proto


def counted_nodes(proto: onnx.ModelProto) -> List[CountedNode]:
  """Every Conv / Gemm / MatMul node of `proto` with its MACs, as profiled by onnx_tool."""
  graph = onnx_tool.Model(proto).graph
  graph.shape_infer()
  graph.profile()
  if not graph.valid_profile:
    raise RuntimeError("onnx_tool could not profile the exported model")
  nodes = []
  for name, node in graph.nodemap.items():
    if node.op_type not in COUNTED_OP_TYPES:
      continue
    inputs = [graph.tensormap[t].get_shape() for t in node.input]
    output = graph.tensormap[node.output[0]].get_shape()
    macs = node.macs[0]
    if len(inputs) == 3:    # a folded BN's bias: onnx_tool adds one addition per output element
      macs -= int(np.prod(output)) * onnx_tool_node.ADD_MACS
    attributes = {key: getattr(node, key) for key in ("group", "dilations", "strides", "pads")
                  if hasattr(node, key)}
    nodes.append(CountedNode(name, node.op_type, node.output[0], int(round(macs)),
                             tuple(tuple(int(d) for d in s) for s in inputs),
                             tuple(int(d) for d in output), attributes))
  return nodes


def upstream_tensors(proto: onnx.ModelProto, output: str) -> Set[str]:
  """Names of every tensor the graph output `output` is computed from (itself included)."""
  producer = {t: node for node in proto.graph.node for t in node.output}
  seen, stack = set(), [output]
  while stack:
    tensor = stack.pop()
    if tensor in seen:
      continue
    seen.add(tensor)
    if tensor in producer:
      stack.extend(t for t in producer[tensor].input if t)
  return seen


def attribute(proto: onnx.ModelProto, nodes: Sequence[CountedNode],
              keys: Sequence[str]) -> Dict[str, List[CountedNode]]:
  """Counted nodes per branch key (the graph output of that name).

  Raises if a node feeds no branch output or several, or if its name names another branch.
  """
  outputs = [o.name for o in proto.graph.output]
  if sorted(outputs) != sorted(keys):
    raise AssertionError(f"ONNX outputs {outputs} are not the branches {list(keys)}")
  upstream = {key: upstream_tensors(proto, key) for key in keys}
  patterns = {key: re.compile(re.escape(key) + r"(_\d+)?") for key in keys}
  by_key = {key: [] for key in keys}
  for node in nodes:
    owners = [key for key in keys if node.output in upstream[key]]
    if len(owners) != 1:
      raise AssertionError(f"ONNX node {node.name!r} ({node.op_type}) feeds {len(owners)} "
                           f"branches: {owners}")
    named = [key for key, pattern in patterns.items()
             if any(pattern.fullmatch(part) for part in node.name.split("/"))]
    if named and named != owners:
      raise AssertionError(f"ONNX node {node.name!r} feeds branch {owners[0]!r} but is named "
                           f"after {named}")
    by_key[owners[0]].append(node)
  return by_key


def branch_nodes(inputs: Mapping[str, Tuple[int, int, int]],
                 branches: Mapping[str, Tuple[str, keras.layers.Layer]]
                 ) -> Dict[str, List[CountedNode]]:
  """Export every branch layer in one model and return its counted ONNX nodes.

  inputs: input name -> (h, w, channels) (batch 1); branches: key -> (input name, unbuilt layer).
  Each layer is renamed to its key, so keys must be distinct, valid scope names and no key may be
  another key followed by `_<digits>`.
  """
  tensors = {name: keras.Input(shape=shape, batch_size=1, name=name)
             for name, shape in inputs.items()}
  outputs = []
  for key, (input_name, layer) in branches.items():
    layer.name = key
    outputs.append(layer(tensors[input_name]))
  model = keras.Model(list(tensors.values()), outputs)
  proto = export(model)
  return attribute(proto, counted_nodes(proto), list(branches))


def branch_macs(inputs, branches) -> Dict[str, int]:
  """Total Conv / Gemm / MatMul MACs per branch (see `branch_nodes`)."""
  return {key: sum(n.macs for n in nodes) for key, nodes in branch_nodes(inputs, branches).items()}
