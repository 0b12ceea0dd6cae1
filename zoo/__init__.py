"""A Keras 3 model zoo for multi-task recommendation ranking."""

import os

# Keras 3 must run on TensorFlow: export and tf.data preprocessing need it.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from zoo import features, layers, models, search, tasks  # noqa: E402

__version__ = "0.1.0"

__all__ = ["features", "layers", "models", "search", "tasks", "__version__"]
