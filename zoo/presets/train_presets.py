"""Trains the presets that ship weights, on the data the package embeds, and writes them.

    python -m zoo.presets.train_presets            # every preset in SHIPPED
    python -m zoo.presets.train_presets mmoe_census_income

Each writes `zoo/presets/trained/<name>.keras` (the model with its
preprocessor) and `<name>.json` (the data, settings, epochs and test
scores it was trained to), each by an atomic rename: an interrupted run
leaves the previous files as they were. Only data the package may ship
trains a shipped preset: Census-Income (CC BY 4.0).
"""

import argparse
import json
import os
import pathlib
import platform
import sys
import tempfile

import keras

import zoo
from zoo.data import load_dataset
from zoo.presets import TRAINED, get_preset
from zoo.training import TrainingConfig, evaluate, fit

# The presets trained and shipped, each with the data it trains on.
SHIPPED = ("mmoe_census_income",)
SEED = 2024
# Census-Income, as the paper's protocol and task group 1 take it (the default
# of `zoo train`); its licence lets the weights ship (CC BY 4.0, attribution in
# the .json and in zoo/data's card).
DATA = {"name": "census-income", "task_group": 1, "protocol": "paper"}
ATTRIBUTION = (
    "Census-Income (KDD), UCI Machine Learning Repository, CC BY 4.0, "
    "https://doi.org/10.24432/C5N30T"
)


def train(name, epochs=50, verbose=1):
    """Trains the preset `name` from scratch and writes its `.keras` and `.json`."""
    preset = get_preset(name)
    keras.utils.set_random_seed(SEED)
    dataset = load_dataset(DATA["name"], task_group=DATA["task_group"], protocol=DATA["protocol"])
    preprocessor = dataset.make_preprocessor()
    arguments = {**preset.arguments, "tasks": dataset.tasks}
    model = zoo.models.get_model_class(preset.model)(preprocessor=preprocessor, **arguments)
    config = TrainingConfig(epochs=epochs, seed=SEED, verbose=verbose)
    result = fit(model, dataset, config)
    scores = evaluate(model, dataset, "test")
    record = {
        "preset": name,
        "model": preset.model,
        "arguments": preset.arguments,
        "data": {**DATA, "attribution": ATTRIBUTION},
        "seed": SEED,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "test": scores,
        "zoo_version": zoo.__version__,
        "keras_version": keras.__version__,
        "python": platform.python_version(),
        "command": f"python -m zoo.presets.train_presets {name}",
    }
    TRAINED.mkdir(parents=True, exist_ok=True)
    _write_atomically(preset.weights_path, model.save)
    _write_atomically(
        TRAINED / f"{name}.json",
        lambda path: pathlib.Path(path).write_text(
            json.dumps(record, indent=2, default=float) + "\n"
        ),
    )
    return record


def _write_atomically(path, write):
    """`write(temporary path)` beside `path`, then a rename over it."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    try:
        write(temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(SHIPPED), help="presets to train")
    parser.add_argument("--epochs", type=int, default=50, help="at most; early stopping ends it")
    args = parser.parse_args(argv)
    for name in args.names:
        if name not in SHIPPED:
            parser.error(f"{name!r} is not a shipped preset; they are {', '.join(SHIPPED)}")
        record = train(name, epochs=args.epochs)
        print(json.dumps({"preset": name, "test": record["test"]}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
