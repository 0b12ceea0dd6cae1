"""Biasnet's bias tower: one logit from one feature, added to every binary task's logit."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.export import export_saved_model
from zoo.training import TrainingConfig, fit


def _model(preprocessor, **kwargs):
    keras.utils.set_random_seed(0)
    return models.MMoE(
        tasks=["click", "like"],
        preprocessor=preprocessor,
        num_experts=2,
        expert_units=[8],
        bias_tower_feature="city",
        bias_tower_units=[16, 8],
        **kwargs,
    )


def test_the_bias_logit_is_added_to_every_task(synthetic_dataset, synthetic_preprocessor):
    model = _model(synthetic_preprocessor)
    x = synthetic_preprocessor({k: v[:32] for k, v in synthetic_dataset.test.features.items()})
    logits = model.task_logits(x)
    branches = model.task_representations(x)
    bias = np.asarray(model.bias_tower(model.bias_embedding(x)))
    assert np.abs(bias).max() > 0
    for name, h in zip(["click", "like"], branches):
        np.testing.assert_allclose(
            np.asarray(logits[name]), np.asarray(model.towers[name](h)) + bias, rtol=1e-5, atol=1e-6
        )


def test_the_bias_tower_sees_only_its_feature(synthetic_dataset, synthetic_preprocessor):
    model = _model(synthetic_preprocessor)
    raw = {k: v[:8] for k, v in synthetic_dataset.test.features.items()}
    bias = lambda r: np.asarray(model.bias_tower(model.bias_embedding(synthetic_preprocessor(r))))  # noqa: E731
    other = dict(raw, age=raw["age"] + 30.0, device=(raw["device"] + 1) % 5)
    np.testing.assert_allclose(bias(raw), bias(other))
    moved = dict(raw, city=np.where(raw["city"] == "paris", "lyon", "paris").astype(object))
    assert not np.allclose(bias(raw), bias(moved))


def test_unknown_bias_feature_is_named(synthetic_preprocessor):
    with pytest.raises(ValueError, match="bias_tower_feature='citi' is not a feature"):
        models.SharedBottom(
            tasks=["click"], preprocessor=synthetic_preprocessor, bias_tower_feature="citi"
        )


def test_trains_reloads_and_serves(synthetic_dataset, synthetic_preprocessor, tmp_path):
    model = _model(synthetic_preprocessor)
    model.build()
    before = [np.array(w) for w in model.bias_tower.weights + model.bias_embedding.weights]
    fit(model, synthetic_dataset, TrainingConfig(epochs=2, batch_size=64, verbose=0))
    after = model.bias_tower.weights + model.bias_embedding.weights
    assert all(not np.allclose(b, np.array(a)) for b, a in zip(before, after))
    raw = {k: v[:16] for k, v in synthetic_dataset.test.features.items()}
    expected = model.predict(raw, verbose=0)

    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.bias_tower_feature == "city"
    reloaded = loaded.predict(raw, verbose=0)
    np.testing.assert_allclose(reloaded["click"], expected["click"], rtol=1e-5)

    serve = tf.saved_model.load(export_saved_model(model, str(tmp_path), "m", 1))
    served = serve.signatures["serving_default"](
        **{n: tf.constant(raw[n], d) for n, d in synthetic_preprocessor.raw_dtypes().items()}
    )
    np.testing.assert_allclose(served["like"].numpy(), expected["like"][:, 0], rtol=1e-5)
