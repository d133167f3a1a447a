"""The Python API in a few lines, as in a notebook: search with a budget -> genotype -> network ->
fit -> export, on the bundled sample at toy settings (about a minute on 2 CPU cores; use your
dataset, e.g. api.load_dataset("imagefolder:PATH"), and the defaults for a real run).

  python examples/api_notebook.py [OUTPUT_DIR]      # default runs/api
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")       # before TensorFlow: no C++ INFO lines
from rc_darts_tf import api  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "runs/api"

source = api.load_dataset("sample", image_size=16)       # 10 classes, 16x16 RGB
found = api.search(source, budget_params="1e4:3e4", epochs=1,
                   init_channels=8, layers=3, levels=1, batch_size=32,
                   output_dir=f"{out}/search")
print(found.genotype)                                     # inside the budget by its exact cost
print("exact cost", found.exact_cost, "Φ", found.phi)
trained = api.train(found.genotype, source, init_channels=8, layers=3, epochs=1, batch_size=32,
                    output_dir=f"{out}/train")            # a Keras model, trained and saved
report = api.export(trained.output_dir, f"{out}/export", dataset=source,
                    formats=["tflite_fp32", "tflite_int8", "onnx"], latency_runs=5)
for artifact in report["artifacts"]:
  print(artifact["file"], artifact["macs"], "MACs", artifact["parity"]["passed"])
