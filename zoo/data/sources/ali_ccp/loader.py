"""Ali-CCP (Alibaba Click and Conversion Prediction), as the ESMM paper uses it.

Reads the preprocessed CSV files of torch-rechub (after the AITM authors'
`process_public_dataset.py`): a header row, then per impression the labels
`click` and `purchase`, 23 label-encoded sparse fields and 8 normalized dense
ones. The sparse fields' names are numbers (`101`, `109_14`); as features,
and as SavedModel inputs, they are `f101`, `f109_14`. The original test set
is already halved into validation and test.

Files, in the data folder (the first name that exists wins, per split):
- `ali_ccp_{train,val,test}.csv[.gz]`: the full preprocessed download;
- `ali_ccp_{train,val,test}-*.csv[.gz]`: the same, in shards;
- `ali_ccp_{train,val,test}_sample.csv[.gz]`: the 100/50/50-row sample.

The rows are streamed (see `zoo.data.formats.streaming_csv`): the 42M training rows of
the full data never sit in memory.
"""

import os

from zoo.data.base.paths import default_data_dir
from zoo.data.formats.streaming_csv import StreamingCsvDataset, find_split_files
from zoo.features.spec import CategoricalFeature, NumericFeature
from zoo.tasks import Task

NAME = "ali-ccp"
LABEL_COLUMNS = ("click", "purchase")
SPARSE_COLUMNS = (
    "101", "121", "122", "124", "125", "126", "127", "128", "129", "205", "206", "207",
    "210", "216", "508", "509", "702", "853", "301", "109_14", "110_14", "127_14", "150_14",
)  # fmt: skip
DENSE_COLUMNS = ("D109_14", "D110_14", "D127_14", "D150_14", "D508", "D509", "D702", "D853")
COLUMNS = LABEL_COLUMNS + SPARSE_COLUMNS + DENSE_COLUMNS
# Feature names become SavedModel input names, which must be identifiers:
# the sparse field "101" is the feature "f101" (the dense "D109_14" keeps its name).
SPARSE_FEATURES = tuple(f"f{column}" for column in SPARSE_COLUMNS)
FIELD_NAMES = LABEL_COLUMNS + SPARSE_FEATURES + DENSE_COLUMNS
# Split name -> the split's word in the file names.
FILE_SPLITS = {"train": "train", "validation": "val", "test": "test"}


def load_ali_ccp(data_dir=None, embedding_dim=16, shuffle_buffer=100_000, max_tokens=None):
    """Loads Ali-CCP as a `StreamingCsvDataset` with tasks `click` and `purchase`.

    Args:
        data_dir: folder with the CSV files; defaults to `$ZOO_DATA_DIR/ali-ccp`
            or the repository's `datasets/ali-ccp/`.
        embedding_dim: embedding width of every sparse feature.
        shuffle_buffer: training lines held by the row shuffle.
        max_tokens: keep at most this many values of each sparse feature
            (the most frequent, counting the OOV bucket); `None` keeps all.

    Returns:
        A `StreamingCsvDataset` named `"ali-ccp"`.

    Raises:
        DataError: a file is missing or its header is not Ali-CCP's. Bad rows
            are reported (file and line) on the first pass over their split.
    """
    data_dir = data_dir or default_data_dir(NAME)
    files = {
        split: find_split_files(
            data_dir, [f"ali_ccp_{word}", f"ali_ccp_{word}-*", f"ali_ccp_{word}_sample"]
        )
        for split, word in FILE_SPLITS.items()
    }
    features = [
        CategoricalFeature(name, dtype="int64", embedding_dim=embedding_dim, max_tokens=max_tokens)
        for name in SPARSE_FEATURES
    ] + [NumericFeature(name) for name in DENSE_COLUMNS]
    return StreamingCsvDataset(
        NAME,
        columns=COLUMNS,
        field_names=FIELD_NAMES,
        features=features,
        tasks=[Task(name) for name in LABEL_COLUMNS],
        files=files,
        shuffle_buffer=shuffle_buffer,
        settings={
            "data_dir": os.path.abspath(data_dir),
            "embedding_dim": embedding_dim,
            "max_tokens": max_tokens,
        },
    )
