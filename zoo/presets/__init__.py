"""Presets: models by name, with the settings a paper or benchmark states, some of them trained.

A preset names a model class and its constructor arguments. Those with
shipped weights (`has_weights`) are a whole trained model, preprocessor
included, stored in the package (`zoo/presets/trained/`): nothing is
downloaded. The others build a fresh model for your data: pass its
`preprocessor` (and `tasks`, if they differ from the preset's).

```python
import zoo.presets
zoo.presets.list_presets()                                   # name -> description
model = zoo.presets.from_preset("mmoe_census_income")        # trained, ready to predict
fresh = zoo.presets.from_preset(
    "ple_census_income", load_weights=False, preprocessor=my_preprocessor, tasks=["a", "b"]
)
```

Listing presets imports no TensorFlow (the command line lists them).
"""

import dataclasses
import json
import pathlib

TRAINED = pathlib.Path(__file__).resolve().parent / "trained"
CENSUS_TASKS = ("income", "never_married")
TOWER = (16,)
PEER_BENCHMARK = (
    "the peer benchmark's Census-Income architecture (bench/peer_compare.py: the parameter "
    "counts of DeepCTR's models)"
)


@dataclasses.dataclass(frozen=True)
class Preset:
    """One named model configuration.

    Attributes:
        name: the preset's name, `<model>_<setting>`.
        model: the model's command-line name (a key of `zoo.models.MODELS`).
        arguments: the model's constructor arguments, `tasks` included.
        description: one line: what the preset is and where its settings come from.
        dataset: the dataset (a key of `zoo.data.DATASETS`) the settings are for.
    """

    name: str
    model: str
    arguments: dict
    description: str
    dataset: str

    @property
    def weights_path(self):
        return TRAINED / f"{self.name}.keras"

    @property
    def has_weights(self):
        """Whether a trained model ships with the package under this name."""
        return self.weights_path.is_file()

    def training_record(self):
        """What the shipped model was trained on and scored (its `.json` beside the weights)."""
        path = TRAINED / f"{self.name}.json"
        return json.loads(path.read_text()) if path.is_file() else None


def _census(model, arguments, description):
    name = f"{model.replace('-', '_')}_census_income"
    arguments = {"tasks": list(CENSUS_TASKS), **arguments, "tower_units": list(TOWER)}
    return Preset(name, model, arguments, f"{description}; {PEER_BENCHMARK}", "census-income")


_PRESETS = [
    _census(
        "single-task",
        {"hidden_units": [128]},
        "Single-task baselines: per task its own embeddings and an MLP [128], tower [16]",
    ),
    _census("shared-bottom", {"bottom_units": [256]}, "Shared-Bottom: bottom [256], towers [16]"),
    _census(
        "omoe",
        {"num_experts": 8, "expert_units": [32]},
        "OMoE: 8 experts [32] under one shared gate, towers [16]",
    ),
    _census(
        "mmoe",
        {"num_experts": 8, "expert_units": [32]},
        "MMoE: 8 experts [32], one softmax gate per task, towers [16]",
    ),
    _census(
        "cgc",
        {"num_task_experts": 2, "num_shared_experts": 4, "expert_units": [32]},
        "CGC: 2 task and 4 shared experts [32], towers [16]",
    ),
    _census(
        "ple",
        {"num_levels": 2, "num_task_experts": 2, "num_shared_experts": 4, "expert_units": [32]},
        "PLE: 2 levels of 2 task and 4 shared experts [32], towers [16]",
    ),
    _census(
        "cross-stitch",
        {"units": [64, 32]},
        "Cross-stitch: per task a column [64, 32] with cross-stitch units, towers [16]",
    ),
    _census(
        "snr-trans",
        {"num_layers": 2, "num_experts": 4, "expert_units": 32},
        "SNR-Trans: 2 layers of 4 sub-networks [32], transformation connections, towers [16]",
    ),
    _census(
        "snr-aver",
        {"num_layers": 2, "num_experts": 4, "expert_units": 32},
        "SNR-Aver: 2 layers of 4 sub-networks [32], averaging connections, towers [16]",
    ),
    _census(
        "esmm",
        {"hidden_units": [128]},
        "ESMM: per task an MLP [128] over shared embeddings, the second task's output the "
        "first's times its own, towers [16]",
    ),
    Preset(
        "mfh_kuairand",
        "mfh",
        {
            "tasks": ["click", "long_view", "like"],
            "group_feature": "user_active_degree",
            "bottom_units": [512],
            "group_experts": 2,
            "group_shared_experts": 2,
            "group_units": [256],
            "task_experts": 1,
            "task_shared_experts": 1,
            "task_units": [128],
        },
        "MFH: the appendix's tree over KuaiRand's user groups (shared bottom [512]; per group "
        "2 experts and 2 shared [256]; per task 1 expert and 1 shared [128])",
        "kuairand",
    ),
]
PRESETS = {preset.name: preset for preset in _PRESETS}


def list_presets(model=None):
    """Dict from preset name to its description, those of one model (command-line name) if given.

    A description ends in "(trained)" where weights ship with the package.
    """
    return {
        name: preset.description + (" (trained)" if preset.has_weights else "")
        for name, preset in PRESETS.items()
        if model is None or preset.model == model
    }


def get_preset(name):
    """The `Preset` called `name`, or a ValueError that lists the presets."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def from_preset(name, load_weights=True, **kwargs):
    """A model from a preset.

    Args:
        name: a preset's name (see `list_presets`).
        load_weights: with the default `True`, a preset that ships a
            trained model returns it as trained; `False`, or a preset without
            weights, builds a fresh model from the preset's arguments.
        **kwargs: constructor arguments for a fresh model, on top of the
            preset's: the `preprocessor` (adapted on your data), `tasks`, or
            any architecture argument to change.

    Raises:
        ValueError: unknown preset; arguments given to a trained preset;
            a fresh model without a preprocessor.
    """
    preset = get_preset(name)
    if load_weights and preset.has_weights:
        if kwargs:
            raise ValueError(
                f"Preset {name!r} is a trained model and takes no arguments (received "
                f"{sorted(kwargs)}). Pass load_weights=False to build a fresh model with them."
            )
        import keras

        return keras.saving.load_model(preset.weights_path)
    if "preprocessor" not in kwargs and "features" not in kwargs:
        raise ValueError(
            f"Preset {name!r} builds a fresh model and needs your data's preprocessor: "
            f"from_preset({name!r}, load_weights=False, preprocessor=dataset.make_preprocessor())"
            + ("" if preset.has_weights else "; no trained weights ship under this name")
        )
    from zoo.registry import MODELS

    return MODELS.lookup(preset.model)(**{**preset.arguments, **kwargs})
