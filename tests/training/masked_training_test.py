"""Per-task label masks in training and evaluation: a missing label has no influence."""

import dataclasses

import keras
import numpy as np
import pytest

from zoo import models
from zoo.metrics import roc_auc
from zoo.training import TrainingConfig, evaluate, fit, predict


def _masked(dataset, fill):
    """`like` observed only on clicked rows; `fill` is what the unobserved rows hold."""

    def split(s):
        present = s.labels["click"] > 0
        like = np.where(present, s.labels["like"], fill).astype("float32")
        return dataclasses.replace(
            s, labels={**s.labels, "like": like}, label_masks={"like": present}
        )

    return dataclasses.replace(
        dataset,
        train=split(dataset.train),
        validation=split(dataset.validation),
        test=split(dataset.test),
    )


def _train(dataset, preprocessor):
    keras.utils.set_random_seed(4)
    model = models.MMoE(
        tasks=dataset.tasks, preprocessor=preprocessor, num_experts=2, expert_units=[8]
    )
    fit(model, dataset, TrainingConfig(epochs=2, batch_size=64, verbose=0, seed=4))
    return model


def test_what_a_masked_row_holds_does_not_change_training(
    synthetic_dataset, synthetic_preprocessor
):
    as_zero = _train(_masked(synthetic_dataset, 0.0), synthetic_preprocessor)
    as_one = _train(_masked(synthetic_dataset, 1.0), synthetic_preprocessor)
    for a, b in zip(as_zero.get_weights(), as_one.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # ...while the same rows read as negatives (no mask) do change it.
    unmasked = dataclasses.replace(
        _masked(synthetic_dataset, 0.0),
        train=dataclasses.replace(_masked(synthetic_dataset, 0.0).train, label_masks={}),
    )
    as_negative = _train(unmasked, synthetic_preprocessor)
    assert any(
        not np.allclose(a, b, atol=1e-4)
        for a, b in zip(as_zero.get_weights(), as_negative.get_weights())
    )


def test_task_loss_is_the_mean_over_labeled_rows(synthetic_preprocessor):
    model = models.SharedBottom(tasks=["click", "like"], preprocessor=synthetic_preprocessor)
    y = {"click": np.array([[1.0], [0.0]]), "like": np.array([[1.0], [0.0]])}
    p = {"click": np.array([[0.8], [0.4]]), "like": np.array([[0.5], [0.9]])}
    weights = {"like": np.array([1.0, 0.0])}
    click, like = (float(v) for v in model.task_losses(y, p, weights))
    assert click == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2, rel=1e-5)
    assert like == pytest.approx(-np.log(0.5), rel=1e-5)  # the second row is not there
    # A batch where no row has the label adds 0, not NaN.
    _, like = model.task_losses(y, p, {"like": np.zeros(2)})
    assert float(like) == 0.0


def test_evaluate_scores_only_labeled_rows(synthetic_dataset, synthetic_preprocessor):
    dataset = _masked(synthetic_dataset, np.nan)
    model = _train(dataset, synthetic_preprocessor)
    metrics = evaluate(model, dataset, "test")
    present = dataset.test.label_masks["like"]
    assert metrics["like"]["num_labeled"] == int(present.sum()) < len(dataset.test)
    assert metrics["click"]["num_labeled"] == len(dataset.test)
    predictions = predict(model, dataset, "test")
    expected = roc_auc(dataset.test.labels["like"][present], predictions["like"][present])
    assert metrics["like"]["auc"] == pytest.approx(expected)
    assert metrics["total_loss"] == pytest.approx(
        metrics["click"]["loss"] + metrics["like"]["loss"]
    )
