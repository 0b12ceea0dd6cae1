"""Dataset loaders (real published formats) and the tf.data pipelines built from them.

- `base/`: what every dataset shares (`TabularDataset`, `StreamingDataset`,
  `DataError`, where data folders are found, negative sampling, behaviour
  histories without leakage).
- `formats/`: file formats whatever the source (delimited text, CSV streams,
  TFRecord shards and their `tf.train.Example` encoding).
- `sources/<dataset>/`: one package per published dataset, its in-memory
  loader and, where it has one, its streamed reader, both on a schema module
  that imports neither.
- `synthetic/`: generated datasets with a known truth.

Imports run one way: base <- formats <- sources <- synthetic
(`tests/import_rules_test.py`).
"""

from zoo.data.base.errors import DataError
from zoo.data.base.histories import previous_interactions, previous_interactions_from_log
from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.data.formats.streaming_csv import StreamingCsvDataset
from zoo.data.registry import DATASETS, load_dataset
from zoo.data.sources.ali_ccp import load_ali_ccp
from zoo.data.sources.aliexpress import load_aliexpress
from zoo.data.sources.census_income import load_census_income
from zoo.data.sources.kuairand import load_kuairand
from zoo.data.sources.movielens import load_movielens_100k
from zoo.data.sources.taobao_multibehavior import load_taobao_multibehavior
from zoo.data.sources.taobao_user_behavior import load_taobao_user_behavior
from zoo.data.synthetic.funnel import generate_funnel, load_synthetic_funnel
from zoo.data.synthetic.position_bias import load_census_position_bias
from zoo.data.synthetic.synthetic import load_synthetic

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
    "load_taobao_user_behavior",
    "previous_interactions",
    "previous_interactions_from_log",
]
