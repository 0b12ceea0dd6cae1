"""The catalogue of model flags, generated from the model constructors.

`zoo train` makes one flag per constructor argument that a flag can set,
with the help and defaults the code has. Reading them from the classes
means importing TensorFlow (about 5 s), too slow for `zoo --help` and a
mistyped flag, so they are written once to `model_arguments.json`, which the
parser reads, and a test regenerates the catalogue and compares:

    python -m zoo.cli.model_arguments --write   # after changing a constructor

For each argument the catalogue holds its value type (inferred from the
defaults), each model's default, the docstring help with the models it
describes, and for a few string arguments the values their docstring lists.
"""

import argparse
import importlib
import inspect
import json
import pathlib
import re
import sys

from zoo.registry import MODELS

CATALOGUE_PATH = pathlib.Path(__file__).with_name("model_arguments.json")
WRITE_COMMAND = "python -m zoo.cli.model_arguments --write"

# Arguments that are not flags: objects rather than values (features,
# preprocessor, graph_encoder, kernel_regularizer, switcher), or values a
# hand-written flag of `zoo train` sets: --loss-weighting/--loss-weights,
# --ranking-weights, --seed, --gate/--gate-top-k, --bias-tower, --arch;
# DLEN's base_rates are measured on the training split.
NOT_FLAGS = frozenset(
    {
        "tasks",
        "features",
        "preprocessor",
        "graph_encoder",
        "loss_weighting",
        "ranking_weights",
        "kernel_regularizer",
        "seed",
        "gate",
        "switcher",
        "bias_tower_feature",
        "architecture",
        "base_rates",
    }
)
# Arguments `zoo train` sets from the dataset's graphs and the --graph-* flags.
SET_FROM_GRAPHS = {
    "ngcf": ("num_users", "num_items", "user_id_feature", "item_id_feature", "units", "num_layers")
}
# The type of arguments whose defaults say nothing about it (`None`, `()`).
TYPES_WHERE_DEFAULTS_ARE_EMPTY = {
    "alpha": "float",
    "alpha_ratio": "float",
    "bias_tasks": "names",
    "default_group": "str",
    "domain_features": "names",
    "gate_hidden_dim": "int",
    "personal_features": "names",
    "shallow_tower_units": "units",
}
# String arguments that take one of the values the code checks them against.
CHOICES = {
    "layout": "zoo.layers.switchers.facet_tree:LAYOUTS",
    "group_level": "zoo.layers.switchers.facet_tree:LEVEL_KINDS",
    "task_level": "zoo.layers.switchers.facet_tree:LEVEL_KINDS",
    "interaction": "zoo.layers.graph.pair_interaction:KINDS",
    "epnet_granularity": "zoo.layers.features.personalized_embedding:GRANULARITIES",
    "estimator": "zoo.layers.heads.entire_space_counterfactual:ESTIMATORS",
}
# The help says the default itself, from the code: "Defaults to `2`." is left out.
_DEFAULTS_SENTENCE = re.compile(r" ?Defaults to `[^`]*`\.(?= |$)")


def model_arguments(cls: type) -> dict:
    """Dict from argument name to `zoo.arguments.Argument` for a model class.

    A `SwitcherModel` lists its own (`constructor_arguments`); for the others
    `__init__` is followed up the zoo's classes while it passes `**kwargs` on.
    """
    from zoo.arguments import class_arguments
    from zoo.models.switcher_model import SwitcherModel

    if issubclass(cls, SwitcherModel):
        return cls.constructor_arguments()
    arguments = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("zoo."):
            break
        if "__init__" not in vars(klass):
            continue
        for name, argument in class_arguments(klass).items():
            arguments.setdefault(name, argument)
        parameters = inspect.signature(klass.__init__).parameters.values()
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            break
    return arguments


def catalogue() -> dict:
    """The catalogue as the code has it: `{"command": ..., "arguments": {name: entry}}`.

    Imports every model (and TensorFlow). Each entry is
    `{"type", "defaults": {model: default}, "help": [[text, [models]], ...]}`,
    plus `"choices"` for an argument of `CHOICES`.
    """
    defaults, helps = {}, {}
    for model in MODELS:
        skipped = NOT_FLAGS.union(SET_FROM_GRAPHS.get(model, ()))
        for name, argument in model_arguments(MODELS[model]).items():
            if name in skipped or argument.required:
                continue
            defaults.setdefault(name, {})[model] = _json_value(argument.default)
            helps.setdefault(name, {})[model] = _DEFAULTS_SENTENCE.sub("", argument.help)
    arguments = {}
    for name, by_model in defaults.items():
        kind = _value_type(name, by_model.values())
        if kind is None:
            continue  # a dict or an object: --model-config FILE sets it
        entry = {"type": kind, "defaults": by_model, "help": _help_groups(helps[name], by_model)}
        if name in CHOICES:
            module, _, attribute = CHOICES[name].partition(":")
            entry["choices"] = list(getattr(importlib.import_module(module), attribute))
        arguments[name] = entry
    return {"command": WRITE_COMMAND, "arguments": arguments}


def render(entries: dict) -> str:
    """The catalogue as its file holds it."""
    return json.dumps(entries, indent=1) + "\n"


def _json_value(value):
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _value_type(name, defaults):
    """int, float, bool, units (ints), names (strs) or str, from the defaults; None if none fits."""
    kinds = set()
    for value in defaults:
        if value is None or value == []:
            continue
        if isinstance(value, bool):
            kinds.add("bool")
        elif isinstance(value, int):
            kinds.add("int")
        elif isinstance(value, float):
            kinds.add("float")
        elif isinstance(value, str):
            kinds.add("str")
        elif isinstance(value, list) and all(type(v) is int for v in value):
            kinds.add("units")
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            kinds.add("names")
        else:
            return None
    if not kinds:
        return TYPES_WHERE_DEFAULTS_ARE_EMPTY.get(name)
    if kinds == {"int", "float"}:
        return "float"
    if kinds == {"int", "units"}:
        return "units"  # SNR's expert_units: one width, or one per layer
    if len(kinds) > 1:
        raise ValueError(
            f"Expected the defaults of {name!r} to share one type. Received: {sorted(kinds)}"
        )
    return kinds.pop()


def _help_groups(helps, defaults):
    """`[[text, [models]], ...]`: the models that document the argument alike, in registry order.

    A model without a docstring entry (SNRAver's switcher) shares the help
    of a model with the same default, else of the first.
    """
    groups = {}
    for model, text in helps.items():
        if text:
            groups.setdefault(text, []).append(model)
    for model in [model for model, text in helps.items() if not text]:
        alike = [t for t, models in groups.items() if defaults[models[0]] == defaults[model]]
        groups.setdefault((alike or list(groups) or [""])[0], []).append(model)
    order = list(helps)
    return [[text, sorted(models, key=order.index)] for text, models in groups.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zoo.cli.model_arguments",
        description=f"Check (or --write) {CATALOGUE_PATH.name}, zoo train's model flags.",
    )
    parser.add_argument("--write", action="store_true", help="rewrite the file from the code")
    args = parser.parse_args(argv)
    text = render(catalogue())
    if args.write:
        CATALOGUE_PATH.write_text(text)
        print(f"Wrote {CATALOGUE_PATH}")
        return 0
    if CATALOGUE_PATH.read_text() != text:
        print(f"{CATALOGUE_PATH} is out of date; run `{WRITE_COMMAND}`.", file=sys.stderr)
        return 1
    print(f"{CATALOGUE_PATH} matches the model constructors.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
