"""A zoo model as a Keras user drives it: raw features in, `compile` as Keras takes it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.data import Split, TabularDataset
from zoo.features.spec import CategoricalFeature
from zoo.losses import UncertaintyWeighting
from zoo.tasks import Task


def _mmoe(preprocessor, **kwargs):
    keras.utils.set_random_seed(5)
    return models.MMoE(
        tasks=["click", "like"],
        preprocessor=preprocessor,
        num_experts=2,
        expert_units=[8],
        tower_units=[4],
        **kwargs,
    )


def _compile(model, **kwargs):
    # Without XLA: these tests are about arguments, and compiling each model
    # for XLA would double their time (the models' own tests train under XLA).
    model.compile(jit_compile=False, **kwargs)


def _rows(split, rows):
    return {k: v[:rows] for k, v in split.features.items()}


def _labels(split, rows):
    # 1-D label columns, as a Keras user has them.
    return {k: np.asarray(v[:rows], "float32") for k, v in split.labels.items()}


def test_call_predict_evaluate_and_fit_take_raw_features(synthetic_dataset, synthetic_preprocessor):
    model = _mmoe(synthetic_preprocessor)
    _compile(model)
    train, test = synthetic_dataset.train, synthetic_dataset.test
    raw = _rows(test, 50)
    assert raw["city"].dtype == object  # strings, as pandas and numpy hold them
    direct = model(raw)
    predicted = model.predict(raw, batch_size=16, verbose=0)
    batches = tf.data.Dataset.from_tensor_slices(
        {k: v.astype(str) if v.dtype == object else v for k, v in raw.items()}
    ).batch(16)
    from_dataset = model.predict(batches, verbose=0)
    for task in ("click", "like"):
        np.testing.assert_allclose(predicted[task], direct[task], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(from_dataset[task], direct[task], rtol=1e-5, atol=1e-6)

    before = model.evaluate(raw, _labels(test, 50), verbose=0, return_dict=True)
    history = model.fit(
        train.features,
        _labels(train, len(train)),
        batch_size=64,
        epochs=3,
        validation_data=(raw, _labels(test, 50)),
        verbose=0,
    )
    assert "val_click_auc" in history.history
    after = model.evaluate(raw, _labels(test, 50), verbose=0, return_dict=True)
    assert after["loss"] < before["loss"]


def test_a_tf_data_pipeline_of_raw_rows_trains():
    dataset = _integer_id_dataset()
    model = _id_model(dataset)
    _compile(model, optimizer=keras.optimizers.Adam(0.05))
    rows = tf.data.Dataset.from_tensor_slices(
        (dataset.train.features, {"click": dataset.train.labels["click"]})
    ).batch(32)
    history = model.fit(rows, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def _integer_id_dataset():
    # Item ids 100, 200, 300; item 300 is always clicked, the others never.
    ids = np.tile(np.array([100, 200, 300], "int64"), 100)
    labels = (ids == 300).astype("float32")
    split = Split(features={"item": ids}, labels={"click": labels})
    return TabularDataset(
        name="ids",
        features=[CategoricalFeature("item", dtype="int64", embedding_dim=4)],
        tasks=[Task("click")],
        train=split,
        validation=split,
        test=split,
    )


def _id_model(dataset):
    keras.utils.set_random_seed(1)
    return models.SharedBottom(
        tasks=dataset.tasks, preprocessor=dataset.make_preprocessor(), bottom_units=[8]
    )


def test_raw_integer_ids_go_through_the_lookup_never_straight_to_an_embedding_row():
    dataset = _integer_id_dataset()
    model = _id_model(dataset)
    _compile(model, optimizer=keras.optimizers.Adam(0.05))
    with model.preprocessed_inputs():
        model.fit(dataset.tf_dataset("train", model.preprocessor, 32), epochs=20, verbose=0)
    clicked = float(model({"item": np.array([300])})["click"][0, 0])
    assert clicked > 0.9
    row_of_300 = int(model.preprocessor({"item": tf.constant([300], "int64")})["item"][0])
    assert row_of_300 in (1, 2, 3)
    with model.preprocessed_inputs():
        oov = float(model({"item": tf.constant([0], "int32")})["click"][0, 0])
        by_row = float(model({"item": tf.constant([row_of_300], "int32")})["click"][0, 0])
    assert by_row == pytest.approx(clicked, abs=1e-6)
    # The raw id equal to item 300's row number is no item: the OOV bucket answers.
    for ids in (np.array([row_of_300]), [row_of_300], tf.constant([row_of_300], "int64")):
        unknown = float(model({"item": ids})["click"][0, 0])
        assert unknown == pytest.approx(oov, abs=1e-6)
        assert abs(unknown - clicked) > 1e-3
    # int32 is the dtype of preprocessed ids: refused as raw, never looked up unnoticed.
    with pytest.raises(
        TypeError, match="int32 values, the dtype of preprocessed ids.*int64.*preprocessed_inputs"
    ):
        model({"item": np.array([row_of_300], "int32")})
    with pytest.raises(TypeError, match="preprocessed_inputs"):
        model.fit(dataset.tf_dataset("train", model.preprocessor, 32), epochs=1, verbose=0)


def test_bad_raw_input_is_named(synthetic_dataset, synthetic_preprocessor):
    model = _mmoe(synthetic_preprocessor)
    raw = _rows(synthetic_dataset.test, 4)
    with pytest.raises(KeyError, match=r"Missing raw features \['age'\]"):
        model({k: v for k, v in raw.items() if k != "age"})
    with pytest.raises(ValueError, match="Feature 'age': expected one raw value per row"):
        model(dict(raw, age=np.ones((4, 2), "float32")))
    with pytest.raises(TypeError, match="Feature 'city' expects raw values of dtype string"):
        model(dict(raw, city=np.arange(4)))
    with pytest.raises(
        TypeError, match="Feature 'city' received int32 values.*preprocessed_inputs"
    ):
        model(synthetic_preprocessor(raw))
    with pytest.raises(TypeError, match="dict from feature name"):
        model.predict([1, 2, 3], verbose=0)


@pytest.mark.parametrize(
    "loss",
    [
        "binary_crossentropy",
        keras.losses.binary_crossentropy,
        keras.losses.BinaryCrossentropy(),
        {"click": "binary_crossentropy"},
        {"click": keras.losses.binary_crossentropy, "like": None},
        ["binary_crossentropy", keras.losses.BinaryCrossentropy()],
    ],
    ids=["name", "function", "loss-object", "dict", "dict-of-function", "list"],
)
def test_compile_takes_losses_as_keras_does(loss, synthetic_dataset, synthetic_preprocessor):
    model = _mmoe(synthetic_preprocessor)
    _compile(model, loss=loss)
    raw, labels = _rows(synthetic_dataset.test, 64), _labels(synthetic_dataset.test, 64)
    logs = model.evaluate(raw, labels, verbose=0, return_dict=True)
    outputs = model(raw)
    expected = sum(
        float(keras.losses.binary_crossentropy(labels[t][:, None], outputs[t]).numpy().mean())
        for t in ("click", "like")
    )
    assert logs["loss"] == pytest.approx(expected, rel=1e-4)


def test_a_regression_loss_by_name_replaces_the_default(synthetic_dataset, synthetic_preprocessor):
    model = _mmoe(synthetic_preprocessor)
    _compile(model, loss={"like": "mse"})
    raw, labels = _rows(synthetic_dataset.test, 64), _labels(synthetic_dataset.test, 64)
    logs = model.evaluate(raw, labels, verbose=0, return_dict=True)
    like = model(raw)["like"].numpy()[:, 0]
    assert logs["like_loss"] == pytest.approx(
        float(np.mean((like - labels["like"]) ** 2)), rel=1e-4
    )


@pytest.mark.parametrize("loss_weights", [{"click": 2.0}, [2.0, 1.0]], ids=["dict", "list"])
def test_loss_weights_are_honoured(loss_weights, synthetic_dataset, synthetic_preprocessor):
    model = _mmoe(synthetic_preprocessor)
    _compile(model, loss_weights=loss_weights)
    raw, labels = _rows(synthetic_dataset.test, 64), _labels(synthetic_dataset.test, 64)
    logs = model.evaluate(raw, labels, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(2 * logs["click_loss"] + logs["like_loss"], rel=1e-4)
    # A compile without them trains with the weights the model was built with again.
    _compile(model)
    logs = model.evaluate(raw, labels, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["click_loss"] + logs["like_loss"], rel=1e-4)


def test_loss_weights_that_cannot_be_honoured_point_to_loss_weighting(synthetic_preprocessor):
    learned = _mmoe(synthetic_preprocessor, loss_weighting="uncertainty")
    assert isinstance(learned.loss_weighting, UncertaintyWeighting)
    with pytest.raises(
        ValueError, match="UncertaintyWeighting, which learns the weights.*loss_weighting="
    ):
        learned.compile(loss_weights={"click": 2.0})
    fixed = _mmoe(synthetic_preprocessor, loss_weighting={"click": 3.0})
    with pytest.raises(ValueError, match="disagrees with the fixed task weights"):
        fixed.compile(loss_weights={"click": 2.0})
    fixed.compile(loss_weights={"click": 3.0})  # the same weights: nothing to disagree about


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"loss": {"clik": "mse"}}, r"`loss` names unknown tasks \['clik'\]"),
        ({"loss": ["mse"]}, "`loss` as a list needs one entry per task"),
        ({"loss": "no_such_loss"}, "Unknown loss 'no_such_loss'"),
        ({"loss_weights": {"like": -1.0}}, "Expected a loss weight >= 0 for task 'like'"),
        ({"metrics": {"lik": ["auc"]}}, r"`metrics` names unknown tasks \['lik'\]"),
    ],
)
def test_bad_compile_arguments_are_named(arguments, message, synthetic_preprocessor):
    with pytest.raises(ValueError, match=message):
        _mmoe(synthetic_preprocessor).compile(**arguments)


def test_metrics_as_keras_takes_them(synthetic_dataset, synthetic_preprocessor):
    raw, labels = _rows(synthetic_dataset.test, 64), _labels(synthetic_dataset.test, 64)
    model = _mmoe(synthetic_preprocessor)
    _compile(model, metrics=["auc", keras.metrics.BinaryAccuracy(name="accuracy")])
    logs = model.evaluate(raw, labels, verbose=0, return_dict=True)
    assert {"click_auc", "like_auc", "click_accuracy", "like_accuracy"} <= set(logs)
    _compile(model, metrics={"like": "binary_accuracy"})
    logs = model.evaluate(raw, labels, verbose=0, return_dict=True)
    assert "like_binary_accuracy" in logs and "click_auc" not in logs
    _compile(model, metrics=[])
    logs = model.evaluate(raw, labels, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "click_loss", "like_loss"}


def test_compiled_losses_and_weights_reload_with_the_model(
    synthetic_dataset, synthetic_preprocessor, tmp_path
):
    model = _mmoe(synthetic_preprocessor)
    _compile(model, loss={"like": "mse"}, loss_weights={"click": 3.0})
    raw, labels = _rows(synthetic_dataset.test, 64), _labels(synthetic_dataset.test, 64)
    expected = model.evaluate(raw, labels, verbose=0, return_dict=True)
    path = str(tmp_path / "m.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.built_loss_weights == {"click": 1.0, "like": 1.0}
    logs = reloaded.evaluate(raw, labels, verbose=0, return_dict=True)
    for key in ("loss", "click_loss", "like_loss"):
        assert logs[key] == pytest.approx(expected[key], rel=1e-5)


def test_compile_defaults_to_xla_and_eight_steps_per_call(
    synthetic_dataset, synthetic_preprocessor
):
    model = _mmoe(synthetic_preprocessor)
    model.compile()
    assert model.jit_compile is True  # Keras' own "auto" would be False on a CPU-only machine
    assert model.steps_per_execution == 8
    # 11 batches an epoch: one call of 8 steps, then one of 3; every batch trains once.
    rows = 11 * 16 - 5
    model.fit(
        _rows(synthetic_dataset.train, rows),
        _labels(synthetic_dataset.train, rows),
        batch_size=16,
        epochs=2,
        verbose=0,
    )
    assert int(model.optimizer.iterations.numpy()) == 2 * 11


def test_fit_hands_the_step_packed_features(synthetic_dataset, synthetic_preprocessor):
    model = _mmoe(synthetic_preprocessor)
    _compile(model)
    raw = _rows(synthetic_dataset.train, 64)
    packed = model.raw_feature_encoder(pack=True).encode_data(raw)
    assert {"packed_ids", "packed_numeric"} <= set(packed)
    assert not set(packed) & {f["name"] for f in model.features if f["kind"] != "multi_hot"}
    with model.preprocessed_inputs():
        from_packed = model.predict(packed, batch_size=16, verbose=0)
    np.testing.assert_allclose(
        from_packed["click"], model.predict(raw, batch_size=16, verbose=0)["click"], rtol=1e-6
    )
    history = model.fit(raw, _labels(synthetic_dataset.train, 64), batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
