"""Dataset loaders (real published formats) and the tf.data pipelines built from them."""

from zoo.data.census_income import load_census_income
from zoo.data.errors import DataError
from zoo.data.registry import DATASETS, load_dataset
from zoo.data.synthetic import load_synthetic
from zoo.data.tabular_dataset import Split, TabularDataset

__all__ = [
    "DATASETS",
    "DataError",
    "Split",
    "TabularDataset",
    "load_census_income",
    "load_dataset",
    "load_synthetic",
]
