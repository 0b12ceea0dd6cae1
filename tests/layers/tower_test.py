import numpy as np

from tests.layer_test_case import run_layer_test
from zoo.layers import Tower


def test_layer_contract(tmp_path):
    run_layer_test(
        Tower,
        {"units": [8], "output_units": 2, "dropout": 0.2, "seed": 3},
        np.random.default_rng(0).random((4, 5)).astype("float32"),
        (4, 2),
        tmp_path,
    )


def test_logits_by_hand():
    tower = Tower([], kernel_initializer="ones")
    # No hidden layer: a linear map with weights 1 and bias 0, no activation.
    np.testing.assert_allclose(tower(np.array([[1.0, -4.0]], "float32")), [[-3.0]])
