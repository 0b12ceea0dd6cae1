"""A Keras 3 model zoo for multi-task recommendation ranking."""

import importlib
import importlib.util
import os

# TensorFlow is the user's choice of build (an extra of the package), so a
# plain install may have none; say so here rather than fail deep in Keras.
# find_spec looks for it without importing it (the import takes seconds).
if importlib.util.find_spec("tensorflow") is None:
    raise ImportError(
        "zoo needs TensorFlow (2.20 or 2.21), and none is installed. Install the package with "
        "the TensorFlow build of your choice: pip install 'mtl-zoo[cpu]' (CPU only), "
        "'mtl-zoo[and-cuda]' (NVIDIA GPUs) or 'mtl-zoo[tensorflow]'."
    )

# Keras 3 must run on TensorFlow: export and tf.data preprocessing need it.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.2.0"

# Subpackages are imported on first use (`zoo.models`, `from zoo import data`):
# `import zoo` alone must not import TensorFlow, so that the `zoo` command can
# answer `--help` and report a mistyped flag in well under two seconds.
_SUBPACKAGES = (
    "data",
    "distribute",
    "export",
    "features",
    "graphs",
    "layers",
    "losses",
    "metrics",
    "models",
    "presets",
    "search",
    "tasks",
    "training",
)
__all__ = [*_SUBPACKAGES, "__version__"]


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
