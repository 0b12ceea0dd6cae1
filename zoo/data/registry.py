"""Command-line names of the datasets (`zoo.registry.DATASETS`, imported lazily)."""

from zoo.registry import DATASETS


def get_loader(name):
    """The loader of a dataset by its command-line name, or a ValueError listing the valid ones."""
    return DATASETS.lookup(name)


def load_dataset(name, **options):
    """Loads a dataset by its command-line name with the loader's keyword options."""
    return get_loader(name)(**options)
