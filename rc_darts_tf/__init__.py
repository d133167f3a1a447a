"""rc-darts-tf: resource-constrained differentiable architecture search in TensorFlow/Keras.

The package root imports nothing heavy: importing `rc_darts_tf` does not import TensorFlow.
"""

__version__ = "0.1.0"
