import numpy as np
import pytest

from tests.layer_test_case import run_layer_test
from zoo.layers import SoftmaxGate


def test_layer_contract(tmp_path):
    run_layer_test(
        SoftmaxGate,
        {"num_experts": 4, "temperature": 0.5, "use_bias": True},
        np.random.default_rng(0).random((3, 6)).astype("float32"),
        (3, 4),
        tmp_path,
    )


def test_weights_are_a_distribution():
    gate = SoftmaxGate(5)
    w = gate(np.random.default_rng(0).normal(size=(7, 3)).astype("float32")).numpy()
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), np.ones(7), rtol=1e-6)


def test_temperature_by_hand():
    gate = SoftmaxGate(2, temperature=2.0)
    gate.build((None, 1))
    gate.dense.kernel.assign(np.array([[1.0, 3.0]], "float32"))
    # logits (1, 3) / 2 -> softmax((0.5, 1.5))
    expected = np.exp([0.5, 1.5]) / np.exp([0.5, 1.5]).sum()
    np.testing.assert_allclose(gate(np.array([[1.0]], "float32"))[0], expected, rtol=1e-6)


def test_rejects_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        SoftmaxGate(3, temperature=0.0)


def test_the_default_gate_and_the_named_softmax_gate_are_one_gate():
    from zoo.layers.gates.factory import make_gate
    from zoo.registry import GATES

    assert GATES["softmax"] is SoftmaxGate
    default = make_gate(None, 4, "g", kernel_regularizer="l2")
    named = make_gate("softmax", 4, "g", kernel_regularizer="l2")
    assert default.get_config() == named.get_config()
    # The default gate's options apply to the default gate only.
    assert make_gate(None, 4, "g", temperature=0.5).temperature == 0.5
    configured = make_gate({"class_name": "softmax", "config": {"temperature": 0.5}}, 4, "g")
    assert (type(configured), configured.temperature, configured.num_experts) == (
        SoftmaxGate,
        0.5,
        4,
    )
