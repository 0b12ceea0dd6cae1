import keras
import numpy as np
import pytest

from zoo import models
from zoo.metrics import roc_auc
from zoo.training import TrainingConfig, evaluate, fit, predict


def _train(dataset, preprocessor, seed, **config):
    keras.utils.set_random_seed(seed)
    model = models.MMoE(
        tasks=dataset.tasks, preprocessor=preprocessor, num_experts=3, expert_units=[8]
    )
    settings = dict(epochs=2, batch_size=64, verbose=0, early_stopping_patience=None, seed=seed)
    settings.update(config)
    result = fit(model, dataset, TrainingConfig(**settings))
    return model, result


def test_a_fixed_seed_repeats_the_run(synthetic_dataset, synthetic_preprocessor):
    first, _ = _train(synthetic_dataset, synthetic_preprocessor, seed=5)
    second, _ = _train(synthetic_dataset, synthetic_preprocessor, seed=5)
    other, _ = _train(synthetic_dataset, synthetic_preprocessor, seed=6)
    a = predict(first, synthetic_dataset, "test")
    b = predict(second, synthetic_dataset, "test")
    c = predict(other, synthetic_dataset, "test")
    np.testing.assert_array_equal(a["click"], b["click"])
    assert not np.allclose(a["click"], c["click"])


def test_early_stopping_keeps_the_best_validation_epoch(synthetic_dataset, synthetic_preprocessor):
    model, result = _train(
        synthetic_dataset,
        synthetic_preprocessor,
        seed=1,
        epochs=12,
        learning_rate=0.05,  # fast enough to overfit 600 rows and trigger the stop
        early_stopping_patience=1,
    )
    val_losses = result.history["val_loss"]
    assert result.best_epoch == int(np.argmin(val_losses)) + 1
    assert result.epochs_run == len(val_losses) == len(result.epoch_seconds)
    assert result.epochs_run < 12, "expected the run to stop early"
    # The restored weights are those of the best epoch: their validation loss is the minimum.
    validation = synthetic_dataset.tf_dataset("validation", synthetic_preprocessor, 64)
    with model.preprocessed_inputs():
        restored = model.evaluate(validation, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(restored, min(val_losses), rtol=1e-4)


def test_evaluate_reports_exact_auc(synthetic_dataset, synthetic_preprocessor):
    model, result = _train(synthetic_dataset, synthetic_preprocessor, seed=2, epochs=3)
    metrics = evaluate(model, synthetic_dataset, "test")
    predictions = predict(model, synthetic_dataset, "test")
    for task in ("click", "like"):
        expected = roc_auc(synthetic_dataset.test.labels[task], predictions[task])
        assert metrics[task]["auc"] == pytest.approx(expected)
        assert metrics[task]["auc"] > 0.6  # the labels depend on the features
    assert metrics["num_rows"] == len(synthetic_dataset.test)
    assert result.train_samples_per_second > 0


def test_config_validation():
    with pytest.raises(ValueError, match="epochs"):
        TrainingConfig(epochs=0)
    with pytest.raises(ValueError, match="learning_rate"):
        TrainingConfig(learning_rate=0)


def test_evaluate_adds_gauc_when_the_dataset_names_its_users(
    synthetic_dataset, synthetic_preprocessor
):
    import dataclasses

    from zoo.metrics import group_auc

    model, _ = _train(synthetic_dataset, synthetic_preprocessor, seed=2)
    assert "gauc" not in evaluate(model, synthetic_dataset, "test")["click"]
    by_city = dataclasses.replace(synthetic_dataset, user_feature="city")
    metrics = evaluate(model, by_city, "test")
    predictions = predict(model, by_city, "test")
    expected = group_auc(
        by_city.test.labels["click"], predictions["click"], by_city.test.features["city"]
    )
    assert metrics["click"]["gauc"] == pytest.approx(expected["gauc"])
    assert metrics["click"]["gauc_users"] == expected["groups_used"] == 4
    assert metrics["click"]["gauc_users_skipped"] == 0


def test_early_stopping_on_a_task_auc(synthetic_dataset, synthetic_preprocessor):
    model, result = _train(
        synthetic_dataset,
        synthetic_preprocessor,
        seed=1,
        epochs=12,
        learning_rate=0.05,
        early_stopping_patience=1,
        early_stopping_monitor="val_click_auc",
    )
    aucs = result.history["val_click_auc"]
    assert result.best_epoch == int(np.argmax(aucs)) + 1
    with pytest.raises(ValueError, match="'val_clik_auc' is not logged; choose one of"):
        _train(
            synthetic_dataset,
            synthetic_preprocessor,
            seed=1,
            early_stopping_patience=1,
            early_stopping_monitor="val_clik_auc",
        )
    with pytest.raises(ValueError, match="starting with 'val_'"):
        TrainingConfig(early_stopping_monitor="click_auc")
