"""SavedModel export in the layout TF Serving loads: `<base>/<name>/<version>/`.

The `serving_default` signature takes one named input per raw feature with
its real dtype (string categoricals, float32 numerics, int64 ids), runs the
model's `FeaturePreprocessor` and the model, and returns one named output
per task. A plain `model.export()` of a subclassed model with dict inputs
would instead expose `args_0`-style inputs and `output_0`-style outputs.
"""

import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from zoo.export.warmup import write_warmup_requests

SERVING_SIGNATURE = "serving_default"


def serving_input_signature(preprocessor):
    """`tf.TensorSpec`s, one per raw feature, named after the feature, batch dimension None."""
    return [
        tf.TensorSpec(shape=(None,), dtype=dtype, name=name)
        for name, dtype in preprocessor.raw_dtypes().items()
    ]


def make_serving_function(model):
    """A `tf.function` raw features -> `{task: prediction}` with named arguments.

    Binary and regression tasks answer `(batch,)`, multiclass tasks
    `(batch, classes)` probabilities.
    """
    preprocessor = model.preprocessor
    if preprocessor is None:
        raise ValueError(
            "The model has no preprocessor; a SavedModel for TF Serving must take raw "
            "features. Build the model with preprocessor=..."
        )
    names = list(preprocessor.raw_dtypes())

    def serve(*raw_values):
        features = preprocessor(dict(zip(names, raw_values)))
        outputs = model(features, training=False)
        # (batch, 1) -> (batch,): one scalar per row and task in TF Serving's answers.
        return {
            t.name: tf.reshape(outputs[t.name], (-1,)) if t.output_units == 1 else outputs[t.name]
            for t in model.tasks
        }

    return tf.function(serve, input_signature=serving_input_signature(preprocessor))


def next_version(model_dir):
    """1 + the largest numeric version folder under `model_dir` (1 if none)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()]
    return max(versions, default=0) + 1


def export_saved_model(model, export_base, name, version=None, warmup_rows=None):
    """Writes `model` for TF Serving to `export_base/name/version/` and returns that path.

    The SavedModel is written to a temporary folder beside its destination
    and renamed into place only when complete (with its warm-up requests),
    so a failed export leaves nothing behind and TF Serving, which watches
    numeric folder names only, never sees a half-written version.

    Args:
        model: a zoo `MultiTaskModel` with an adapted preprocessor.
        export_base: the TF Serving model base folder, e.g. `"savedmodels"`.
        name: the served model's name, e.g. `"mmoe"`; a folder name of
            letters, digits, `-`, `_` and `.`.
        version: int > 0, or `None` for one more than the latest version.
        warmup_rows: dict from raw feature name to a short array of example
            values for `assets.extra/tf_serving_warmup_requests`, or `None`
            to skip writing warm-up requests.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(
            f"Expected a model name of letters, digits, '.', '_' and '-'. Received: {name!r}"
        )
    model_dir = os.path.join(export_base, name)
    version = next_version(model_dir) if version is None else int(version)
    if version < 1:
        raise ValueError(f"Expected version >= 1. Received: version={version}")
    final_path = os.path.join(model_dir, str(version))
    if os.path.exists(final_path):
        raise FileExistsError(
            f"{final_path} already exists; pass another version or remove it first."
        )
    os.makedirs(model_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=model_dir)
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.track(model.preprocessor)
        archive.add_endpoint(
            SERVING_SIGNATURE,
            make_serving_function(model),
        )
        archive.write_out(staging, verbose=False)
        if warmup_rows is not None:
            write_warmup_requests(staging, name, warmup_rows, model.preprocessor.raw_dtypes())
        os.rename(staging, final_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final_path
