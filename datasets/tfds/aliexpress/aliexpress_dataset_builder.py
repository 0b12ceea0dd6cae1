"""AliExpress Searching System Dataset for TensorFlow Datasets (manual download).

The terms do not allow redistribution as far as is known: download one
country's files (Tianchi dataset 74690) and pass their folder as
`--manual_dir`. Rows are read and checked by
`zoo.data.sources.aliexpress.load_aliexpress`'s stream, in file order; validation is
the loader's 10% of the training rows, chosen by hashing each row's index.
"""

import tensorflow_datasets as tfds

from zoo.data.formats.streaming_csv import SCAN_BATCH_SIZE
from zoo.data.sources.aliexpress import loader as aliexpress
from zoo.data.sources.tfds.records import column_schema, dataset_info, packed_examples

VALIDATION_FRACTION = 0.1  # load_aliexpress's default

DESCRIPTION = """
AliExpress Searching System Dataset: search impressions of one AliExpress country with
click and conversion labels (Alibaba, Tianchi dataset 74690,
https://tianchi.aliyun.com/dataset/74690), as PLE-style multi-task papers use it: 16
categorical and 63 numerical features. train = 90% of the training file (the rows whose
index hashes outside the validation buckets), validation = the other 10%, test = the
test file.

Licence: none stated for the data; read Tianchi's terms. This builder reads the files
you download. Each example: `ints` (categorical_1..16), `floats` (numerical_1..63) and
`labels` (click, conversion); names in `info.metadata`.
"""
CITATION = """
@inproceedings{li2020aliexpress,
  title = {Improving Multi-Scenario Learning to Rank in E-commerce by Exploiting Task
           Relationships in the Label Space},
  author = {Pengcheng Li and Runze Li and Qing Da and An-Xiang Zeng and Lijun Zhang},
  booktitle = {CIKM},
  year = {2020},
  doi = {10.1145/3340531.3412713}
}
"""


class Builder(tfds.core.GeneratorBasedBuilder):
    """AliExpress impressions of one country, tasks click and conversion."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release: the zoo's reader and its 10% hashed validation split.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download one country's files of the AliExpress Searching System Dataset (Tianchi
    74690: train.csv and test.csv, or torch-rechub's aliexpress_train.csv and
    aliexpress_test.csv; .csv or .csv.gz) and put them directly in the manual folder:
    `--manual_dir path`, or the default <data_dir>/downloads/manual/.
    """
    # Said outright: TFDS 4.9.10 infers them through importlib_resources, which
    # it does not install.
    pkg_dir_path = tfds.core.Path(__file__).parent
    code_path = tfds.core.Path(__file__)

    def _schema(self):
        return column_schema(
            aliexpress.NAME,
            ints=aliexpress.CATEGORICAL_COLUMNS,
            floats=aliexpress.NUMERICAL_COLUMNS,
            labels=aliexpress.LABEL_COLUMNS,
            settings={"validation_fraction": VALIDATION_FRACTION},
        )

    def _info(self):
        return dataset_info(
            self,
            self._schema(),
            DESCRIPTION,
            CITATION,
            homepage="https://tianchi.aliyun.com/dataset/74690",
        )

    def _split_generators(self, dl_manager):
        dataset = aliexpress.load_aliexpress(
            str(dl_manager.manual_dir), validation_fraction=VALIDATION_FRACTION
        )
        return {
            name: self._generate_examples(dataset, name) for name in ("train", "validation", "test")
        }

    def _generate_examples(self, dataset, split):
        # The loader's own decoding and checks, batch by batch, in file order.
        batches = dataset.numpy_batches(split, SCAN_BATCH_SIZE)
        chunks = ((features, labels, {}) for features, labels in batches)
        return packed_examples(chunks, self._schema())
