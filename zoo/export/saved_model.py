"""SavedModel export in the layout TF Serving loads: `<base>/<name>/<version>/`.

The `serving_default` signature takes one named input per raw feature with
its real dtype (string categoricals, float32 numerics, int64 ids), runs the
model's `FeaturePreprocessor` and the model, and returns one named output
per task (and `ranking_score`, `cvr`, ... where the model adds them; see
`MultiTaskModel.serving_outputs`). A model may leave features out of its
default signature and add other signatures (`serving_signatures`): the
YouTube model serves without position by default and with it under
`with_bias_features`. A plain `model.export()` of a subclassed model with
dict inputs would instead expose `args_0`-style inputs and `output_0`-style
outputs.
"""

import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from zoo.export.warmup import write_warmup_requests

SERVING_SIGNATURE = "serving_default"


def serving_input_signature(preprocessor, excluded=()):
    """`tf.TensorSpec`s, one per raw feature not `excluded`, named after it, batch size None."""
    return [
        tf.TensorSpec(shape=(None,), dtype=dtype, name=name)
        for name, dtype in preprocessor.raw_dtypes().items()
        if name not in excluded
    ]


def make_serving_function(model, signature=SERVING_SIGNATURE):
    """A `tf.function` raw features -> named outputs, with named arguments.

    Binary and regression tasks answer `(batch,)`, multiclass tasks
    `(batch, classes)` probabilities.

    Args:
        model: a zoo `MultiTaskModel` with an adapted preprocessor.
        signature: a name from `model.serving_signatures()`.
    """
    preprocessor = model.preprocessor
    if preprocessor is None:
        raise ValueError(
            "The model has no preprocessor; a SavedModel for TF Serving must take raw "
            "features. Build the model with preprocessor=..."
        )
    signatures = model.serving_signatures()
    if signature not in signatures:
        raise ValueError(f"Unknown signature {signature!r}; the model has {list(signatures)}")
    excluded = set(signatures[signature])
    input_signature = serving_input_signature(preprocessor, excluded)
    names = [spec.name for spec in input_signature]
    raw_dtypes = preprocessor.raw_dtypes()

    def serve(*raw_values):
        raw = dict(zip(names, raw_values))
        batch = tf.shape(raw_values[0])[:1]
        # The preprocessor encodes every feature it knows; the left-out ones
        # get throwaway values here and are dropped again before the model.
        for name in excluded:
            dtype = raw_dtypes[name]
            raw[name] = tf.fill(batch, tf.constant("" if dtype == tf.string else 0, dtype))
        outputs = model.serving_outputs(model.signature_features(preprocessor(raw), signature))
        # (batch, 1) -> (batch,): one scalar per row and output in TF Serving's answers.
        return {
            name: tf.reshape(value, (-1,)) if value.shape[-1] == 1 else value
            for name, value in outputs.items()
        }

    return tf.function(serve, input_signature=input_signature)


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
    if model.uses_graph:
        model.check_graph_tables()  # the export serves from the node tables
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
        for signature in model.serving_signatures():
            archive.add_endpoint(signature, make_serving_function(model, signature))
        archive.write_out(staging, verbose=False)
        if warmup_rows is not None:
            # The default signature's inputs, as make_serving_function declares them.
            specs = serving_input_signature(
                model.preprocessor, model.serving_signatures()[SERVING_SIGNATURE]
            )
            raw_dtypes = {spec.name: spec.dtype for spec in specs}
            rows = {k: v for k, v in warmup_rows.items() if k in raw_dtypes}
            write_warmup_requests(staging, name, rows, raw_dtypes)
        os.rename(staging, final_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final_path
