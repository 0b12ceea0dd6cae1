"""GraphInputs: graphs from the training rows in the preprocessor's index space, node tables,
and the sub-graphs attached to every batch."""

import numpy as np
import pytest
import tensorflow as tf

from zoo.graphs import CHANNELS, GraphInputs


@pytest.fixture(scope="module")
def dataset(pair_data):
    return pair_data


@pytest.fixture(scope="module")
def preprocessor(pair_preprocessor):
    return pair_preprocessor


def test_graphs_are_the_training_positives_in_index_space(dataset, preprocessor):
    inputs = GraphInputs.from_dataset(dataset, preprocessor, top_k=3, fanouts=(4, 2))
    encoded = {k: np.asarray(v) for k, v in preprocessor(dataset.train.features).items()}
    positive = (dataset.train.labels["click"] > 0) | (dataset.train.labels["buy"] > 0)
    expected = set(zip(encoded["user_id"][positive], encoded["item_id"][positive]))
    edges = set(map(tuple, inputs.graphs.user_item.indices.numpy().tolist()))
    assert edges == expected
    # Index 0 is the out-of-vocabulary bucket: a node, with no edge.
    assert inputs.num_users == 31 and inputs.num_items == 41
    assert 0 not in {u for u, _ in edges} and 0 not in {i for _, i in edges}
    # A positive pair seen only in the test split is not an edge.
    test = {k: np.asarray(v) for k, v in preprocessor(dataset.test.features).items()}
    test_positive = dataset.test.labels["click"] > 0
    test_pairs = set(zip(test["user_id"][test_positive], test["item_id"][test_positive]))
    assert test_pairs - expected  # the fixture has test-only positives ...
    assert not (test_pairs - expected) & edges  # ... and none of them became an edge
    # Each similarity row keeps at most top_k neighbours.
    rows = inputs.graphs.user_user.indices.numpy()[:, 0]
    assert np.bincount(rows).max() <= 3


def test_node_tables_hold_each_nodes_encoded_features(dataset, preprocessor):
    inputs = GraphInputs.from_dataset(dataset, preprocessor)
    assert inputs.user_features == ("user_id", "age")
    assert inputs.item_features == ("item_id", "genre")
    encoded = {k: np.asarray(v) for k, v in preprocessor(dataset.train.features).items()}
    users = encoded["user_id"]
    np.testing.assert_array_equal(inputs.user_feature_table[users, 0], users)
    np.testing.assert_array_equal(inputs.user_feature_table[users, 1], encoded["age"])
    items = encoded["item_id"]
    np.testing.assert_array_equal(inputs.item_feature_table[items, 1], encoded["genre"])
    np.testing.assert_array_equal(inputs.user_feature_table[0], [0, 0])  # the OOV node


def test_a_feature_that_varies_within_a_user_is_refused(dataset, preprocessor):
    with pytest.raises(ValueError, match="'genre' is not a property of the user"):
        GraphInputs.from_dataset(dataset, preprocessor, user_features=["user_id", "genre"])
    with pytest.raises(ValueError, match="'country' is not a feature"):
        GraphInputs.from_dataset(dataset, preprocessor, item_features=["item_id", "country"])
    with pytest.raises(ValueError, match="start with the id feature"):
        GraphInputs.from_dataset(dataset, preprocessor, user_features=["age"])
    with pytest.raises(ValueError, match="fanouts"):
        GraphInputs.from_dataset(dataset, preprocessor, fanouts=(3, 0))


@pytest.mark.parametrize("fanouts", [None, (3, 2), (None, None)], ids=["whole", "sampled", "all"])
def test_attached_subgraphs_seed_the_batch_users_and_items(dataset, preprocessor, fanouts):
    inputs = GraphInputs.from_dataset(dataset, preprocessor, fanouts=fanouts, seed=5)
    batches = inputs.attach(dataset.tf_dataset("train", preprocessor, 64))
    features, labels = next(iter(batches))
    assert sorted(labels) == ["buy", "click"]
    graph = features["graph"]
    assert sorted(graph) == sorted(CHANNELS)
    users = features["user_id"].numpy().astype(np.int64)
    items = features["item_id"].numpy().astype(np.int64)
    seeds = {
        "bipartite": np.concatenate([users, items + inputs.num_users]),
        "user_user": users,
        "item_item": items,
    }
    for name, sub in graph.items():
        node_ids = sub["node_ids"].numpy()
        np.testing.assert_array_equal(node_ids[sub["seed_index"].numpy()], seeds[name])
        # Every edge is an edge of the whole graph, and degrees are whole-graph degrees.
        csr = inputs._csr[name]
        splits, neighbors = csr.row_splits.numpy(), csr.neighbors.numpy()
        for dst, src in zip(sub["edge_dst"].numpy(), sub["edge_src"].numpy()):
            row = neighbors[splits[node_ids[dst]] : splits[node_ids[dst] + 1]]
            assert node_ids[src] in row
        np.testing.assert_array_equal(
            sub["node_degrees"].numpy(), np.diff(splits)[node_ids].astype("float32")
        )


def test_sampling_is_seeded_and_changes_from_step_to_step(dataset, preprocessor):
    inputs = GraphInputs.from_dataset(dataset, preprocessor, fanouts=(2, 1), seed=1)
    users = tf.constant([1, 2, 3, 4, 5])
    items = tf.constant([1, 2, 3, 4, 5])

    def edges(step, source=inputs):
        sub = source.subgraphs(users, items, step)["bipartite"]
        ids = sub["node_ids"].numpy()
        return sorted(zip(ids[sub["edge_dst"].numpy()], ids[sub["edge_src"].numpy()]))

    again = GraphInputs.from_dataset(dataset, preprocessor, fanouts=(2, 1), seed=1)
    assert edges(0) == edges(0, again)
    assert any(edges(0) != edges(step) for step in range(1, 5))
