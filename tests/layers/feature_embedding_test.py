import numpy as np
import pytest

from tests.layer_test_case import run_layer_test
from zoo.layers import FeatureEmbedding

FEATURES = [
    {"name": "a", "kind": "categorical", "input_dim": 5, "output_dim": 3},
    {"name": "n", "kind": "numeric"},
    {"name": "b", "kind": "categorical", "input_dim": 4, "output_dim": 3},
    {"name": "c", "kind": "categorical", "input_dim": 6, "output_dim": 2},
]


def _inputs():
    return {
        "a": np.array([0, 4, 2], "int32"),
        "n": np.array([0.5, -1.0, 2.0], "float32"),
        "b": np.array([3, 1, 0], "int32"),
        "c": np.array([5, 0, 1], "int32"),
    }


def test_layer_contract(tmp_path):
    run_layer_test(
        FeatureEmbedding, {"features": FEATURES}, _inputs(), (3, 3 + 3 + 2 + 1), tmp_path
    )


def test_layout_groups_by_width_then_numerics():
    layer = FeatureEmbedding(FEATURES)
    x = layer(_inputs()).numpy()
    (table_3, table_2) = [t.embeddings.numpy() for t in layer.tables]
    inputs = _inputs()
    # Width-3 table: rows 0-4 belong to "a", rows 5-8 to "b".
    np.testing.assert_allclose(x[:, 0:3], table_3[inputs["a"]])
    np.testing.assert_allclose(x[:, 3:6], table_3[5 + inputs["b"]])
    np.testing.assert_allclose(x[:, 6:8], table_2[inputs["c"]])
    np.testing.assert_allclose(x[:, 8], inputs["n"])


def test_missing_feature_is_named():
    layer = FeatureEmbedding(FEATURES)
    inputs = _inputs()
    del inputs["b"]
    with pytest.raises(KeyError, match="'b'"):
        layer(inputs)


def test_rejects_duplicate_and_unknown_kinds():
    with pytest.raises(ValueError, match="unique"):
        FeatureEmbedding([FEATURES[1], FEATURES[1]])
    with pytest.raises(ValueError, match="kind"):
        FeatureEmbedding([{"name": "x", "kind": "image"}])
