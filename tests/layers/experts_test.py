import keras
import numpy as np
import pytest

from tests.layer_test_case import run_layer_test
from zoo.layers import Experts


def test_layer_contract(tmp_path):
    run_layer_test(
        Experts,
        {"num_experts": 3, "units": [8, 4], "dropout": 0.1, "seed": 2},
        np.random.default_rng(0).random((5, 6)).astype("float32"),
        (5, 3, 4),
        tmp_path,
    )


def test_experts_start_from_different_weights():
    # DeepCTR's MMoE/PLE give every expert the same seed; ours must not.
    experts = Experts(num_experts=8, units=[32, 16])
    experts(np.ones((2, 10), "float32"))
    for kernel in experts.kernels:
        slices = kernel.numpy()
        for i in range(len(slices)):
            for j in range(i + 1, len(slices)):
                assert not np.allclose(slices[i], slices[j]), f"experts {i} and {j} are equal"


def test_seeded_initializer_is_reproducible_and_still_distinct():
    def kernel():
        experts = Experts(3, [4], kernel_initializer=keras.initializers.GlorotUniform(seed=7))
        experts(np.ones((1, 5), "float32"))
        return experts.kernels[0].numpy()

    a, b = kernel(), kernel()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])


def test_each_expert_is_its_own_dense_network():
    experts = Experts(2, [3], activation="linear")
    x = np.random.default_rng(1).random((4, 5)).astype("float32")
    out = experts(x).numpy()
    for e in range(2):
        expected = x @ experts.kernels[0].numpy()[e] + experts.biases[0].numpy()[e]
        np.testing.assert_allclose(out[:, e, :], expected, rtol=1e-5, atol=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_experts"):
        Experts(0, [4])
    with pytest.raises(ValueError, match="units"):
        Experts(2, [])


def test_batch_norm_variant(tmp_path):
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    layer = run_layer_test(
        Experts,
        {"num_experts": 3, "units": [8, 4], "use_batch_norm": True},
        x,
        (16, 3, 4),
        tmp_path,
    )
    assert all(b is None for b in layer.biases)
    # In training mode every (expert, unit) pre-activation is standardized over the batch.
    linear = Experts(2, [5], activation="linear", use_batch_norm=True)
    out = linear(x, training=True).numpy().reshape(16, -1)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=1e-2)
