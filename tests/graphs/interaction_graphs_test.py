"""The MoGENet graphs, against hand values and a dense numpy computation."""

import numpy as np
import pytest
import tensorflow as tf

from zoo.graphs import InteractionGraphs, top_k_cosine_similarity

# (user, item, [label_1, label_2]) records, with a repeated pair, records whose labels
# are all zero and a missing (NaN) label: only pairs with a positive label make edges.
RECORDS = [
    (0, 0, [1, 0]),
    (0, 1, [0, 1]),
    (0, 1, [1, 1]),  # repeat of (0, 1): one edge
    (0, 4, [0, 0]),  # no positive label: no edge
    (1, 1, [1, 0]),
    (1, 2, [0, 1]),
    (2, 0, [0, 0]),  # no edge
    (2, 2, [1, 0]),
    (2, 3, [1, 0]),
    (3, 1, [0, 1]),
    (3, 2, [1, 0]),
    (3, 3, [np.nan, 1]),
    (3, 4, [np.nan, 0]),  # missing and negative: no edge
]
USERS = np.array([r[0] for r in RECORDS])
ITEMS = np.array([r[1] for r in RECORDS])
LABELS = np.array([r[2] for r in RECORDS], dtype="float32")
# Users' items: u0 {0, 1}, u1 {1, 2}, u2 {2, 3}, u3 {1, 2, 3}; item 4 has none.
EXPECTED_USER_ITEM = np.array(
    [
        [1, 1, 0, 0, 0],
        [0, 1, 1, 0, 0],
        [0, 0, 1, 1, 0],
        [0, 1, 1, 1, 0],
    ],
    dtype="float32",
)


def _build(**kwargs):
    return InteractionGraphs.from_training_interactions(
        USERS, ITEMS, LABELS, num_users=4, num_items=5, **kwargs
    )


def _dense(sparse):
    return tf.sparse.to_dense(sparse).numpy()


def dense_top_k_cosine(matrix, top_k):
    """Reference: dense cosine of the rows, no diagonal, top-k per row (ties: smaller column)."""
    counts = matrix @ matrix.T
    degrees = matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        similarity = np.where(counts > 0, counts / np.sqrt(np.outer(degrees, degrees)), 0.0)
    np.fill_diagonal(similarity, 0.0)
    result = np.zeros_like(similarity)
    for row in range(similarity.shape[0]):
        cols = np.flatnonzero(similarity[row])
        kept = cols[np.lexsort((cols, -similarity[row, cols]))][:top_k]
        result[row, kept] = similarity[row, kept]
    return result


def test_bipartite_edges_are_the_positive_pairs():
    graphs = _build(top_k=2)
    np.testing.assert_array_equal(_dense(graphs.user_item), EXPECTED_USER_ITEM)
    assert graphs.num_user_item_edges == 9
    assert tuple(graphs.user_item.dense_shape.numpy()) == (4, 5)


def test_similarity_values_and_top_k_by_hand():
    graphs = _build(top_k=2)
    r6 = 1 / np.sqrt(6)
    # Users: cos(0,1) = 1/2, cos(0,3) = 1/sqrt(6), cos(1,2) = 1/2, cos(1,3) = cos(2,3) = 2/sqrt(6).
    # Row 1 ties 1/2 between users 0 and 2: the smaller id is kept.
    expected_users = np.array(
        [
            [0, 0.5, 0, r6],
            [0.5, 0, 0, 2 * r6],
            [0, 0.5, 0, 2 * r6],
            [0, 2 * r6, 2 * r6, 0],
        ]
    )
    np.testing.assert_allclose(_dense(graphs.user_user), expected_users, rtol=1e-6)
    # Items: cos(0,1) = 1/sqrt(3), cos(1,2) = 2/3, cos(1,3) = 1/sqrt(6), cos(2,3) = 2/sqrt(6).
    expected_items = np.array(
        [
            [0, 1 / np.sqrt(3), 0, 0, 0],
            [1 / np.sqrt(3), 0, 2 / 3, 0, 0],
            [0, 2 / 3, 0, 2 * r6, 0],
            [0, r6, 2 * r6, 0, 0],
            [0, 0, 0, 0, 0],
        ]
    )
    np.testing.assert_allclose(_dense(graphs.item_item), expected_items, rtol=1e-6)
    assert (graphs.num_user_user_edges, graphs.num_item_item_edges) == (8, 7)


