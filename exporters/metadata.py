"""Labels and the input contract inside the exported files, and beside them (labels.txt).

  data = metadata.embed("onnx", data, labels, prep)     # bytes -> bytes with the entries
  metadata.read(data, "tflite_int8")                    # {"labels": [...], "preprocessing": {...}}

Entries (the same two in both formats, UTF-8 text):
  labels          the class names, one per line, line i = output index i (labels.txt's content)
  preprocessing   JSON: input shape, dtype and range, resize rule, per-channel mean/std and how the
                  files apply them (preprocessing.Preprocessing.to_json_dict)

ONNX: ModelProto.metadata_props (string key/value pairs; onnxruntime shows them as
session.get_modelmeta().custom_metadata_map).

TFLite: the flatbuffer's Model.metadata list (name -> buffer), written with the schema's object
API as ai-edge-litert ships it (ai_edge_litert.schema_py_generated); the operators, tensors and
weights are unchanged. These are plain named entries: the structured TFLITE_METADATA entry that
Android's TFLite Support / ML Kit read (NormalizationOptions, an associated labels file) is written
by the tflite-support package, whose last release (0.4.4, July 2023) is no longer maintained and
is not used here; an Android app reads labels.txt or these entries instead.
"""

import json
from typing import Dict, List

LABELS = "labels"
PREPROCESSING = "preprocessing"


def labels_text(labels: List[str]) -> str:
  """labels.txt: one class name per line, in output order, newline-terminated."""
  for name in labels:
    if "\n" in name or "\r" in name:
      raise ValueError(f"class name {name!r} contains a line break")
  return "".join(f"{name}\n" for name in labels)


def embed(fmt: str, data: bytes, labels: List[str], prep) -> bytes:
  """The file `data` of format `fmt` with the labels and preprocessing entries added."""
  entries = {LABELS: labels_text(labels),
             PREPROCESSING: json.dumps(prep.to_json_dict(), sort_keys=True)}
  if fmt == "onnx":
    import onnx
    proto = onnx.load_from_string(data)
    kept = {p.key: p.value for p in proto.metadata_props if p.key not in entries}
    onnx.helper.set_model_props(proto, {**kept, **entries})
    onnx.checker.check_model(proto)
    return proto.SerializeToString()
  return _tflite_with_metadata(data, entries)


def _tflite_with_metadata(data: bytes, entries: Dict[str, str]) -> bytes:
  import flatbuffers
  from ai_edge_litert import schema_py_generated as schema
  model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
  model.metadata = [m for m in (model.metadata or [])
                    if (m.name.decode() if isinstance(m.name, bytes) else m.name) not in entries]
  for name, text in entries.items():
    buffer = schema.BufferT()
    buffer.data = list(text.encode("utf-8"))
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
  builder = flatbuffers.Builder(len(data) + 4096)
  builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
  return bytes(builder.Output())


def read(data: bytes, fmt: str) -> Dict[str, object]:
  """The entries of a file written by `embed`: {"labels": [names], "preprocessing": {...}}
  (absent keys when the file has none)."""
  if fmt == "onnx":
    import onnx
    raw = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
  else:
    from ai_edge_litert import schema_py_generated as schema
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    raw = {}
    for m in model.metadata or []:
      name = m.name.decode() if isinstance(m.name, bytes) else m.name
      if name in (LABELS, PREPROCESSING):     # the converter's own entries are binary
        raw[name] = bytes(bytearray(model.buffers[m.buffer].data)).decode("utf-8")
  out = {}
  if LABELS in raw:
    out[LABELS] = raw[LABELS].splitlines()
  if PREPROCESSING in raw:
    out[PREPROCESSING] = json.loads(raw[PREPROCESSING])
  return out
