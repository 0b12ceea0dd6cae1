"""Loss weightings: the formulas by hand, their gradients, and their effect in training."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.losses import (
    LOSS_WEIGHTINGS,
    FixedLossWeights,
    GradNorm,
    UncertaintyWeighting,
    get_loss_weighting,
)
from zoo.losses.weighting import (
    DynamicWeightAverage,
    DynamicWeightAverageEpochs,
    RandomLossWeighting,
)
from zoo.training import TrainingConfig, fit

TASKS = ["a", "b"]


def _losses(*values):
    return [tf.constant(v, tf.float32) for v in values]


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


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


def _dwa_by_hand(before_last, last, temperature):
    """Equation 7 of Liu et al. (2019) in numpy: K softmax((L(t-1) / L(t-2)) / T)."""
    ratio = np.asarray(last, np.float64) / np.asarray(before_last, np.float64)
    e = np.exp(ratio / temperature)
    return len(ratio) * e / e.sum()


def _train_epoch(weighting, callback, epoch, steps):
    """One epoch as `fit` drives it: the callback's epoch start, then training calls."""
    callback.on_epoch_begin(epoch)
    for losses in steps:
        weighting(_losses(*losses), training=True)


def test_dwa_weights_by_hand_and_temperature():
    before_last, last = [1.0, 2.0, 0.5], [0.5, 1.8, 0.5]  # ratios 0.5, 0.9, 1.0
    weights = {}
    for temperature in (2.0, 0.1):
        weighting = DynamicWeightAverage(["a", "b", "c"], temperature=temperature)
        weights[temperature] = _numpy(weighting.weights_from(before_last, last))
        expected = _dwa_by_hand(before_last, last, temperature)
        np.testing.assert_allclose(weights[temperature], expected, rtol=1e-6)
        assert weights[temperature].sum() == pytest.approx(3.0, rel=1e-6)
        # The task whose loss fell least gets the most weight.
        assert weights[temperature][2] > weights[temperature][1] > weights[temperature][0]
    # 3 exp(r_k / 2) / sum_i exp(r_i / 2), worked out once by hand.
    np.testing.assert_allclose(weights[2.0], [0.8558, 1.0453, 1.0989], atol=1e-4)
    # T = 0.1 puts nearly all the weight on the two slow tasks.
    assert weights[0.1][0] < 0.02 and weights[0.1][2] > 2.1
    # No loss in epoch t-2 (no labeled row): ratio 1.
    weighting = DynamicWeightAverage(TASKS, temperature=1.0)
    np.testing.assert_allclose(
        _numpy(weighting.weights_from([0.0, 1.0], [0.3, 1.0])), [1.0, 1.0], rtol=1e-6
    )
    with pytest.raises(ValueError, match="Expected temperature > 0. Received: temperature=0"):
        DynamicWeightAverage(TASKS, temperature=0)


def test_dwa_rolls_its_epoch_state_through_the_callback():
    weighting = DynamicWeightAverage(TASKS, temperature=0.5)
    weighting.build()
    callback = DynamicWeightAverageEpochs(weighting)
    # Epoch 1: averages (1.0, 2.0); weights 1 while training it.
    _train_epoch(weighting, callback, 0, [(0.8, 2.5), (1.2, 1.5)])
    assert float(weighting.epoch_steps.numpy()) == 2
    np.testing.assert_allclose(weighting.epoch_loss_sum.numpy(), [2.0, 4.0])
    np.testing.assert_allclose(weighting.task_weight.numpy(), [1.0, 1.0])
    # Epoch 2: averages (0.5, 1.8); still weights 1, the first epoch is closed.
    _train_epoch(weighting, callback, 1, [(0.4, 1.8), (0.6, 1.7), (0.5, 1.9)])
    np.testing.assert_allclose(weighting.epoch_losses.numpy(), [[0.0, 0.0], [1.0, 2.0]])
    assert float(weighting.epochs_done.numpy()) == 1
    np.testing.assert_allclose(weighting.task_weight.numpy(), [1.0, 1.0])
    np.testing.assert_allclose(weighting.epoch_loss_sum.numpy(), [1.5, 5.4], rtol=1e-6)
    assert float(weighting.epoch_steps.numpy()) == 3
    # Epoch 3 starts: lambda(3) from L(2) / L(1), and the step uses it.
    callback.on_epoch_begin(2)
    callback.on_epoch_begin(2)  # no step since: nothing changes
    np.testing.assert_allclose(weighting.epoch_losses.numpy(), [[1.0, 2.0], [0.5, 1.8]], rtol=1e-6)
    assert float(weighting.epochs_done.numpy()) == 2
    assert float(weighting.epoch_steps.numpy()) == 0
    np.testing.assert_allclose(weighting.epoch_loss_sum.numpy(), [0.0, 0.0])
    expected = _dwa_by_hand([1.0, 2.0], [0.5, 1.8], 0.5)
    np.testing.assert_allclose(weighting.task_weight.numpy(), expected, rtol=1e-5)
    assert list(weighting.task_weights().values()) == pytest.approx(list(expected), rel=1e-5)
    total = weighting(_losses(1.0, 3.0), training=True)
    assert float(total) == pytest.approx(expected[0] * 1.0 + expected[1] * 3.0, rel=1e-5)
    # Epoch 3 ends with one more step; epoch 4 starts: lambda(4) from L(3) / L(2).
    weighting(_losses(0.2, 1.0), training=True)
    callback.on_epoch_begin(3)
    l3 = np.array([(1.0 + 0.2) / 2, (3.0 + 1.0) / 2])
    np.testing.assert_allclose(weighting.epoch_losses.numpy(), [[0.5, 1.8], l3], rtol=1e-6)
    np.testing.assert_allclose(
        weighting.task_weight.numpy(), _dwa_by_hand([0.5, 1.8], l3, 0.5), rtol=1e-5
    )


