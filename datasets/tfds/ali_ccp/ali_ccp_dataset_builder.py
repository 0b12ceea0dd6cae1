"""Ali-CCP (Alibaba Click and Conversion Prediction) for TensorFlow Datasets (manual download).

The terms do not allow redistribution as far as is known: download the
preprocessed CSV files (torch-rechub / the AITM authors' preprocessing of
Tianchi dataset 408) and pass their folder as `--manual_dir`. Rows are read
and checked by `zoo.data.sources.ali_ccp.load_ali_ccp`'s stream, in file order, split
as published (train, val, test).
"""

import tensorflow_datasets as tfds

from zoo.data.formats.streaming_csv import SCAN_BATCH_SIZE
from zoo.data.sources.ali_ccp import loader as ali_ccp
from zoo.data.sources.tfds.records import column_schema, dataset_info, packed_examples

DESCRIPTION = """
Ali-CCP: impressions of Taobao's recommender with click and purchase labels (Alibaba,
Tianchi dataset 408, https://tianchi.aliyun.com/dataset/408), as the ESMM paper uses it,
in the preprocessed form of the AITM authors and torch-rechub: 23 label-encoded sparse
fields and 8 dense ones. Splits as published: train, val (validation), test.

Licence: none stated for the data; read Tianchi's terms. This builder reads the files
you download. Each example: `ints` (sparse fields f101 ... f150_14), `floats` (D109_14
... D853) and `labels` (click, purchase); names in `info.metadata`.
"""
CITATION = """
@inproceedings{ma2018esmm,
  title = {Entire Space Multi-Task Model: An Effective Approach for Estimating
           Post-Click Conversion Rate},
  author = {Xiao Ma and Liqin Zhao and Guan Huang and Zhi Wang and Zelin Hu and
            Xiaoqiang Zhu and Kun Gai},
  booktitle = {SIGIR},
  year = {2018},
  doi = {10.1145/3209978.3210104}
}
"""


class Builder(tfds.core.GeneratorBasedBuilder):
    """Ali-CCP impressions, tasks click and purchase."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: the zoo's reader, splits as published."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download the preprocessed Ali-CCP CSV files (torch-rechub's ali_ccp_train.csv,
    ali_ccp_val.csv and ali_ccp_test.csv, made from Tianchi dataset 408 by the AITM
    authors' process_public_dataset.py) and put them, .csv or .csv.gz, shards
    ali_ccp_train-*.csv allowed, directly in the manual folder: `--manual_dir path`, or
    the default <data_dir>/downloads/manual/.
    """
    # Said outright: TFDS 4.9.10 infers them through importlib_resources, which
    # it does not install.
    pkg_dir_path = tfds.core.Path(__file__).parent
    code_path = tfds.core.Path(__file__)

    def _schema(self):
        return column_schema(
            ali_ccp.NAME,
            ints=ali_ccp.SPARSE_FEATURES,
            floats=ali_ccp.DENSE_COLUMNS,
            labels=ali_ccp.LABEL_COLUMNS,
        )

    def _info(self):
        return dataset_info(
            self,
            self._schema(),
            DESCRIPTION,
            CITATION,
            homepage="https://tianchi.aliyun.com/dataset/408",
        )

    def _split_generators(self, dl_manager):
        dataset = ali_ccp.load_ali_ccp(str(dl_manager.manual_dir))
        return {
            name: self._generate_examples(dataset, name) for name in ("train", "validation", "test")
        }

    def _generate_examples(self, dataset, split):
        # The loader's own decoding and checks, batch by batch, in file order.
        batches = dataset.numpy_batches(split, SCAN_BATCH_SIZE)
        chunks = ((features, labels, {}) for features, labels in batches)
        return packed_examples(chunks, self._schema())
