"""Feature-interaction layers (AutoMTL's interaction candidates), checked by hand."""

import numpy as np
import pytest

from tests.layer_test_case import run_layer_test
from zoo.layers import CrossNetwork, FieldSelfAttention, ProductLayer

FIELDS = np.random.default_rng(0).normal(size=(3, 4, 2)).astype("float32")  # (batch, fields, dim)


@pytest.mark.parametrize("kind", ["inner", "outer"])
def test_product_layer_contract(kind, tmp_path):
    run_layer_test(ProductLayer, {"kind": kind, "output_dim": 5}, FIELDS, (3, 5), tmp_path)


def test_inner_product_by_hand():
    layer = ProductLayer("inner", output_dim=3)
    out = np.asarray(layer(FIELDS))
    kernel, bias = (np.asarray(w) for w in layer.dense.weights)
    products = np.stack(
        [(FIELDS[:, i] * FIELDS[:, j]).sum(-1) for i in range(4) for j in range(i + 1, 4)],
        axis=1,
    )  # (batch, 6 pairs)
    expected = np.concatenate([FIELDS.reshape(3, -1), products], axis=1) @ kernel + bias
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_outer_product_by_hand():
    layer = ProductLayer("outer", output_dim=3)
    out = np.asarray(layer(FIELDS))
    kernel, bias = (np.asarray(w) for w in layer.dense.weights)
    pooled = FIELDS.sum(axis=1)  # (batch, dim)
    outer = np.einsum("bi,bj->bij", pooled, pooled).reshape(3, -1)
    expected = np.concatenate([FIELDS.reshape(3, -1), outer], axis=1) @ kernel + bias
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_product_layer_rejects_unknown_kind():
    with pytest.raises(ValueError, match="Expected kind 'inner' or 'outer'. Received: kind='dot'"):
        ProductLayer("dot", 4)


def test_cross_network_contract(tmp_path):
    run_layer_test(CrossNetwork, {"num_layers": 2}, FIELDS, (3, 8), tmp_path)


def test_cross_network_by_hand():
    layer = CrossNetwork(num_layers=2)
    out = np.asarray(layer(FIELDS))
    x0 = FIELDS.reshape(3, -1)
    x = x0
    for cross in layer.cross_layers:
        kernel, bias = (np.asarray(w) for w in cross.dense.weights)
        x = x0 * (x @ kernel + bias) + x  # DCN-V2, equation (1)
    np.testing.assert_allclose(out, x, rtol=1e-5, atol=1e-5)


def test_field_attention_contract(tmp_path):
    run_layer_test(FieldSelfAttention, {"num_heads": 2}, FIELDS, (3, 8), tmp_path)


def test_field_attention_is_equivariant_to_field_order():
    # Attention has no notion of position: permuting the fields permutes the output.
    layer = FieldSelfAttention(num_heads=1)
    order = [2, 0, 3, 1]
    out = np.asarray(layer(FIELDS)).reshape(3, 4, 2)
    permuted = np.asarray(layer(FIELDS[:, order])).reshape(3, 4, 2)
    np.testing.assert_allclose(permuted, out[:, order], rtol=1e-5, atol=1e-5)


def test_field_attention_needs_heads_that_divide_the_width():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        FieldSelfAttention(num_heads=4)(FIELDS)  # width 2
