"""Taobao multi-behaviour (GHCF's cart/buy graph) for TensorFlow Datasets (manual download).

No redistribution right: download `train.txt`, `test.txt` and `cart.txt`
from GHCF's `Data/Taobao/` and pass their folder as `--manual_dir`. Rows,
labels, negatives and splits are
`zoo.data.sources.taobao_multibehavior.load_taobao_multibehavior`'s, with its
defaults (one negative per pair, 10% validation, seed 2024, every user).
"""

import tensorflow_datasets as tfds

from zoo.data.sources.taobao_multibehavior import loader as taobao
from zoo.data.sources.tfds.records import column_schema, dataset_info, packed_examples, split_chunks

SETTINGS = {"negatives_per_positive": 1, "validation_fraction": 0.1, "seed": 2024}

DESCRIPTION = """
Taobao multi-behaviour graph: the EHCF/GHCF authors' preprocessing of Alibaba's Taobao
UserBehavior data (github.com/chenchongthu/GHCF, Data/Taobao), as (user, item) pairs
with two labels, cart and buy. Training pairs: every carted or bought pair except the
held-out purchases; validation: 10% of them (seed 2024); test: the held-out purchases.
One sampled untouched item per pair (labels 0, 0) in every split.

Licence: none that allows redistribution; this builder reads the files you download.
Each example: `ints` (user_id, item_id) and `labels` (cart, buy); names in
`info.metadata`.
"""
CITATION = """
@inproceedings{chen2021graph,
  title = {Graph Heterogeneous Multi-Relational Recommendation},
  author = {Chong Chen and Weizhi Ma and Min Zhang and Zhaowei Wang and Xiuqiang He and
            Chenyang Wang and Yiqun Liu and Shaoping Ma},
  booktitle = {Proceedings of the AAAI Conference on Artificial Intelligence},
  year = {2021}
}
"""


class Builder(tfds.core.GeneratorBasedBuilder):
    """Taobao cart/buy pairs with sampled negatives."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release: the zoo's parser, negatives and splits.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    {taobao.DOWNLOAD}
    Put {", ".join(taobao.FILES.values())} (as published, not renamed) directly in the
    manual folder: `--manual_dir path/to/Taobao`, or the default
    <data_dir>/downloads/manual/.
    """
    # Said outright: TFDS 4.9.10 infers them through importlib_resources, which
    # it does not install.
    pkg_dir_path = tfds.core.Path(__file__).parent
    code_path = tfds.core.Path(__file__)

    def _schema(self):
        return column_schema(
            taobao.NAME, ints=taobao.FEATURES, labels=taobao.TASKS, settings=SETTINGS
        )

    def _info(self):
        return dataset_info(
            self,
            self._schema(),
            DESCRIPTION,
            CITATION,
            homepage="https://github.com/chenchongthu/GHCF",
        )

    def _split_generators(self, dl_manager):
        dataset = taobao.load_taobao_multibehavior(str(dl_manager.manual_dir), **SETTINGS)
        return {
            name: self._generate_examples(dataset.split(name))
            for name in ("train", "validation", "test")
        }

    def _generate_examples(self, split):
        return packed_examples(split_chunks(split), self._schema())
