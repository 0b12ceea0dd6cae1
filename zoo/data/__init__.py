"""Dataset loaders (real published formats) and the tf.data pipelines built from them."""

from zoo.data.ali_ccp import load_ali_ccp
from zoo.data.aliexpress import load_aliexpress
from zoo.data.census_income import load_census_income
from zoo.data.errors import DataError
from zoo.data.funnel import generate_funnel, load_synthetic_funnel
from zoo.data.kuairand import load_kuairand
from zoo.data.movielens import load_movielens_100k
from zoo.data.position_bias import load_census_position_bias
from zoo.data.registry import DATASETS, load_dataset
from zoo.data.streaming_csv import StreamingCsvDataset
from zoo.data.synthetic import load_synthetic
from zoo.data.tabular_dataset import Split, TabularDataset
from zoo.data.taobao_multibehavior import load_taobao_multibehavior

__all__ = [
    "DATASETS",
    "DataError",
    "Split",
    "StreamingCsvDataset",
    "TabularDataset",
    "generate_funnel",
    "load_census_position_bias",
    "load_ali_ccp",
    "load_aliexpress",
    "load_census_income",
    "load_kuairand",
    "load_movielens_100k",
    "load_dataset",
    "load_synthetic",
    "load_synthetic_funnel",
    "load_taobao_multibehavior",
]
