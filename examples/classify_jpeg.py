"""Classify one image with an exported int8 TFLite file, as an app would: ai-edge-litert, Pillow
and labels.txt, nothing from this project and no TensorFlow.

  python examples/classify_jpeg.py runs/pipeline/export photo.jpg [--top 3]

EXPORT_DIR is an rc-darts-export output directory (model_int8.tflite + labels.txt). The file takes
raw RGB pixels, uint8 [1, S, S, 3]; the normalisation is inside it. The image is decoded and
resized to S x S here (bilinear, antialiased; for S >= 128 the exporter's convention is: shorter
side to S / 0.875, then the central S x S crop, see rc_darts_tf/preprocessing.py). The output is
int8 logits; dequantised with the file's scale and zero point, softmax gives probabilities.
"""

import argparse
import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image


def load_pixels(path, side):
  """RGB uint8 [side, side, 3], resized the way the exporter's evaluation pipeline does."""
  image = Image.open(path).convert("RGB")
  if side >= 128:                              # ImageNet-style: resize shorter side, centre crop
    scale = (side / 0.875) / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)),
                         Image.BILINEAR, reducing_gap=None)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side))
  elif image.size != (side, side):
    image = image.resize((side, side), Image.BILINEAR)
  return np.asarray(image, dtype=np.uint8)


def classify(export_dir, image_path, top=3):
  """[(label, probability)] of the `top` classes."""
  with open(os.path.join(export_dir, "labels.txt"), encoding="utf-8") as f:
    labels = [line.rstrip("\n") for line in f]
  interpreter = Interpreter(model_path=os.path.join(export_dir, "model_int8.tflite"))
  interpreter.allocate_tensors()
  inp = interpreter.get_input_details()[0]
  out = interpreter.get_output_details()[0]
  side = int(inp["shape"][1])
  pixels = load_pixels(image_path, side)[None]                 # [1, S, S, 3] uint8
  scale, zero = inp["quantization"]
  if inp["dtype"] == np.uint8 and (scale, zero) != (1.0, 0):   # the exporter writes (1, 0)
    pixels = np.clip(np.round(pixels / scale + zero), 0, 255).astype(np.uint8)
  interpreter.set_tensor(inp["index"], pixels.astype(inp["dtype"]))
  interpreter.invoke()
  scale, zero = out["quantization"]
  logits = (interpreter.get_tensor(out["index"])[0].astype(np.float32) - zero) * scale
  probs = np.exp(logits - logits.max())
  probs /= probs.sum()
  best = np.argsort(-logits, kind="stable")[:top]     # ties: lower index first, like argmax
  return [(labels[i], float(probs[i])) for i in best]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("export_dir")
  parser.add_argument("image")
  parser.add_argument("--top", type=int, default=3)
  args = parser.parse_args()
  for label, prob in classify(args.export_dir, args.image, args.top):
    print(f"{label}\t{prob:.3f}")


if __name__ == "__main__":
  main()
