"""Flags more than one command takes, their value types, and the model flags of `zoo train`.

Nothing here imports TensorFlow: the model flags come from the catalogue
`model_arguments.json` (see `zoo.cli.model_arguments`), not from the model
classes, so `zoo train --help` and a flag a model does not take are
answered in a fraction of a second.
"""

import argparse
import functools
import inspect
import json
from collections.abc import Callable, Iterable

from zoo.cli.model_arguments import CATALOGUE_PATH
from zoo.registry import MODELS

DATASET_FLAGS = {
    # flag dest -> loader argument
    "data_dir": "data_dir",
    "task_group": "task_group",
    "protocol": "protocol",
    "embedding_dim": "embedding_dim",
    "correlation": "correlation",
    "eta": "eta",
    "list_size": "list_size",
    "tasks": "tasks",
    "validation_days": "validation_days",
    "test_days": "test_days",
    "max_rows": "max_rows",
    "negatives_per_positive": "negatives_per_positive",
    "max_users": "max_users",
    "tfds_name": "tfds_name",
    "stream": "streaming",
    "history_length": "history_length",
    "history_pooling": "history_pooling",
    "genres": "genres",
    "category_history": "category_history",
}


def units(text: str) -> list[int]:
    """`64,32` -> `[64, 32]`: layer widths, each >= 1."""
    try:
        widths = [int(u) for u in text.split(",") if u.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 64,32; got {text!r}"
        ) from None
    if any(u < 1 for u in widths):
        raise argparse.ArgumentTypeError(f"layer widths must be >= 1; got {text!r}")
    return widths


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:  # what Python, NumPy and TensorFlow all take
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**32 - 1; got {text!r}")
    return value


def names(text: str) -> list[str]:
    """`click, like` -> `["click", "like"]`."""
    found = [n.strip() for n in text.split(",") if n.strip()]
    if not found:
        raise argparse.ArgumentTypeError(f"expected comma-separated names; got {text!r}")
    return found


def task_weights(text: str) -> dict[str, float]:
    """`income=1,never_married=0.5` -> `{"income": 1.0, "never_married": 0.5}`."""
    weights = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected TASK=WEIGHT pairs such as income=1,never_married=0.5; got {item!r}"
            ) from None
    return weights


def add_data_flags(parser: argparse.ArgumentParser, datasets: Iterable[str]) -> None:
    data = parser.add_argument_group("data (flags a dataset does not take are an error)")
    data.add_argument(
        "--dataset",
        default="census-income",
        help=f"one of: {', '.join(datasets)} (default: %(default)s)",
    )
    data.add_argument(
        "--data-dir",
        default=None,
        help="folder holding the dataset's files (default: $ZOO_DATA_DIR/<dataset> if set, "
        "else the copy shipped in the package or the checkout's datasets/)",
    )
    data.add_argument(
        "--task-group",
        type=int,
        choices=(1, 2),
        help="census-income: 1 = income + never_married (default), "
        "2 = college_or_above + never_married",
    )
    data.add_argument(
        "--protocol",
        choices=("paper", "all-features"),
        help="census-income: 'paper' (default) drops every label column of both groups from "
        "the features; 'all-features' drops only this group's labels, as the peer libraries do",
    )
    data.add_argument(
        "--embedding-dim",
        type=int,
        help="census-income: embedding width of every categorical feature (default 4)",
    )
    data.add_argument(
        "--eta",
        type=float,
        help="census-position-bias: position bias severity, P(examined) = (1/p)^eta (default 1)",
    )
    data.add_argument(
        "--list-size",
        type=int,
        help="census-position-bias: results per simulated list (default 10)",
    )
    data.add_argument(
        "--tasks",
        type=names,
        help="kuairand: tasks, from click, long_view, like, follow, comment, forward, "
        "profile_enter, pcr (default click,long_view,like,follow,comment,forward)",
    )
    data.add_argument(
        "--validation-days",
        type=int,
        help="kuairand: the last days before the test days are validation (default 2)",
    )
    data.add_argument(
        "--test-days", type=int, help="kuairand: the last days of the log are test (default 2)"
    )
    data.add_argument(
        "--max-rows",
        type=int,
        help="kuairand, taobao-user-behavior: read at most this many log rows (for a quick run "
        "on the full download)",
    )
    data.add_argument(
        "--stream",
        action="store_const",
        const=True,
        default=None,
        help="census-income, kuairand, tfds: read the files as a stream on every pass instead "
        "of into memory (data bigger than memory, e.g. KuaiRand-27K's 322M log rows); "
        "ali-ccp, aliexpress and tfrecord always stream",
    )
    data.add_argument(
        "--negatives-per-positive",
        type=int,
        help="movielens-100k, taobao-multibehavior: sampled non-interacted items per "
        "interaction (default 1)",
    )
    data.add_argument(
        "--max-users",
        type=int,
        help="taobao-multibehavior: keep a seeded sample of this many users with all their "
        "pairs (default: every user)",
    )
    data.add_argument(
        "--tfds-name",
        help="tfds: the prepared TFDS dataset to read from --data-dir (the TFDS data folder), "
        "e.g. census_income, kuairand, movielens_100k (see datasets/tfds/README.md)",
    )
    data.add_argument(
        "--history-length",
        type=int,
        help="kuairand, movielens-100k, taobao-user-behavior: add the user's behaviour history "
        "(past clicked videos, rated movies, items), this many newest ids strictly before each "
        "row (default: no history)",
    )
    data.add_argument(
        "--history-pooling",
        choices=("mean", "sum", "max", "attention", "transformer"),
        help="with --history-length: how the history becomes one vector; 'attention' is DIN's, "
        "'transformer' BST's (needs keras-hub) (default mean)",
    )
    data.add_argument(
        "--genres",
        choices=("flags", "multi_hot"),
        help="movielens-100k: the genres as 19 0/1 features (flags, default) or one multi-hot "
        "list feature",
    )
    data.add_argument(
        "--category-history",
        action="store_const",
        const=True,
        default=None,
        help="taobao-user-behavior: with --history-length, also the history of item categories",
    )
    data.add_argument(
        "--correlation",
        type=float,
        help="synthetic: correlation p of the two regression tasks' weights (default 0.5)",
    )


