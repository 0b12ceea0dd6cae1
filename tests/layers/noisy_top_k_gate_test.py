import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.layer_test_case import run_layer_test
from zoo.layers import NoisyTopKGate
from zoo.layers.gates.noisy_top_k_gate import importance_loss

X = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
RANDOM = {"kernel_initializer": "glorot_uniform", "noise_initializer": "glorot_uniform"}
# Each example calls a small layer eagerly; a few dozen cover the shapes on two cores.
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_top_k(inputs, kernel, k):
    """NumPy: softmax over the k largest of x W, 0 elsewhere (equations (3) and (5))."""
    logits = inputs.astype("float64") @ kernel.astype("float64")
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    weights = np.zeros_like(logits)
    for row, chosen in enumerate(top):
        kept = np.exp(logits[row, chosen] - logits[row, chosen].max())
        weights[row, chosen] = kept / kept.sum()
    return weights


def test_layer_contract(tmp_path):
    run_layer_test(
        NoisyTopKGate, {"num_experts": 4, "k": 2, "seed": 1, **RANDOM}, X, (6, 4), tmp_path
    )


def test_exactly_k_weights_per_row_summing_to_one():
    for k in (1, 2, 4):
        gate = NoisyTopKGate(4, k=k, **RANDOM)
        for training in (False, True):
            w = gate(X, training=training).numpy()
            assert w.shape == (6, 4)
            assert (w >= 0).all()
            np.testing.assert_array_equal((w > 0).sum(axis=1), np.full(6, k))
            np.testing.assert_allclose(w.sum(axis=1), np.ones(6), rtol=1e-6)


def test_exactly_k_even_where_every_logit_ties():
    # The paper's zero initialization: every logit is 0 at inference.
    w = NoisyTopKGate(5, k=3)(np.zeros((2, 3), "float32")).numpy()
    np.testing.assert_array_equal((w > 0).sum(axis=1), [3, 3])
    np.testing.assert_allclose(w[w > 0], 1.0 / 3.0, rtol=1e-6)