@pytest.mark.parametrize("top_k, block_size", [(3, 7), (1, 1), (50, 1000)])
def test_matches_dense_numpy_on_random_data(top_k, block_size):
    rng = np.random.default_rng(0)
    rows = 200
    users, items = rng.integers(0, 40, rows), rng.integers(0, 25, rows)
    labels = (rng.random((rows, 3)) < 0.3).astype("float32")
    graphs = InteractionGraphs.from_training_interactions(
        users, items, labels, 40, 25, top_k=top_k, block_size=block_size
    )
    interactions = _dense(graphs.user_item).astype("float64")
    positive = labels.any(axis=1)
    expected = np.zeros((40, 25))
    expected[users[positive], items[positive]] = 1.0
    np.testing.assert_array_equal(interactions, expected)
    for sparse, matrix in ((graphs.user_user, expected), (graphs.item_item, expected.T)):
        reference = dense_top_k_cosine(matrix, top_k)
        result = _dense(sparse)
        np.testing.assert_array_equal(result != 0, reference != 0)  # the same neighbours
        np.testing.assert_allclose(result, reference, rtol=1e-6)
        assert not np.diag(result).any()  # no self loops
        assert ((result != 0).sum(axis=1) <= top_k).all()


def test_popular_item_cap_bounds_the_counted_users():
    exact = _build(top_k=3)
    # Every item keeps at most one user, so no two users share a counted item.
    capped = _build(top_k=3, max_users_per_item=1, max_items_per_user=1, seed=3)
    assert capped.num_user_user_edges == 0 and capped.num_item_item_edges == 0
    # A cap at least the largest degree changes nothing.
    loose = _build(top_k=3, max_users_per_item=3, max_items_per_user=3)
    np.testing.assert_array_equal(_dense(loose.user_user), _dense(exact.user_user))
    np.testing.assert_array_equal(_dense(loose.item_item), _dense(exact.item_item))
    # The subsample is seeded: same seed, same graph.
    rng = np.random.default_rng(1)
    matrix = (rng.random((30, 6)) < 0.6).astype("float64")
    first = top_k_cosine_similarity(matrix, 5, max_rows_per_column=4, seed=7)
    again = top_k_cosine_similarity(matrix, 5, max_rows_per_column=4, seed=7)
    assert (first != again).nnz == 0
    assert (first != top_k_cosine_similarity(matrix, 5)).nnz > 0  # the cap did act


def test_bipartite_joint_graph_is_symmetric_with_offset_items():
    graphs = _build(top_k=2)
    joint = _dense(graphs.bipartite())
    assert joint.shape == (9, 9)
    np.testing.assert_array_equal(joint, joint.T)
    np.testing.assert_array_equal(joint[:4, 4:], EXPECTED_USER_ITEM)
    assert not joint[:4, :4].any() and not joint[4:, 4:].any()


def test_rejects_bad_records():
    with pytest.raises(ValueError, match=r"Expected item_ids in \[0, 4\). Received: min=0, max=4"):
        InteractionGraphs.from_training_interactions(USERS, ITEMS, LABELS, 4, 4)
    with pytest.raises(ValueError, match="Expected labels of shape"):
        InteractionGraphs.from_training_interactions(USERS, ITEMS, LABELS[:3], 4, 5)
    with pytest.raises(ValueError, match="Expected top_k >= 1. Received: top_k=0"):
        _build(top_k=0)
