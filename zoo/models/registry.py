"""Command-line names of the models (`zoo.registry.MODELS`, imported lazily)."""

from zoo.registry import MODELS


def get_model_class(name):
    """The model class for a command-line name, or a ValueError listing the valid ones."""
    return MODELS.lookup(name)
