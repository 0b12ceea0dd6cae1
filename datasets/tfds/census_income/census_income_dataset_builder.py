"""Census-Income (KDD) for TensorFlow Datasets, from the files the zoo ships.

`cd datasets/tfds/census_income && tfds build --data_dir DIR`, then
`zoo.data.sources.tfds.load_tfds("census_income", data_dir=DIR)`. The rows are
read by the zoo's own parser (`zoo.data.sources.census_income`); the splits are the
zoo's: training = `census-income.data`, the UCI test file halved into
validation and test by the seeded permutation (`SPLIT_SEED`).
"""

import pathlib

import numpy as np
import tensorflow_datasets as tfds

from zoo.data.base.tabular_dataset import Split
from zoo.data.sources.census_income import loader, schema
from zoo.data.sources.tfds.records import column_schema, dataset_info, packed_examples, split_chunks

# The repository's copy of the UCI files, beside this folder.
SHIPPED_DIR = pathlib.Path(__file__).resolve().parents[2] / "census-income"
SPLIT_SEED = 1  # load_census_income's default split_seed
# Every column but the survey weight (never a feature). The label columns stay:
# the all-features protocol uses those the task group does not predict.
COLUMNS = [name for name in schema.COLUMN_NAMES if name != schema.SURVEY_WEIGHT]
CONTINUOUS = dict(schema.COLUMNS)
LABELS = ("income", "never_married", "college_or_above")

DESCRIPTION = """
Census-Income (KDD): weighted census records from the 1994 and 1995 Current Population
Surveys of the U.S. Census Bureau (UCI Machine Learning Repository, dataset 117; donors
Terran Lane and Ronny Kohavi), as the MMoE paper (Ma et al., KDD 2018) uses it for
multi-task learning. Licence: Creative Commons Attribution 4.0 International (CC BY 4.0).

Built by the mtl-zoo from the unmodified UCI files it ships. Each example is one
record: `strings` (34 categorical columns), `floats` (7 numeric columns; the survey
weight is left out) and `labels` (income > 50K, never married, college or above); the
column names are `info.metadata`. Splits: train = census-income.data (199,523 rows);
the UCI test file permuted with seed 1 and halved into validation and test.
"""
CITATION = """
@misc{census_income_kdd_117,
  title = {Census-Income (KDD)},
  author = {Lane, Terran and Kohavi, Ronny},
  year = {2000},
  howpublished = {UCI Machine Learning Repository},
  doi = {10.24432/C5N30T},
  note = {CC BY 4.0}
}
"""


class Builder(tfds.core.GeneratorBasedBuilder):
    """Census-Income (KDD), task labels of both MMoE task groups.

    Args:
        source_dir: folder with `census-income.data[.gz]` and
            `census-income.test[.gz]` as UCI publishes them; defaults to the
            copy in the repository's `datasets/census-income/`.
        **kwargs: `tfds.core.DatasetBuilder` arguments (`data_dir`, ...).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release: the zoo's parser and splits, split seed 1.",
    }
    # Said outright: TFDS 4.9.10 infers them through importlib_resources, which
    # it does not install.
    pkg_dir_path = tfds.core.Path(__file__).parent
    code_path = tfds.core.Path(__file__)

    def __init__(self, *, source_dir=None, **kwargs):
        self.source_dir = pathlib.Path(source_dir or SHIPPED_DIR)
        super().__init__(**kwargs)

    def _schema(self):
        return column_schema(
            schema.NAME,
            strings=[name for name in COLUMNS if not CONTINUOUS[name]],
            floats=[name for name in COLUMNS if CONTINUOUS[name]],
            labels=LABELS,
            settings={"split_seed": SPLIT_SEED},
        )

    def _info(self):
        return dataset_info(
            self,
            self._schema(),
            description=DESCRIPTION,
            citation=CITATION,
            homepage="https://archive.ics.uci.edu/dataset/117/census+income+kdd",
        )

    def _split_generators(self, dl_manager):
        directory = str(self.source_dir)
        train = loader._read_file(schema.find_file(directory, schema.TRAIN_FILE), COLUMNS)
        rest_raw, rest_labels = loader._read_file(
            schema.find_file(directory, schema.TEST_FILE), COLUMNS
        )
        # As load_census_income halves the UCI test file (tests/data/tfds_test.py
        # checks that both give the same rows).
        is_validation = schema.validation_mask(len(rest_labels["income"]), SPLIT_SEED)
        splits = {"train": Split(*train)}
        for name, rows in (("validation", is_validation), ("test", ~is_validation)):
            rows = np.flatnonzero(rows)
            splits[name] = Split(
                features={column: values[rows] for column, values in rest_raw.items()},
                labels={task: values[rows] for task, values in rest_labels.items()},
            )
        return {name: self._generate_examples(split) for name, split in splits.items()}

    def _generate_examples(self, split):
        return packed_examples(split_chunks(split), self._schema())
