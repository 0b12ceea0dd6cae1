"""The round trip every zoo model goes through (after keras-hub's `TestCase.run_model_saving_test`).

Two epochs of XLA (`jit_compile=True`) fit on the preprocessed, cached
dataset that move the weights with a finite loss; predictions in (0, 1) with
one `(rows, 1)` column per task; a `.keras` save and reload to the same
class and config with identical predictions and the preprocessor inside;
and a SavedModel export whose `serving_default` answers `serve(x) ==
model(x)` for a one-row and a many-row batch.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from zoo.export import export_saved_model


@dataclasses.dataclass
class RoundTrip:
    """What the round trip leaves for a test's own checks.

    Attributes:
        history: the `fit` history.
        before: the trainable weights (numpy) before `fit`, in the order of
            `model.trainable_weights`.
        features: the raw test features the predictions were made on.
        predictions: dict from task name to `(rows, 1)` predictions.
        reloaded: the model loaded back from the `.keras` file.
        served: dict from batch size to the `serving_default` outputs (name
            to numpy array) for the first that many test rows; empty without
            an export.
    """

    history: keras.callbacks.History
    before: list
    features: dict
    predictions: dict
    reloaded: keras.Model
    served: dict


def run_model_round_trip(
    model, dataset, preprocessor, tmp_path, extra_outputs=None, rows=(1, 37), export=True
):
    """Fits, saves and reloads, and exports `model`, asserting every step.

    Args:
        model: an unbuilt, uncompiled zoo model for `dataset`'s tasks.
        dataset: the `TabularDataset` to train on (its "train" split) and
            predict (its "test" split), e.g. the `synthetic_dataset` fixture.
        preprocessor: `dataset`'s adapted preprocessor, the model's own.
        tmp_path: the test's `tmp_path`; every file is written under it.
        extra_outputs: names the SavedModel serves besides the tasks (AITM's
            `like_given_click`): the served names must then be exactly the
            tasks and these. `None` checks only that every task is served.
        rows: the batch sizes `serve(x) == model(x)` is checked for.
        export: `False` skips the SavedModel export, for a variant of a
            model whose export another test already checks.

    Returns:
        A `RoundTrip`.
    """
    model.build()
    model.compile(jit_compile=True)
    train = dataset.tf_dataset("train", preprocessor, 64, shuffle=True, seed=1)
    before = [np.array(w) for w in model.trainable_weights]
    assert before
    with model.preprocessed_inputs():  # the zoo's pipeline preprocesses once, cached
        history = model.fit(train, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.allclose(b, np.array(a)) for b, a in zip(before, model.trainable_weights))

    tasks = [task.name for task in dataset.tasks]
    x = dataset.split("test").features
    predictions = model.predict(x, verbose=0)
    assert sorted(predictions) == sorted(tasks)
    for p in predictions.values():
        assert p.shape == (len(dataset.test), 1)
        assert ((p > 0) & (p < 1)).all()

    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is type(model)
    assert reloaded.get_config() == model.get_config()
    again = reloaded.predict(x, verbose=0)
    for task in predictions:
        np.testing.assert_array_equal(predictions[task], again[task])
    # The preprocessor travels inside the .keras file.
    assert reloaded.preprocessor.get_config() == preprocessor.get_config()

    served = {}
    if export:
        export_path = export_saved_model(model, str(tmp_path / "serving"), "m")
        serve = tf.saved_model.load(export_path).signatures["serving_default"]
        for n in rows:
            raw = {k: v[:n] for k, v in x.items()}
            outputs = serve(
                **{
                    k: tf.constant(np.asarray(v).tolist() if v.dtype == object else v)
                    for k, v in raw.items()
                }
            )
            if extra_outputs is not None:
                assert sorted(outputs) == sorted([*tasks, *extra_outputs])
            for task in predictions:
                np.testing.assert_allclose(
                    outputs[task].numpy(), predictions[task][:n, 0], atol=1e-5
                )
            served[n] = {name: value.numpy() for name, value in outputs.items()}
    return RoundTrip(history, before, x, predictions, reloaded, served)