def add_export_flags(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--export-dir",
        default="savedmodels",
        help="TF Serving model base folder (default: %(default)s)",
    )
    group.add_argument(
        "--export-name", default=None, help="served model name (default: <model>-<dataset>)"
    )
    group.add_argument(
        "--xla-signatures",
        action="store_true",
        help="also export <signature>_xla twins whose dense part XLA compiles (on a CPU, "
        "TF Serving runs them with --xla_cpu_compilation_enabled=true)",
    )


def accepted_arguments(target: Callable) -> set[str]:
    """Argument names of a function, or of a class's constructor chain.

    For a class, `__init__` methods are followed up the zoo's hierarchy
    while they pass `**kwargs` on: `YouTubeMMoE` hands its MMoE arguments to
    `MMoE`. Keras' own constructors are not flags.
    """
    # A SwitcherModel's signature lists its switcher's arguments too.
    accepted = set(inspect.signature(target).parameters)
    if not isinstance(target, type):
        return accepted
    for cls in target.__mro__:
        if not cls.__module__.startswith("zoo."):
            break
        if "__init__" not in vars(cls):
            continue
        parameters = inspect.signature(cls.__init__).parameters
        accepted |= set(parameters)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            break
    return accepted


def flag_kwargs(
    args: argparse.Namespace, flags: dict[str, str], target: Callable, kind: str, name: str
) -> dict:
    """Keyword arguments of `target` (a loader or a model class) from the flags the user set.

    A flag left unset is not passed (the function's default applies); a flag
    set for a model or dataset that has no such argument is an error rather
    than silently ignored.
    """
    accepted = accepted_arguments(target)
    kwargs = {}
    for dest, argument in flags.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if argument not in accepted:
            raise SystemExit(_does_not_apply(args, dest, kind, name))
        kwargs[argument] = value
    return kwargs


@functools.cache
def model_catalogue() -> dict[str, dict]:
    """Dict from constructor argument to its catalogue entry (see `zoo.cli.model_arguments`)."""
    return json.loads(CATALOGUE_PATH.read_text())["arguments"]


def add_model_flags(group: argparse._ActionsContainer) -> None:
    """One flag per catalogued constructor argument: `num_experts` is `--num-experts`."""
    parsers = {"int": int, "float": float, "units": units, "names": names, "str": str}
    for name, entry in model_catalogue().items():
        options = {"help": model_flag_help(entry)}
        if entry["type"] == "bool":
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = parsers[entry["type"]]
        if "choices" in entry:
            options["choices"] = entry["choices"]
        group.add_argument("--" + name.replace("_", "-"), **options)


def model_flag_kwargs(args: argparse.Namespace, model: str) -> dict:
    """The constructor arguments of `model` (a registry name) that model flags set.

    A flag left unset is not passed; a flag `model` does not take is a usage error.
    """
    kwargs = {}
    for name, entry in model_catalogue().items():
        value = getattr(args, name)
        if value is None:
            continue
        if model not in entry["defaults"]:
            raise SystemExit(_does_not_apply(args, name, "model", model))
        if type(entry["defaults"][model]) is int and isinstance(value, list) and len(value) == 1:
            value = value[0]  # one width where the model takes an int or one per layer
        kwargs[name] = value
    return kwargs


def model_flag_help(entry: dict) -> str:
    """`"mmoe, omoe: the number of experts N (default 8; snr-trans: 4)"`, from a catalogue entry."""
    parts = []
    for text, models in entry["help"]:
        if len(entry["help"]) == 1 and len(models) == len(MODELS):
            who = "every model"
        else:
            who = ", ".join(models)
        by_default = {}
        for model in models:
            by_default.setdefault(_default_text(entry["defaults"][model]), []).append(model)
        shown = sorted(by_default.items(), key=lambda item: -len(item[1]))
        defaults = "; ".join(
            [f"default {shown[0][0]}"] + [f"{', '.join(m)}: {d}" for d, m in shown[1:]]
        )
        described = f"{who}: {text.rstrip('.')}" if text else who
        parts.append(f"{described} ({defaults})")
    return ". ".join(parts).replace("%", "%%")


def _default_text(value):
    if value is None or value == []:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _does_not_apply(args, dest, kind, name):
    flag = "--" + dest.replace("_", "-")
    return f"zoo {args.command}: error: {flag} does not apply to {kind} {name!r}."