def test_noise_only_in_training():
    gate = NoisyTopKGate(6, k=2, seed=3, **RANDOM)
    inference = [gate(X, training=False).numpy() for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    np.testing.assert_allclose(inference[0], reference_top_k(X, gate.kernel.numpy(), 2), atol=1e-6)
    first, second = gate(X, training=True).numpy(), gate(X, training=True).numpy()
    assert not np.allclose(first, second), "two training calls drew the same noise"
    assert not np.allclose(first, inference[0])

    other = NoisyTopKGate.from_config(dict(gate.get_config(), seed=4))
    other.build(X.shape)
    other.set_weights(gate.get_weights())
    same_seed = NoisyTopKGate.from_config(gate.get_config())
    same_seed.build(X.shape)
    same_seed.set_weights(gate.get_weights())
    np.testing.assert_allclose(same_seed(X, training=True), first, atol=1e-6)
    assert not np.allclose(other(X, training=True), first), "another seed drew the same noise"


def test_without_noise_training_is_deterministic():
    gate = NoisyTopKGate(6, k=2, noise=False, **RANDOM)
    np.testing.assert_array_equal(gate(X, training=True), gate(X, training=False))
    assert [w.name for w in gate.trainable_weights] == ["kernel"]


@SETTINGS
@given(
    inputs=hnp.arrays(
        "float32",
        st.tuples(st.integers(1, 8), st.integers(1, 6)),
        elements=st.floats(-10, 10, width=32),
    ),
    num_experts=st.integers(1, 7),
    data=st.data(),
)
def test_top_k_choice_matches_numpy(inputs, num_experts, data):
    k = data.draw(st.integers(1, num_experts), label="k")
    gate = NoisyTopKGate(num_experts, k=k, kernel_initializer="glorot_uniform")
    gate.build(inputs.shape)
    kernel = data.draw(
        hnp.arrays("float32", (inputs.shape[1], num_experts), elements=st.floats(-3, 3, width=32)),
        label="kernel",
    )
    gate.kernel.assign(kernel)
    logits = inputs.astype("float64") @ kernel.astype("float64")
    # Near-ties make the choice a matter of rounding; those rows compare sums only.
    ordered = np.sort(logits, axis=1)[:, ::-1]
    clear = (
        np.ones(len(logits), bool)
        if k == num_experts
        else ordered[:, k - 1] - ordered[:, k] > 1e-3 * (1 + np.abs(ordered[:, k - 1]))
    )
    w = gate(inputs).numpy()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(w[clear], reference_top_k(inputs, kernel, k)[clear], atol=1e-5)


def test_importance_loss_only_when_weighted_and_training():
    for weight, training, expected in ((0.0, True, 0), (0.1, False, 0), (0.1, True, 1)):
        gate = NoisyTopKGate(4, k=2, importance_weight=weight, **RANDOM)
        w = gate(X, training=training)
        assert len(gate.losses) == expected, (weight, training)
        if expected:
            np.testing.assert_allclose(
                float(gate.losses[0]), 0.1 * float(importance_loss(w)), rtol=1e-5
            )


def test_importance_loss_by_hand():
    # Importance (2, 0): mean 1, variance 1 -> CV^2 = 1; balanced (1, 1) -> 0.
    np.testing.assert_allclose(float(importance_loss(np.array([[1.0, 0.0], [1.0, 0.0]]))), 1.0)
    np.testing.assert_allclose(
        float(importance_loss(np.array([[1.0, 0.0], [0.0, 1.0]]))), 0.0, atol=1e-7
    )


def test_importance_loss_trains_with_fit():
    inputs = keras.Input((5,))
    gate = NoisyTopKGate(4, k=2, importance_weight=1.0, seed=0, **RANDOM)
    model = keras.Model(inputs, gate(inputs))
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    history = model.fit(X, np.full((6, 4), 0.25, "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_experts": 4, "k": 0}, r"1 <= k <= num_experts\. Received: k=0, num_experts=4"),
        ({"num_experts": 4, "k": 5}, r"Received: k=5, num_experts=4"),
        ({"num_experts": 0, "k": 1}, "num_experts >= 1"),
        ({"num_experts": 4, "importance_weight": -1.0}, "importance_weight >= 0"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NoisyTopKGate(**kwargs)


def test_config_round_trip():
    gate = NoisyTopKGate(
        5, k=3, noise=False, importance_weight=0.5, kernel_regularizer="l2", seed=7, name="g"
    )
    config = gate.get_config()
    assert {k: config[k] for k in ("num_experts", "k", "noise", "importance_weight", "seed")} == {
        "num_experts": 5,
        "k": 3,
        "noise": False,
        "importance_weight": 0.5,
        "seed": 7,
    }
    assert NoisyTopKGate.from_config(config).get_config() == config


def test_runs_inside_an_xla_function():
    gate = NoisyTopKGate(4, k=2, importance_weight=0.1, seed=0, **RANDOM)
    gate.build(X.shape)

    @tf.function(jit_compile=True)
    def step(x):
        return gate(x, training=True), gate(x, training=False)

    noisy, clean = step(tf.constant(X))
    np.testing.assert_array_equal((noisy.numpy() > 0).sum(axis=1), np.full(6, 2))
    np.testing.assert_allclose(clean, gate(X, training=False), atol=1e-6)


def test_mixed_precision_weights_in_the_compute_dtype():
    gate = NoisyTopKGate(4, k=2, dtype="mixed_float16", **RANDOM)
    w = gate(X, training=True)
    assert w.dtype == "float16"
    np.testing.assert_allclose(np.asarray(w, "float32").sum(axis=1), 1.0, rtol=1e-3)
    np.testing.assert_array_equal((np.asarray(w) > 0).sum(axis=1), np.full(6, 2))
