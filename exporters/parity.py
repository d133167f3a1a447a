"""Parity of an exported file with the Keras model, on the same images.

Float files (tflite_fp32, tflite_fp16, onnx): the largest absolute logit difference over all
images and classes, judged relative to the logit scale

    relative_diff = max |logits_file - logits_keras| / max(1, max |logits_keras|)

(the `max(1, .)` keeps the figure absolute for networks whose logits are all below 1, e.g. random
weights). Pass: relative_diff <= 1e-4 (float32 files) or 1e-2 (float16 weights).

int8 files: top-1 agreement, the share of images whose arg-max class is the Keras model's.
Pass: >= 0.98. The largest difference is reported too.

Every record also counts `top1_ties`: images whose two largest file logits are exactly equal. An
int8 file's logits live on a grid (one step = the output scale, e.g. 0.09 for logits within
+-12), so two classes closer than a step can come out equal and the arg-max then takes the lower
class index. Such an image counts as a disagreement whenever that is not the Keras class (the
pass figure is not adjusted); `disagreements_tied` says how many of the disagreements were ties,
which tells rounding at the output apart from error accumulated inside the network.
"""

from typing import Dict, Optional

import numpy as np

TOLERANCE = {"tflite_fp32": 1e-4, "onnx": 1e-4, "tflite_fp16": 1e-2}
MIN_TOP1_AGREEMENT = {"tflite_int8": 0.98}


def compare(fmt: str, reference: np.ndarray, logits: np.ndarray,
            labels: Optional[np.ndarray] = None) -> Dict[str, object]:
  """Parity record of one file (see module doc). `labels`, when known, adds the accuracy of both."""
  reference = np.asarray(reference, np.float64)
  logits = np.asarray(logits, np.float64)
  if reference.shape != logits.shape:
    raise ValueError(f"{fmt}: logits of shape {logits.shape}, the Keras model's are "
                     f"{reference.shape}")
  diff = float(np.max(np.abs(logits - reference)))
  scale = float(np.max(np.abs(reference)))
  same = np.argmax(logits, -1) == np.argmax(reference, -1)
  agreement = float(np.mean(same))
  top2 = np.sort(logits, -1)[:, -2:]
  tied = top2[:, 0] == top2[:, -1] if logits.shape[-1] > 1 else np.zeros(len(logits), bool)
  record = {"images": int(reference.shape[0]), "max_abs_diff": diff, "logit_scale": scale,
            "relative_diff": diff / max(1.0, scale), "top1_agreement": agreement,
            "top1_ties": int(np.sum(tied)), "disagreements": int(np.sum(~same)),
            "disagreements_tied": int(np.sum(tied & ~same))}
  if fmt in MIN_TOP1_AGREEMENT:
    record.update(kind="top1", threshold=MIN_TOP1_AGREEMENT[fmt],
                  passed=bool(agreement >= MIN_TOP1_AGREEMENT[fmt]))
  else:
    record.update(kind="max_abs_diff", threshold=TOLERANCE[fmt],
                  passed=bool(record["relative_diff"] <= TOLERANCE[fmt]))
  if labels is not None:
    labels = np.asarray(labels)
    record["accuracy"] = float(np.mean(np.argmax(logits, -1) == labels))
    record["keras_accuracy"] = float(np.mean(np.argmax(reference, -1) == labels))
  return record


def describe(record: Dict[str, object]) -> str:
  """One short cell for the printed table."""
  ok = "ok" if record["passed"] else "FAIL"
  if record["kind"] == "top1":
    ties = record.get("disagreements_tied", 0)
    return (f"top-1 {100 * record['top1_agreement']:.1f}% (>= "
            f"{100 * record['threshold']:.0f}%) {ok}"
            + (f", {ties} of {record['disagreements']} misses tied" if ties else ""))
  return f"{record['relative_diff']:.1e} (<= {record['threshold']:.0e}) {ok}"
