"""Binary, regression and multiclass heads in one model: train, evaluate, export, serve."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.export import export_saved_model
from zoo.tasks import Task
from zoo.training import TrainingConfig, evaluate, fit


def _mixed(dataset):
    def split(s):
        age = (s.features["age"] - 40) / 12
        labels = {
            "click": s.labels["click"],
            "dwell": (2 * age + s.features["score"]).astype("float32"),
            "device_class": (s.features["device"] % 3).astype("float32"),
        }
        return dataclasses.replace(s, labels=labels)

    return dataclasses.replace(
        dataset,
        tasks=[
            Task("click"),
            Task("dwell", "regression"),
            Task("device_class", "multiclass", num_classes=3),
        ],
        train=split(dataset.train),
        validation=split(dataset.validation),
        test=split(dataset.test),
    )


def test_multiclass_task_validation():
    with pytest.raises(ValueError, match="num_classes >= 2"):
        Task("genre", "multiclass")
    with pytest.raises(ValueError, match="only for multiclass"):
        Task("click", "binary", num_classes=3)
    assert Task("genre", "multiclass", num_classes=4).output_units == 4
    assert Task("click").to_config() == {"name": "click", "type": "binary"}


def test_mixed_task_types_train_evaluate_and_serve(synthetic_dataset, tmp_path):
    dataset = _mixed(synthetic_dataset)
    preprocessor = dataset.make_preprocessor()
    keras.utils.set_random_seed(0)
    model = models.MMoE(
        tasks=dataset.tasks, preprocessor=preprocessor, num_experts=3, expert_units=[16]
    )
    fit(
        model,
        dataset,
        TrainingConfig(epochs=20, batch_size=32, learning_rate=0.01, verbose=0),
    )
    metrics = evaluate(model, dataset, "test")
    assert set(metrics["click"]) >= {"auc", "loss"}
    assert set(metrics["dwell"]) >= {"mse", "loss"}
    assert set(metrics["device_class"]) >= {"accuracy", "loss"}
    # Each head learned its own target (device_class is a function of an input feature).
    assert metrics["click"]["auc"] > 0.6
    assert metrics["dwell"]["mse"] < np.var(dataset.test.labels["dwell"]) / 2
    assert metrics["device_class"]["accuracy"] > 0.6

    path = export_saved_model(model, str(tmp_path), "mixed", version=1)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    raw = {
        name: tf.constant(dataset.test.features[name][:7], dtype=dtype)
        for name, dtype in preprocessor.raw_dtypes().items()
    }
    served = serve(**raw)
    assert served["click"].shape == (7,)
    assert served["dwell"].shape == (7,)
    assert served["device_class"].shape == (7, 3)
    np.testing.assert_allclose(served["device_class"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    expected = model({k: v.numpy() for k, v in raw.items()})
    np.testing.assert_allclose(
        served["device_class"].numpy(), np.asarray(expected["device_class"]), rtol=1e-5
    )
