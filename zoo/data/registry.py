"""Command-line names of the datasets. Keep these stable: scripts depend on them."""

from zoo.data.ali_ccp import load_ali_ccp
from zoo.data.aliexpress import load_aliexpress
from zoo.data.census_income import load_census_income
from zoo.data.funnel import load_synthetic_funnel
from zoo.data.kuairand import load_kuairand
from zoo.data.movielens import load_movielens_100k
from zoo.data.position_bias import load_census_position_bias
from zoo.data.synthetic import load_synthetic
from zoo.data.taobao_multibehavior import load_taobao_multibehavior
from zoo.data.tfds_source import load_tfds
from zoo.data.tfrecord import load_tfrecord

DATASETS = {
    "ali-ccp": load_ali_ccp,
    "aliexpress": load_aliexpress,
    "census-income": load_census_income,
    "synthetic": load_synthetic,
    "census-position-bias": load_census_position_bias,
    "synthetic-funnel": load_synthetic_funnel,
    "kuairand": load_kuairand,
    "taobao-multibehavior": load_taobao_multibehavior,
    "movielens-100k": load_movielens_100k,
    # Any of the above prepared by a builder of datasets/tfds/ (--tfds-name).
    "tfds": load_tfds,
    # Any of the above after `zoo convert`: sharded TFRecord files.
    "tfrecord": load_tfrecord,
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
