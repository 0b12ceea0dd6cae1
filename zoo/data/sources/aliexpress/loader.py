"""AliExpress Searching System Dataset (Tianchi 74690), as PLE-style papers use it.

Reads one country's files as published on Tianchi (`train.csv`, `test.csv`)
or as torch-rechub names them: a header row, then per impression
`search_id`, `categorical_1..16` (integer ids), `numerical_1..63` (floats),
`click` and `conversion`. `search_id` identifies the query, not the row's
content, and is not a feature.

Files, in the data folder (the first name that exists wins, per split):
`aliexpress_{train,test}.csv[.gz]`, shards `aliexpress_{train,test}-*.csv[.gz]`,
the samples `aliexpress_{train,test}_sample.csv[.gz]`, or Tianchi's
`{train,test}.csv[.gz]`.

There is no validation file: the validation split is a fixed fraction of
the training rows, chosen by hashing each row's index in its file, so it is
the same on every run and is chosen as the rows stream by.
"""

import os

from zoo.data.base.paths import default_data_dir
from zoo.data.formats.streaming_csv import StreamingCsvDataset, find_split_files
from zoo.features.spec import CategoricalFeature, NumericFeature
from zoo.tasks import Task

NAME = "aliexpress"
CATEGORICAL_COLUMNS = tuple(f"categorical_{i}" for i in range(1, 17))
NUMERICAL_COLUMNS = tuple(f"numerical_{i}" for i in range(1, 64))
LABEL_COLUMNS = ("click", "conversion")
COLUMNS = ("search_id",) + CATEGORICAL_COLUMNS + NUMERICAL_COLUMNS + LABEL_COLUMNS


def load_aliexpress(
    data_dir=None,
    embedding_dim=16,
    validation_fraction=0.1,
    shuffle_buffer=100_000,
    max_tokens=None,
):
    """Loads AliExpress as a `StreamingCsvDataset` with tasks `click` and `conversion`.

    Args:
        data_dir: folder with one country's CSV files; defaults to
            `$ZOO_DATA_DIR/aliexpress` or the repository's `datasets/aliexpress/`.
        embedding_dim: embedding width of every categorical feature.
        validation_fraction: share of the training file's rows held out as
            the validation split.
        shuffle_buffer: training lines held by the row shuffle.
        max_tokens: keep at most this many values of each categorical
            feature (the most frequent, counting the OOV bucket); `None`
            keeps all.

    Returns:
        A `StreamingCsvDataset` named `"aliexpress"`.

    Raises:
        DataError: a file is missing or its header is not AliExpress'. Bad
            rows are reported (file and line) on the first pass over their split.
    """
    data_dir = data_dir or default_data_dir(NAME)
    files = {
        split: find_split_files(
            data_dir,
            [f"aliexpress_{split}", f"aliexpress_{split}-*", f"aliexpress_{split}_sample", split],
        )
        for split in ("train", "test")
    }
    features = [
        CategoricalFeature(name, dtype="int64", embedding_dim=embedding_dim, max_tokens=max_tokens)
        for name in CATEGORICAL_COLUMNS
    ] + [NumericFeature(name) for name in NUMERICAL_COLUMNS]
    return StreamingCsvDataset(
        NAME,
        columns=COLUMNS,
        features=features,
        tasks=[Task(name) for name in LABEL_COLUMNS],
        files=files,
        validation_fraction=validation_fraction,
        shuffle_buffer=shuffle_buffer,
        settings={
            "data_dir": os.path.abspath(data_dir),
            "embedding_dim": embedding_dim,
            "max_tokens": max_tokens,
        },
    )
