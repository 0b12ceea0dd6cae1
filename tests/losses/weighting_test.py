"""Loss weightings: the formulas by hand, their gradients, and their effect in training."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.losses import (
    FixedLossWeights,
    GradNorm,
    UncertaintyWeighting,
    get_loss_weighting,
)
from zoo.training import TrainingConfig, fit

TASKS = ["a", "b"]


def _losses(*values):
    return [tf.constant(v, tf.float32) for v in values]


def test_fixed_weights_by_hand_also_on_validation():
    weighting = FixedLossWeights(TASKS, {"a": 2.0})
    assert float(weighting(_losses(0.5, 0.25), training=True)) == pytest.approx(1.25)
    assert float(weighting(_losses(0.5, 0.25), training=False)) == pytest.approx(1.25)
    assert weighting.task_weights() == {"a": 2.0, "b": 1.0}


def test_fixed_weights_reject_unknown_tasks_and_negative_weights():
    with pytest.raises(ValueError, match=r"unknown tasks \['c'\]"):
        FixedLossWeights(TASKS, {"c": 1.0})
    with pytest.raises(ValueError, match="task 'b'"):
        FixedLossWeights(TASKS, {"b": -1.0})
    with pytest.raises(ValueError, match="Expected 2 task losses"):
        FixedLossWeights(TASKS)(_losses(1.0))


def test_uncertainty_formula_and_gradient():
    weighting = UncertaintyWeighting(TASKS)
    weighting.build()
    s = np.array([0.3, -0.7], np.float32)
    weighting.log_variance.assign(s)
    losses = np.array([0.8, 2.0], np.float32)
    with tf.GradientTape() as tape:
        total = weighting(_losses(*losses), training=True)
    # L/(2 sigma^2) + log sigma with sigma^2 = exp(s).
    sigma = np.sqrt(np.exp(s))
    expected = np.sum(losses / (2 * sigma**2) + np.log(sigma))
    assert float(total) == pytest.approx(expected, rel=1e-6)
    gradient = tape.gradient(total, weighting.log_variance.value)
    np.testing.assert_allclose(gradient, 0.5 - 0.5 * np.exp(-s) * losses, rtol=1e-5)
    # The stationary point: sigma^2 = L, so a task with a larger loss gets a smaller weight.
    assert weighting.task_weights()["a"] == pytest.approx(0.5 * np.exp(-0.3), rel=1e-6)
    # Validation reports the plain sum, which does not move with the learned weights.
    assert float(weighting(_losses(*losses), training=False)) == pytest.approx(2.8)


def test_gradnorm_balance_loss_by_hand():
    weighting = GradNorm(TASKS, alpha=1.0)
    weighting.build()
    norms = tf.constant([3.0, 1.0])
    # First step: L(0) is recorded, every training rate is 1, the target is mean(G) = 2.
    with tf.GradientTape() as tape:
        balance = weighting.balance_loss(_losses(1.0, 1.0), norms)
    assert float(balance) == pytest.approx(abs(3 - 2) + abs(1 - 2))
    gradient = tape.gradient(balance, weighting.task_weight.value).numpy()
    # d|w_k n_k - target| / dw_k = sign * n_k: the task with the larger gradient loses weight.
    np.testing.assert_allclose(gradient, [3.0, -1.0])
    np.testing.assert_allclose(weighting.initial_losses.numpy(), [1.0, 1.0])
    # Later step: task b's loss fell less (r_b > r_a), so its target grows.
    balance = weighting.balance_loss(_losses(0.25, 0.75), norms)
    r = np.array([0.25, 0.75]) / 0.5
    target = 2.0 * r
    assert float(balance) == pytest.approx(np.abs(np.array([3.0, 1.0]) - target).sum())
    # The network's loss uses the weights as constants.
    weighting.task_weight.assign([1.5, 0.5])
    with tf.GradientTape() as tape:
        total = weighting(_losses(1.0, 2.0), training=True)
    assert float(total) == pytest.approx(2.5)
    assert tape.gradient(total, weighting.task_weight.value) is None
    weighting.task_weight.assign([3.0, 1.0])
    weighting.renormalize()
    np.testing.assert_allclose(weighting.task_weight.numpy(), [1.5, 0.5])


def test_get_loss_weighting():
    assert isinstance(get_loss_weighting(None, TASKS), FixedLossWeights)
    assert isinstance(get_loss_weighting("uncertainty", TASKS), UncertaintyWeighting)
    assert get_loss_weighting({"b": 3}, TASKS).task_weights() == {"a": 1.0, "b": 3.0}
    with pytest.raises(ValueError, match="expected one of"):
        get_loss_weighting("kendall", TASKS)
    with pytest.raises(ValueError, match="the model's tasks are"):
        get_loss_weighting(GradNorm(["x", "y"]), TASKS)


def _regression_dataset(synthetic_dataset, noise_std):
    """The click/like fixture with two regression tasks: one clean, one very noisy."""
    import dataclasses

    from zoo.data.base.tabular_dataset import Split
    from zoo.tasks import Task

    rng = np.random.default_rng(0)

    def split(s):
        age = (s.features["age"] - 40) / 12
        labels = {
            "clean": (age + 0.05 * rng.normal(size=len(s))).astype("float32"),
            "noisy": (age + noise_std * rng.normal(size=len(s))).astype("float32"),
        }
        return Split(features=s.features, labels=labels)

    return dataclasses.replace(
        synthetic_dataset,
        tasks=[Task("clean", "regression"), Task("noisy", "regression")],
        train=split(synthetic_dataset.train),
        validation=split(synthetic_dataset.validation),
        test=split(synthetic_dataset.test),
    )


def test_uncertainty_weighting_learns_to_down_weight_the_noisy_task(synthetic_dataset):
    dataset = _regression_dataset(synthetic_dataset, noise_std=2.0)
    keras.utils.set_random_seed(0)
    model = models.SharedBottom(
        tasks=dataset.tasks,
        preprocessor=dataset.make_preprocessor(),
        bottom_units=[16],
        loss_weighting="uncertainty",
    )
    fit(
        model,
        dataset,
        # No early stopping: val_loss moves with the learned weights themselves.
        TrainingConfig(
            epochs=15,
            batch_size=32,
            learning_rate=0.02,
            early_stopping_patience=None,
            verbose=0,
        ),
    )
    weights = model.loss_weighting.task_weights()
    # sigma^2 tends to each task's loss: about 0.05^2 + fit error vs 2^2 = 4.
    assert weights["clean"] > 5 * weights["noisy"], weights


@pytest.mark.parametrize(
    "model_cls",
    [
        models.MMoE,
        models.PLE,
        models.SharedBottom,
        models.CrossStitch,
        models.SNRTrans,
        models.SNRAver,
    ],
    ids=lambda c: c.__name__,
)
def test_gradnorm_trains_and_keeps_weights_summing_to_the_task_count(
    model_cls, synthetic_dataset, synthetic_preprocessor
):
    keras.utils.set_random_seed(0)
    model = model_cls(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        loss_weighting="gradnorm",
    )
    result = fit(model, synthetic_dataset, TrainingConfig(epochs=2, batch_size=64, verbose=0))
    assert np.isfinite(result.history["loss"]).all()
    weights = model.loss_weighting.task_weights()
    assert sum(weights.values()) == pytest.approx(2.0, rel=1e-5)
    assert weights["click"] != pytest.approx(1.0), "GradNorm never moved the weights"
    assert (model.loss_weighting.initial_losses.numpy() > 0).all()


def test_gradnorm_needs_shared_weights(synthetic_dataset, synthetic_preprocessor):
    model = models.SingleTask(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        loss_weighting="gradnorm",
    )
    with pytest.raises(ValueError, match="GradNorm needs weights shared by all tasks"):
        model.build()


def test_learned_weights_are_saved_with_the_model(synthetic_preprocessor, tmp_path):
    model = models.MMoE(
        tasks=["click", "like"], preprocessor=synthetic_preprocessor, loss_weighting="uncertainty"
    )
    model.build()
    model.loss_weighting.log_variance.assign([0.5, -1.0])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss_weighting, UncertaintyWeighting)
    np.testing.assert_allclose(loaded.loss_weighting.log_variance.numpy(), [0.5, -1.0])
