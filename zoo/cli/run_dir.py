"""The output folder of `zoo train`: claimed before training, written so that nothing is lost.

A run folder holds `metrics.json` (the run record), `model.keras`,
TensorBoard logs in `logs/`, and after `zoo evaluate` `evaluation.json` and
gate pictures. The record and the model are written as soon as training
ends, before evaluation and export, so that `zoo evaluate --run-dir` and
`zoo export --run-dir` can finish a run whose later steps failed.
"""

import glob
import json
import os
import shutil
import zipfile

from zoo.files import check_creatable_folder

RUN_RECORD = "metrics.json"
MODEL_FILE = "model.keras"
LOGS = "logs"
# What a run leaves in its folder; --overwrite replaces these and nothing else.
RUN_ENTRIES = (RUN_RECORD, MODEL_FILE, "evaluation.json", LOGS)
# The previous run's entries while an --overwrite run trains: removed once the
# new model is saved, so a failed overwrite still leaves the old run there.
REPLACED = ".replaced-run"


class RunDirError(ValueError):
    """A run folder that cannot be used; the message names it and says what to do."""


def run_entries(folder):
    """The names of a previous run's files and folders in `folder`."""
    if not os.path.isdir(folder):
        return []
    names = [name for name in RUN_ENTRIES if os.path.exists(os.path.join(folder, name))]
    names += sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "gates-*.png")))
    return names


def check_output_dir(path, overwrite=False, resuming=False):
    """Raises `RunDirError` unless `path` can take a new run; changes nothing.

    Returns the previous run's entries found there (see `claim_output_dir`).
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise RunDirError(f"--output-dir {path} is a file, not a folder.")
    check_creatable_folder(path, "--output-dir")
    existing = run_entries(path)
    finished = [name for name in existing if name != LOGS]
    if existing and not overwrite and (finished or not resuming):
        raise RunDirError(
            f"--output-dir {path} already holds a run ({', '.join(existing)}). Pass --overwrite "
            "to replace it, or choose another folder."
        )
    return existing


def claim_output_dir(path, overwrite=False, resuming=False):
    """Makes `path` ready for a new run, before training; returns the entries set aside.

    A folder that already holds a run is refused unless `overwrite`: the two
    runs' records would be mixed, and their TensorBoard logs too. With
    `overwrite`, the previous run's entries are moved into a hidden folder,
    to be dropped (`drop_replaced_run`) once the new model is saved. When
    `resuming` from a backup, an unfinished run's logs (no model yet) belong
    to the run that goes on and are kept.
    """
    existing = check_output_dir(path, overwrite, resuming)
    os.makedirs(path, exist_ok=True)
    if not (existing and overwrite):
        return []
    replaced = os.path.join(path, REPLACED)
    shutil.rmtree(replaced, ignore_errors=True)
    os.makedirs(replaced)
    for name in existing:
        os.replace(os.path.join(path, name), os.path.join(replaced, name))
    return existing


def drop_replaced_run(path):
    """Removes the previous run's entries that `claim_output_dir(overwrite=True)` set aside."""
    shutil.rmtree(os.path.join(path, REPLACED), ignore_errors=True)


def save_model(model, run_dir):
    """Saves `model` as `run_dir/model.keras`, beside then renamed: never a truncated file."""
    path = os.path.join(run_dir, MODEL_FILE)
    partial = os.path.join(run_dir, ".partial-model.keras")
    try:
        model.save(partial)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return path


def read_run_record(run_dir):
    """The run record of a `zoo train` folder, or `RunDirError` saying what is wrong."""
    path = os.path.join(run_dir, RUN_RECORD)
    if not os.path.isdir(run_dir):
        raise RunDirError(f"{run_dir} is not a folder; expected a `zoo train` output folder.")
    if not os.path.exists(path):
        raise RunDirError(
            f"{path} not found; is {run_dir!r} a `zoo train` output folder? A run that stopped "
            "before training finished has no record and no model to evaluate or export."
        )
    try:
        with open(path) as f:
            record = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunDirError(f"{path} is corrupt (not valid JSON: {error}).") from None
    if not isinstance(record, dict) or "data" not in record or "model" not in record:
        raise RunDirError(f"{path} is not a `zoo train` run record (no 'model' and 'data').")
    return record


def load_keras_model(run_dir):
    """`run_dir/model.keras`, or `RunDirError` naming a missing or corrupt file."""
    import keras

    path = os.path.join(run_dir, MODEL_FILE)
    if not os.path.exists(path):
        raise RunDirError(f"{path} not found; is {run_dir!r} a `zoo train` output folder?")
    # keras reports a truncated or foreign file as "File not found"; say what it is.
    corrupt = f"{path} is corrupt: not a complete .keras archive"
    if not zipfile.is_zipfile(path):
        raise RunDirError(f"{corrupt} (no zip directory: cut short, or another kind of file).")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        raise RunDirError(f"{corrupt} ({error}).") from None
    if damaged is not None:
        raise RunDirError(f"{corrupt} ({damaged} inside it fails its checksum).")
    # Registers the zoo's classes with Keras, which finds them by name only.
    import zoo.features  # noqa: F401
    import zoo.layers  # noqa: F401
    import zoo.losses  # noqa: F401
    import zoo.models  # noqa: F401

    try:
        return keras.saving.load_model(path)
    except Exception as error:
        raise RunDirError(
            f"{path} could not be loaded: {type(error).__name__}: {error}. It may have been "
            "written by another version of the zoo or of Keras."
        ) from None
