import numpy as np
import pytest

from tests.layer_test_case import run_layer_test
from zoo.layers import MLP


def test_layer_contract(tmp_path):
    run_layer_test(
        MLP,
        {"units": [8, 4], "dropout": 0.1, "use_batch_norm": True, "seed": 1},
        np.random.default_rng(0).random((6, 5)).astype("float32"),
        (6, 4),
        tmp_path,
    )


def test_values_by_hand():
    mlp = MLP([2], activation="relu", kernel_initializer="ones")
    # relu(1+2+3) = 6 in both units; the bias starts at zero.
    np.testing.assert_allclose(mlp(np.array([[1.0, 2.0, 3.0]])), [[6.0, 6.0]])


def test_layers_of_equal_shape_start_different():
    mlp = MLP([4, 4, 4])
    mlp(np.ones((1, 4), "float32"))
    kernels = [layer.kernel.numpy() for layer in mlp.dense_layers]
    assert not np.allclose(kernels[1], kernels[2])


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="units"):
        MLP([8, 0])
    with pytest.raises(ValueError, match="dropout"):
        MLP([8], dropout=1.5)
