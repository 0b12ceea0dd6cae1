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


def _table_gradients(layer, inputs, weights):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(inputs) * weights)
    return tape.gradient(loss, [t.embeddings for t in layer.tables])


def test_small_tables_get_the_dense_gradient_of_the_gather(monkeypatch):
    import tensorflow as tf

    from zoo.layers.features import feature_embedding

    features = FEATURES + [
        {"name": "tags", "kind": "multi_hot", "input_dim": 4, "output_dim": 2,
         "max_len": 3, "pooling": "sum"},
    ]  # fmt: skip
    inputs = dict(_inputs(), tags=np.array([[1, 1, -1], [3, -1, -1], [0, 2, 2]], "int32"))
    inputs["a"] = np.array([4, 4, 2], "int32")  # a row read twice: its gradients add up
    layer = FeatureEmbedding(features)
    weights = np.random.default_rng(0).normal(size=(3, 3 + 3 + 2 + 2 + 1)).astype("float32")
    dense = _table_gradients(layer, inputs, weights)
    assert all(isinstance(g, tf.Tensor) for g in dense)
    # The same layer with the plain gather: IndexedSlices, which must sum to the same.
    monkeypatch.setattr(feature_embedding, "DENSE_GRADIENT_MAX_ROWS", 0)
    sparse = _table_gradients(layer, inputs, weights)
    assert all(isinstance(g, tf.IndexedSlices) for g in sparse)
    for d, s in zip(dense, sparse):
        np.testing.assert_allclose(d.numpy(), tf.convert_to_tensor(s).numpy(), rtol=1e-6)


def test_adam_moves_a_row_read_many_times_by_one_step_as_textbook_adam():
    # Keras 3's Adam, given IndexedSlices with repeated rows, adds each repeat's squared
    # gradient to its second moment instead of the square of their sum: a row read n
    # times moved up to sqrt(n) learning rates in one step. With the dense gradient,
    # Adam's first step moves every row it touches by the learning rate, at most.
    import keras
    import tensorflow as tf

    layer = FeatureEmbedding(
        [{"name": "a", "kind": "categorical", "input_dim": 5, "output_dim": 3}]
    )
    ids = {"a": np.array([1] * 64 + [2], "int32")}  # row 1 read 64 times, row 2 once
    layer(ids)
    table = layer.tables[0].embeddings
    before = table.numpy().copy()
    optimizer = keras.optimizers.Adam(learning_rate=0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(ids))
    optimizer.apply_gradients(zip(tape.gradient(loss, [table]), [table]))
    moved = np.abs(table.numpy() - before)
    np.testing.assert_allclose(moved[[1, 2]], 0.1, rtol=1e-4)
    assert np.all(moved[[0, 3, 4]] == 0.0)
