"""The zoo's models and datasets by command-line name, importable without TensorFlow.

`zoo --help` and a mistyped flag are answered before TensorFlow is imported
(that import alone takes about 5 s on two cores), so the registries hold
`module:attribute` paths and import a model or loader only when it is asked
for. `zoo.models.MODELS` and `zoo.data.DATASETS` are these same objects.
Keep the names stable: scripts depend on them.

`GATES` is found rather than listed: every `zoo/layers/gates/<name>_gate.py`
is the gate `"<name>"` (underscores as hyphens), its one public class read
from the file's source without importing it. Adding a gate is adding that
file (and its test); nothing here changes.
"""

import ast
import importlib
import pathlib
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

    def paths(self):
        """Dict from name to its `"module:attribute"` path (nothing imported)."""
        return dict(self._paths)

    def name_of(self, attribute):
        """The name registered for a class or function (by its `__name__`), or `None`."""
        suffix = f":{attribute.__name__}"
        return next((name for name, path in self._paths.items() if path.endswith(suffix)), None)

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
        "stem": "zoo.models.stem:STEM",
        "home": "zoo.models.home:HoME",
        "pepnet": "zoo.models.pepnet:PEPNet",
        "cross-stitch": "zoo.models.cross_stitch:CrossStitch",
        "snr-trans": "zoo.models.snr:SNRTrans",
        "snr-aver": "zoo.models.snr:SNRAver",
        "esmm": "zoo.models.esmm:ESMM",
        "escm2": "zoo.models.escm2:ESCM2",
        "aitm": "zoo.models.aitm:AITM",
        "dbmtl": "zoo.models.dbmtl:DBMTL",
        "youtube-mmoe": "zoo.models.youtube:YouTubeMMoE",
        "mmoe-dlen": "zoo.models.dlen:MMoEDLEN",
        "ple-dlen": "zoo.models.dlen:PLEDLEN",
        "mfh": "zoo.models.mfh:MFH",
        "automtl-derived": "zoo.models.automtl:AutoMTL",
        "mogenet": "zoo.models.mogenet:MoGENet",
        "ngcf": "zoo.models.ngcf:NGCF",
    },
)


def discover_gates(folder=None):
    """`{name: "zoo.layers.gates.<module>:<Class>"}` for every `<name>_gate.py` in `folder`.

    Reads each file's source (`ast`), imports nothing. Raises a ValueError
    for a gate file that does not define exactly one public class.
    """
    folder = pathlib.Path(folder or pathlib.Path(__file__).parent / "layers" / "gates")
    paths = {}
    for path in sorted(folder.glob("*_gate.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        classes = [
            node.name
            for node in tree.body
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
        ]
        if len(classes) != 1:
            raise ValueError(
                f"Expected one public gate class in {path}. Received: {classes or 'none'}"
            )
        name = path.name[: -len("_gate.py")].replace("_", "-")
        paths[name] = f"zoo.layers.gates.{path.stem}:{classes[0]}"
    return paths


GATES = LazyRegistry("gate", discover_gates())

# The output heads the command line puts on any model (`zoo train --head NAME`).
# Logit heads need features named (`BiasLogit`: `--bias-tower FEATURE`), so
# they come through their own flags.
HEADS = LazyRegistry(
    "head",
    {
        "latent-emotion": "zoo.layers.heads.latent_emotion_mixture:LatentEmotionMixture",
        "entire-space": "zoo.layers.heads.entire_space_product:EntireSpaceProduct",
        "entire-space-counterfactual": (
            "zoo.layers.heads.entire_space_counterfactual:EntireSpaceCounterfactual"
        ),
    },
)

DATASETS = LazyRegistry(
    "dataset",
    {
        "ali-ccp": "zoo.data.sources.ali_ccp:load_ali_ccp",
        "aliexpress": "zoo.data.sources.aliexpress:load_aliexpress",
        "census-income": "zoo.data.sources.census_income:load_census_income",
        "synthetic": "zoo.data.synthetic.synthetic:load_synthetic",
        "census-position-bias": "zoo.data.synthetic.position_bias:load_census_position_bias",
        "synthetic-funnel": "zoo.data.synthetic.funnel:load_synthetic_funnel",
        "kuairand": "zoo.data.sources.kuairand:load_kuairand",
        "taobao-multibehavior": "zoo.data.sources.taobao_multibehavior:load_taobao_multibehavior",
        "taobao-user-behavior": "zoo.data.sources.taobao_user_behavior:load_taobao_user_behavior",
        "movielens-100k": "zoo.data.sources.movielens:load_movielens_100k",
        # Any of the above prepared by a builder of datasets/tfds/ (--tfds-name).
        "tfds": "zoo.data.sources.tfds:load_tfds",
        # Any of the above after `zoo convert`: sharded TFRecord files.
        "tfrecord": "zoo.data.formats.tfrecord:load_tfrecord",
    },
)
