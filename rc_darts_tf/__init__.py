"""rc-darts-tf: resource-constrained differentiable architecture search in TensorFlow/Keras.

The package root imports nothing heavy: importing `rc_darts_tf` does not import TensorFlow. The
Python API is `rc_darts_tf.api` (search with a budget -> genotype -> network -> fit -> export):

  from rc_darts_tf import api
  found = api.search("sample", budget_params="2e4:6e4", epochs=1, init_channels=8, layers=5)
"""

__version__ = "0.1.0"
