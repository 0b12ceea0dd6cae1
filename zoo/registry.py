"""The zoo's models and datasets by command-line name, importable without TensorFlow.

`zoo --help` and a mistyped flag are answered before TensorFlow is imported
(that import alone takes about 5 s on two cores), so the registries hold
`module:attribute` paths and import a model or loader only when it is asked
for. `zoo.models.MODELS` and `zoo.data.DATASETS` are these same objects.
Keep the names stable: scripts depend on them.
"""

import importlib
from collections.abc import Mapping


class LazyRegistry(Mapping):
    """A read-only mapping from name to an object imported on first access.

    Args:
        kind: what the entries are, for error messages (`"model"`).
        paths: dict from name to `"package.module:attribute"`.
    """

    def __init__(self, kind, paths):
        self.kind = kind
        self._paths = dict(paths)

    def __getitem__(self, name):
        module, _, attribute = self._paths[name].partition(":")
        return getattr(importlib.import_module(module), attribute)

    def __iter__(self):
        return iter(self._paths)

    def __len__(self):
        return len(self._paths)

    def check_name(self, name):
        """`name` itself, or a ValueError listing the valid names (imports nothing)."""
        if name not in self._paths:
            raise ValueError(
                f"Unknown {self.kind} {name!r}. Valid {self.kind}s: {', '.join(self._paths)}"
            )
        return name

    def lookup(self, name):
        """The object registered as `name`, or a ValueError listing the valid names."""
        return self[self.check_name(name)]


MODELS = LazyRegistry(
    "model",
    {
        "single-task": "zoo.models.single_task:SingleTask",
        "shared-bottom": "zoo.models.shared_bottom:SharedBottom",
        "omoe": "zoo.models.mmoe:OMoE",
        "mmoe": "zoo.models.mmoe:MMoE",
        "cgc": "zoo.models.ple:CGC",
        "ple": "zoo.models.ple:PLE",
        "cross-stitch": "zoo.models.cross_stitch:CrossStitch",
        "snr-trans": "zoo.models.snr:SNRTrans",
        "snr-aver": "zoo.models.snr:SNRAver",
        "esmm": "zoo.models.esmm:ESMM",
        "youtube-mmoe": "zoo.models.youtube:YouTubeMMoE",
        "mmoe-dlen": "zoo.models.dlen:MMoEDLEN",
        "ple-dlen": "zoo.models.dlen:PLEDLEN",
        "mfh": "zoo.models.mfh:MFH",
        "automtl-derived": "zoo.models.automtl:AutoMTL",
        "mogenet": "zoo.models.mogenet:MoGENet",
        "ngcf": "zoo.models.ngcf:NGCF",
    },
)

DATASETS = LazyRegistry(
    "dataset",
    {
        "ali-ccp": "zoo.data.ali_ccp:load_ali_ccp",
        "aliexpress": "zoo.data.aliexpress:load_aliexpress",
        "census-income": "zoo.data.census_income:load_census_income",
        "synthetic": "zoo.data.synthetic:load_synthetic",
        "census-position-bias": "zoo.data.position_bias:load_census_position_bias",
        "synthetic-funnel": "zoo.data.funnel:load_synthetic_funnel",
        "kuairand": "zoo.data.kuairand:load_kuairand",
        "taobao-multibehavior": "zoo.data.taobao_multibehavior:load_taobao_multibehavior",
        "movielens-100k": "zoo.data.movielens:load_movielens_100k",
        # Any of the above prepared by a builder of datasets/tfds/ (--tfds-name).
        "tfds": "zoo.data.tfds_source:load_tfds",
        # Any of the above after `zoo convert`: sharded TFRecord files.
        "tfrecord": "zoo.data.tfrecord:load_tfrecord",
    },
)
