"""A Keras 3 model zoo for multi-task recommendation ranking."""

import importlib
import os

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
