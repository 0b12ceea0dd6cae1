"""Command-line names of the datasets. Keep these stable: scripts depend on them."""

from zoo.data.census_income import load_census_income
from zoo.data.synthetic import load_synthetic

DATASETS = {
    "census-income": load_census_income,
    "synthetic": load_synthetic,
}


def get_loader(name):
    """The loader of a dataset by its command-line name, or a ValueError listing the valid ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"Unknown dataset {name!r}. Valid datasets: {', '.join(DATASETS)}"
        ) from None


def load_dataset(name, **options):
    """Loads a dataset by its command-line name with the loader's keyword options."""
    return get_loader(name)(**options)
