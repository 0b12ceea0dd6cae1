"""KuaiRand (the like/hate subset the zoo ships) for TensorFlow Datasets.

`cd datasets/tfds/kuairand && python ../tfds_build.py --data_dir DIR` (or
`tfds build`), then `load_tfds("kuairand", data_dir=DIR)`. Rows, labels,
label masks and the split by date are `zoo.data.sources.kuairand.load_kuairand`'s,
with every task and the loader's default days.
"""

import pathlib

import tensorflow_datasets as tfds

from zoo.data.sources.kuairand import load_kuairand, schema
from zoo.data.sources.tfds.records import column_schema, dataset_info, packed_examples, split_chunks

SHIPPED_DIR = pathlib.Path(__file__).resolve().parents[2] / "kuairand"
VALIDATION_DAYS, TEST_DAYS = 2, 2  # load_kuairand's defaults
STRING_COLUMNS = schema.STRING_USER_FEATURES
INT_COLUMNS = schema.LOG_FEATURES + schema.INT_USER_FEATURES

DESCRIPTION = """
KuaiRand-27K like/hate subset: 41,828 interactions of the Kuaishou short-video app's
standard recommendation log (2022-04-08 to 2022-04-21) on which the user hit like or
hate, selected by a third party (Alessandro Soccol,
github.com/alessandrosocc/predict_explicit_negative_feedback_kuairand), joined with the
KuaiRand user table. Every row has explicit feedback: it is not an impression log.

Original publisher: Kuaishou Technology and the KuaiRand authors (https://kuairand.com,
https://github.com/chongminggao/KuaiRand). Licence: Creative Commons
Attribution-ShareAlike 4.0 International (CC BY-SA 4.0); this dataset is an adaptation
and stays under CC BY-SA 4.0. Changes: rows and users filtered and is_like/is_hate
replaced by label (by the third party); by the mtl-zoo: columns packed per type, the
labels computed as zoo.data.sources.kuairand does.

Each example: `strings` (range and activity columns of the user table), `ints` (ids,
hour, weekday and the integer user columns), `labels` (click, long_view, like, follow,
comment, forward, profile_enter, pcr) and `label_present` (pcr is missing where the
duration is 0); names in `info.metadata`. Split by date: the last 2 days test, the 2
before validation, the rest train.
"""
CITATION = """
@inproceedings{gao2022kuairand,
  title = {KuaiRand: An Unbiased Sequential Recommendation Dataset with Randomly Exposed Videos},
  author = {Chongming Gao and Shijun Li and Yuan Zhang and Jiawei Chen and Biao Li and
            Wenqiang Lei and Peng Jiang and Xiangnan He},
  booktitle = {Proceedings of the 31st ACM International Conference on Information and
               Knowledge Management},
  series = {CIKM '22},
  doi = {10.1145/3511808.3557624},
  year = {2022}
}
"""


class Builder(tfds.core.GeneratorBasedBuilder):
    """KuaiRand like/hate subset, every task of `zoo.data.sources.kuairand.schema.TASKS`.

    Args:
        source_dir: folder with a KuaiRand log and user table (see
            `load_kuairand`); defaults to the repository's `datasets/kuairand/`.
        **kwargs: `tfds.core.DatasetBuilder` arguments (`data_dir`, ...).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release: the zoo's parser, labels and split by date (2 + 2 days).",
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
            strings=STRING_COLUMNS,
            ints=INT_COLUMNS,
            labels=schema.TASKS,
            masked=("like", "pcr"),
            settings={"validation_days": VALIDATION_DAYS, "test_days": TEST_DAYS},
        )

    def _info(self):
        return dataset_info(
            self, self._schema(), DESCRIPTION, CITATION, homepage="https://kuairand.com"
        )

    def _split_generators(self, dl_manager):
        dataset = load_kuairand(
            str(self.source_dir),
            tasks=list(schema.TASKS),
            validation_days=VALIDATION_DAYS,
            test_days=TEST_DAYS,
        )
        return {
            name: self._generate_examples(dataset.split(name))
            for name in ("train", "validation", "test")
        }

    def _generate_examples(self, split):
        return packed_examples(split_chunks(split), self._schema())
