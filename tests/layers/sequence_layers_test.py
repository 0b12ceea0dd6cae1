"""Pooling a history (or a multi-hot list) into one vector; FeatureEmbedding with them."""

import keras
import numpy as np
import pytest

import zoo
from zoo.layers import FeatureEmbedding, MaskedPooling, SequenceTransformer, TargetAttention

RNG = np.random.default_rng(0)
VECTORS = RNG.normal(size=(3, 4, 2)).astype("float32")
MASK = np.array([[True, True, False, False], [True, True, True, True], [False] * 4])


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("mean", lambda v, m: v[m].mean(axis=0)),
        ("sum", lambda v, m: v[m].sum(axis=0)),
        ("max", lambda v, m: v[m].max(axis=0)),
    ],
)
def test_masked_pooling_ignores_padding_and_gives_zeros_for_empty_rows(mode, expected):
    pooled = np.asarray(MaskedPooling(mode)(VECTORS, MASK))
    for row in range(2):
        np.testing.assert_allclose(pooled[row], expected(VECTORS[row], MASK[row]), rtol=1e-6)
    np.testing.assert_array_equal(pooled[2], 0.0)


def test_target_attention_weights_are_zero_at_padding_and_sum_the_history():
    attention = TargetAttention(units=(8,))
    candidate = RNG.normal(size=(3, 2)).astype("float32")
    interest, weights = attention(VECTORS, candidate, MASK, return_weights=True)
    weights = np.asarray(weights)
    assert weights.shape == (3, 4)
    np.testing.assert_array_equal(weights[~MASK], 0.0)
    # DIN: interest = sum_j w_j e_j, weights not normalized.
    np.testing.assert_allclose(
        np.asarray(interest), np.einsum("bl,bld->bd", weights, VECTORS), rtol=1e-5, atol=1e-6
    )
    clone = TargetAttention.from_config(attention.get_config())
    clone(VECTORS, candidate, MASK)
    clone.set_weights(attention.get_weights())
    np.testing.assert_allclose(np.asarray(clone(VECTORS, candidate, MASK)), np.asarray(interest))


def test_sequence_transformer_reads_the_history_through_the_candidate():
    pytest.importorskip("keras_hub", reason="pooling='transformer' needs keras-hub ([sequence])")
    # Width 8: after the block's layer norm, two-wide vectors would all be (+-1, -+1).
    vectors = RNG.normal(size=(3, 4, 8)).astype("float32")
    candidate = RNG.normal(size=(3, 8)).astype("float32")
    layer = SequenceTransformer(max_len=4, num_heads=2)
    out = np.asarray(layer(vectors, MASK, candidate))
    assert out.shape == (3, 8) and np.isfinite(out).all()
    # Padding is masked: what sits behind the mask changes nothing.
    noisy = vectors.copy()
    noisy[~MASK] = 100.0
    np.testing.assert_allclose(np.asarray(layer(noisy, MASK, candidate)), out, atol=1e-5)
    # The history matters: another history, another vector (not for the empty row).
    other = np.asarray(layer(vectors[::-1], MASK, candidate))
    assert not np.allclose(other[:2], out[:2], atol=1e-3)
    with pytest.raises(ValueError, match="divide among num_heads=3"):
        SequenceTransformer(max_len=4, num_heads=3)(vectors, MASK)


FEATURES = [
    {"name": "item", "kind": "categorical", "input_dim": 6, "output_dim": 2},
    {"name": "age", "kind": "numeric"},
    {"name": "tags", "kind": "multi_hot", "input_dim": 5, "output_dim": 2, "max_len": 3,
     "pooling": "sum"},
    {"name": "history", "kind": "sequence", "input_dim": 6, "output_dim": 2, "max_len": 4,
     "pooling": "attention", "shares_table_with": "item", "target": "item",
     "attention_units": [8]},
]  # fmt: skip
INPUTS = {
    "item": np.array([1, 2]),
    "age": np.array([0.5, -1.0], "float32"),
    "tags": np.array([[1, 4, -1], [-1, -1, -1]]),
    "history": np.array([[2, 3, -1, -1], [5, -1, -1, -1]]),
}


def test_feature_embedding_shares_the_items_table_with_the_history():
    layer = FeatureEmbedding(FEATURES)
    x = np.asarray(layer(INPUTS))
    assert x.shape == (2, 2 + 2 + 2 + 1)  # item, tags, history (one width group), then age
    # One table for width 2: item's 6 rows and tags' 5; the history reads item's rows.
    assert [t.input_dim for t in layer.tables] == [11]
    table = np.asarray(layer.tables[0].embeddings)
    np.testing.assert_allclose(x[0, :2], table[1])
    np.testing.assert_allclose(x[0, 2:4], table[6 + 1] + table[6 + 4])  # sum of tags 1, 4
    np.testing.assert_allclose(x[1, 2:4], 0.0)  # no tags
    weights = np.asarray(layer.attention_weights(INPUTS)["history"])
    np.testing.assert_allclose(
        x[:, 4:6], np.einsum("bl,bld->bd", weights, table[np.maximum(INPUTS["history"], 0)]),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip
    np.testing.assert_array_equal(weights[INPUTS["history"] < 0], 0.0)


def test_feature_embedding_with_lists_saves_and_reloads(tmp_path):
    inputs = {name: keras.Input(value.shape[1:], dtype=value.dtype, name=name)
              for name, value in INPUTS.items()}  # fmt: skip
    model = keras.Model(inputs, FeatureEmbedding(FEATURES)(inputs))
    path = tmp_path / "embedding.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded(INPUTS), model(INPUTS), rtol=1e-6)


def test_feature_embedding_refuses_a_target_of_another_width():
    bad = [dict(f) for f in FEATURES]
    bad[0]["output_dim"] = 3
    with pytest.raises(ValueError, match="expected the same output_dim"):
        FeatureEmbedding(bad)


def test_layers_are_exported():
    assert zoo.layers.TargetAttention is TargetAttention