def test_dwa_weights_get_no_gradient_and_validation_is_the_plain_sum():
    weighting = DynamicWeightAverage(TASKS)
    weighting.build()
    weighting.task_weight.assign([1.5, 0.5])
    assert weighting.trainable_variables == []
    with tf.GradientTape() as tape:
        # Watched by hand: a non-trainable variable is not watched by itself.
        tape.watch(weighting.task_weight.value)
        total = weighting(_losses(2.0, 4.0), training=True)
    assert float(total) == pytest.approx(5.0)
    assert tape.gradient(total, weighting.task_weight.value) is None
    assert float(weighting(_losses(2.0, 4.0), training=False)) == pytest.approx(6.0)
    # Validation adds nothing to the epoch's training averages.
    assert float(weighting.epoch_steps.numpy()) == 1
    np.testing.assert_allclose(weighting.epoch_loss_sum.numpy(), [2.0, 4.0])
    assert [type(c) for c in weighting.training_callbacks()] == [DynamicWeightAverageEpochs]
    assert UncertaintyWeighting(TASKS).training_callbacks() == []


def test_random_weights_are_positive_sum_to_one_and_follow_the_seed():
    weighting = RandomLossWeighting(["a", "b", "c"], seed=7)
    draws = np.stack([_numpy(weighting.draw()) for _ in range(20)])
    assert (draws > 0).all()
    np.testing.assert_allclose(draws.sum(axis=1), 1.0, rtol=1e-6)
    # Fresh weights at every step.
    assert len({tuple(np.round(d, 6)) for d in draws}) == 20
    # Not a fixed point either: every task is sometimes the heaviest.
    assert set(draws.argmax(axis=1)) == {0, 1, 2}
    same = RandomLossWeighting(["a", "b", "c"], seed=7)
    np.testing.assert_allclose(np.stack([_numpy(same.draw()) for _ in range(20)]), draws)
    other = RandomLossWeighting(["a", "b", "c"], seed=8)
    assert not np.allclose(_numpy(other.draw()), draws[0])
    assert weighting.task_weights() == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    with pytest.raises(ValueError, match="Expected an int seed or None. Received: seed=1.5"):
        RandomLossWeighting(TASKS, seed=1.5)


def test_random_weighting_trains_on_its_draws_and_validates_on_the_plain_sum():
    weighting = RandomLossWeighting(TASKS, seed=3)
    twin = RandomLossWeighting(TASKS, seed=3)
    for losses in [(1.0, 3.0), (2.0, 0.5), (1.0, 3.0)]:
        weights = _numpy(twin.draw())
        total = float(weighting(_losses(*losses), training=True))
        assert total == pytest.approx(float(weights @ np.array(losses)), rel=1e-6)
    state = weighting.seed_generator.state.numpy().copy()
    assert float(weighting(_losses(1.0, 3.0), training=False)) == pytest.approx(4.0)
    # Validation draws nothing.
    np.testing.assert_array_equal(weighting.seed_generator.state.numpy(), state)
    assert weighting.trainable_variables == []


@pytest.mark.parametrize(
    "weighting",
    [DynamicWeightAverage(TASKS, temperature=0.7), RandomLossWeighting(TASKS, seed=5)],
    ids=lambda w: type(w).__name__,
)
def test_new_weightings_config_round_trip(weighting):
    restored = keras.layers.deserialize(keras.layers.serialize(weighting))
    assert type(restored) is type(weighting)
    assert restored.get_config() == weighting.get_config()
    assert restored.task_names == TASKS


def test_get_loss_weighting():
    assert isinstance(get_loss_weighting(None, TASKS), FixedLossWeights)
    assert isinstance(get_loss_weighting("uncertainty", TASKS), UncertaintyWeighting)
    assert isinstance(get_loss_weighting("dwa", TASKS), DynamicWeightAverage)
    assert isinstance(get_loss_weighting("random", TASKS), RandomLossWeighting)
    assert get_loss_weighting({"b": 3}, TASKS).task_weights() == {"a": 1.0, "b": 3.0}
    with pytest.raises(ValueError, match="expected one of") as error:
        get_loss_weighting("kendall", TASKS)
    for name in ("fixed", "uncertainty", "gradnorm", "dwa", "random"):
        assert repr(name) in str(error.value)
    with pytest.raises(ValueError, match="the model's tasks are"):
        get_loss_weighting(GradNorm(["x", "y"]), TASKS)


def test_cli_offers_every_loss_weighting():
    # The CLI lists the names itself (importing the registry imports TensorFlow).
    from zoo.cli.main import build_parser

    parser = build_parser()
    commands = next(a for a in parser._subparsers._group_actions if a.dest == "command")
    flag = next(a for a in commands.choices["train"]._actions if a.dest == "loss_weighting")
    assert list(flag.choices) == list(LOSS_WEIGHTINGS)
    for name in ("dwa", "random"):
        assert parser.parse_args(["train", "--loss-weighting", name]).loss_weighting == name


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
