"""MovieLens 100K for TensorFlow Datasets, from the GroupLens files (manual download).

The licence forbids redistribution: download `ml-100k.zip`, unzip it and pass
the `ml-100k` folder as `--manual_dir`. Rows (rated pairs and sampled unrated
ones), features and the per-user split by time are
`zoo.data.sources.movielens.load_movielens_100k`'s, with its default fractions, one
negative per rated pair and seed 2024.
"""

import tensorflow_datasets as tfds

from zoo.data.sources.movielens import loader as movielens
from zoo.data.sources.tfds.records import column_schema, dataset_info, packed_examples, split_chunks

SETTINGS = {
    "negatives_per_positive": 1,
    "validation_fraction": 0.1,
    "test_fraction": 0.1,
    "seed": 2024,
}
COLUMNS = movielens.USER_FEATURES + movielens.ITEM_FEATURES

DESCRIPTION = """
MovieLens 100K (GroupLens Research, University of Minnesota): 100,000 ratings (1-5) from
943 users on 1,682 movies, with user demographics and movie genres, as (user, movie) pairs
with multi-task labels: rated, rating >= 4, rating == 5. Each rated pair is a row; one
sampled unrated pair per rated pair (same user, seed 2024) is a row with every label 0.
Split by time per user: each user's last 10% of ratings test, the 10% before validation.

Licence: the GroupLens usage licence (research use, no redistribution without
permission): this builder reads the files you download yourself. Each example: `strings`
(age bucket, gender, occupation, zip prefix), `ints` (user_id, item_id, release_year, 19
genre flags), `labels`; names in `info.metadata`.
"""
CITATION = """
@article{harper2015movielens,
  title = {The MovieLens Datasets: History and Context},
  author = {F. Maxwell Harper and Joseph A. Konstan},
  journal = {ACM Transactions on Interactive Intelligent Systems},
  volume = {5},
  number = {4},
  year = {2015},
  doi = {10.1145/2827872}
}
"""


class Builder(tfds.core.GeneratorBasedBuilder):
    """MovieLens 100K as (user, movie) pairs with the labels of every `movielens.TASKS`."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release: the zoo's parser, negatives and per-user split by time.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    {movielens.DOWNLOAD}
    Put u.data, u.user and u.item (as published, not renamed) directly in the manual
    folder: `--manual_dir path/to/ml-100k`, or the default
    <data_dir>/downloads/manual/.
    """
    # Said outright: TFDS 4.9.10 infers them through importlib_resources, which
    # it does not install.
    pkg_dir_path = tfds.core.Path(__file__).parent
    code_path = tfds.core.Path(__file__)

    def _schema(self):
        return column_schema(
            movielens.NAME,
            strings=[name for name in COLUMNS if name in movielens.STRING_FEATURES],
            ints=[name for name in COLUMNS if name not in movielens.STRING_FEATURES],
            labels=movielens.TASKS,
            settings=SETTINGS,
        )

    def _info(self):
        return dataset_info(
            self,
            self._schema(),
            DESCRIPTION,
            CITATION,
            homepage="https://grouplens.org/datasets/movielens/100k/",
        )

    def _split_generators(self, dl_manager):
        dataset = movielens.load_movielens_100k(
            str(dl_manager.manual_dir), tasks=list(movielens.TASKS), **SETTINGS
        )
        return {
            name: self._generate_examples(dataset.split(name))
            for name in ("train", "validation", "test")
        }

    def _generate_examples(self, split):
        return packed_examples(split_chunks(split), self._schema())
