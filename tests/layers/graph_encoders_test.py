"""The MoGENet and NGCF graph encoders, the interaction function kappa and the graph-enhanced
experts: against dense references and hand computations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layer_test_case import run_layer_test
from zoo.graphs import CSRGraph, GraphInputs, full_graph, layer_extents
from zoo.layers import (
    GraphEnhancedExpertsSwitcher,
    MultiChannelMGNN,
    NGCFEncoder,
    NGCFPropagation,
    PairInteraction,
)
from zoo.layers.graph.multi_channel_mgnn import OUTPUTS
from zoo.layers.switchers.graph_enhanced_experts import cooperative_loss
from zoo.models import make_graph_encoder

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def dataset(pair_data):
    return pair_data


@pytest.fixture(scope="module")
def preprocessor(pair_preprocessor):
    return pair_preprocessor


def _batch(dataset, preprocessor, rows=16):
    features = preprocessor({k: v[:rows] for k, v in dataset.train.features.items()})
    return features["user_id"], features["item_id"], features


def test_sampling_every_neighbour_gives_the_whole_graph_outputs(dataset, preprocessor):
    whole = GraphInputs.from_dataset(dataset, preprocessor, fanouts=None)
    sampled = GraphInputs.from_dataset(dataset, preprocessor, fanouts=(1000, 1000))
    keras.utils.set_random_seed(1)
    encoder = make_graph_encoder(whole, preprocessor, units=8)
    users, items, features = _batch(dataset, preprocessor)
    exact = encoder({**features, "graph": whole.subgraphs(users, items)})
    estimate = encoder({**features, "graph": sampled.subgraphs(users, items, step=3)})
    assert sorted(exact) == sorted(OUTPUTS)
    for name in OUTPUTS:
        assert exact[name].shape == (16, 8)
        np.testing.assert_allclose(estimate[name], exact[name], atol=1e-5)
    # A sampled neighbourhood smaller than the degrees gives other values.
    small = GraphInputs.from_dataset(dataset, preprocessor, fanouts=(1, 1))
    rough = encoder({**features, "graph": small.subgraphs(users, items)})
    assert not np.allclose(rough["user_bipartite"], exact["user_bipartite"], atol=1e-4)


@pytest.mark.parametrize("model", ["mgnn", "ngcf"])
def test_layers_skip_what_no_seed_reads_without_changing_the_seeds(model, dataset, preprocessor):
    # Small fan-outs, so that the outer hops are real work to skip.
    sampled = GraphInputs.from_dataset(dataset, preprocessor, fanouts=(2, 2))
    keras.utils.set_random_seed(3)
    if model == "mgnn":
        encoder = make_graph_encoder(sampled, preprocessor, units=8)
    else:
        encoder = NGCFEncoder(sampled.num_users, sampled.num_items, units=8)
    users, items, features = _batch(dataset, preprocessor)
    graph = sampled.subgraphs(users, items, step=5)
    untrimmed = {
        channel: {k: v for k, v in sub.items() if not k.startswith("hop_")}
        for channel, sub in graph.items()
    }
    assert layer_extents(untrimmed["bipartite"], 2) is None
    extents = layer_extents(graph["bipartite"], 2)
    assert int(extents[1][0]) < int(extents[0][0]) < len(graph["bipartite"]["node_ids"])
    trimmed = encoder({**features, "graph": graph})
    full = encoder({**features, "graph": untrimmed})
    for name in full:
        np.testing.assert_allclose(trimmed[name], full[name], atol=1e-5)


def test_node_tables_serve_what_the_whole_graph_computes(dataset, preprocessor):
    whole = GraphInputs.from_dataset(dataset, preprocessor, fanouts=None)
    encoder = make_graph_encoder(whole, preprocessor, units=8)
    users, items, features = _batch(dataset, preprocessor)
    assert not encoder.tables_ready
    encoder.compute_node_tables(whole.whole_graphs())
    assert encoder.tables_ready
    served = encoder(features)  # no "graph": the lookup path
    computed = encoder({**features, "graph": whole.subgraphs(users, items)})
    for name in OUTPUTS:
        np.testing.assert_allclose(served[name], computed[name], atol=1e-5)
    # Changing the node features changes the encodings: they are read from the tables.
    table = whole.user_feature_table.copy()
    table[:, 1] = 0
    encoder.set_node_features(table, whole.item_feature_table)
    changed = encoder({**features, "graph": whole.subgraphs(users, items)})
    assert not np.allclose(changed["user_similarity"], computed["user_similarity"])
    with pytest.raises(ValueError, match=r"user_feature_table of shape \(31, 2\)"):
        encoder.set_node_features(table[:5], whole.item_feature_table)


def test_every_channel_gets_gradients_and_the_config_round_trips(dataset, preprocessor):
    whole = GraphInputs.from_dataset(dataset, preprocessor, fanouts=None)
    encoder = make_graph_encoder(whole, preprocessor, units=6, attention="additive")
    users, items, features = _batch(dataset, preprocessor)
    inputs = {**features, "graph": whole.subgraphs(users, items)}
    with tf.GradientTape() as tape:
        outputs = encoder(inputs, training=True)
        loss = sum(tf.reduce_sum(v**2) for v in outputs.values())
    gradients = tape.gradient(loss, encoder.trainable_weights)
    missing = [w.path for w, g in zip(encoder.trainable_weights, gradients) if g is None]
    assert not missing
    clone = MultiChannelMGNN.from_config(encoder.get_config())
    clone.build()
    clone.set_weights(encoder.get_weights())
    for name, value in clone(inputs).items():
        np.testing.assert_allclose(value, outputs[name], atol=1e-6)


def _ngcf_reference(embeddings, adjacency, w1, b1, w2, b2):
    """NGCF's matrix form: LeakyReLU((L + I) E W1 + b1 + (L E * E) W2 + b2), L = D^-1/2 A D^-1/2."""
    degrees = adjacency.sum(axis=1)
    scale = np.where(degrees > 0, 1 / np.sqrt(np.maximum(degrees, 1)), 0)
    laplacian = adjacency * scale[:, None] * scale[None, :]
    side = laplacian @ embeddings
    z = (embeddings + side) @ w1 + b1 + (side * embeddings) @ w2 + b2
    return np.where(z > 0, z, 0.2 * z)


def test_ngcf_propagation_is_the_laplacian_form_on_the_whole_graph():
    num_users, num_items, dim = 5, 7, 4
    interactions = RNG.random((num_users, num_items)) < 0.4
    interactions[0] = False  # a user without items
    adjacency = np.zeros((12, 12), "float32")
    adjacency[:5, 5:] = interactions
    adjacency[5:, :5] = interactions.T
    layer = NGCFPropagation()
    dst, src = np.nonzero(adjacency)
    embeddings = RNG.normal(size=(12, dim)).astype("float32")
    inputs = {
        "nodes": embeddings,
        "edge_dst": dst,
        "edge_src": src,
        "node_degrees": adjacency.sum(axis=1),
    }
    out = layer(inputs)
    layer.b1.assign(RNG.normal(size=dim))
    layer.b2.assign(RNG.normal(size=dim))
    out = layer(inputs)
    expected = _ngcf_reference(embeddings, adjacency, *[np.asarray(w) for w in layer.weights])
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # The same through CSRGraph/full_graph, the form GraphInputs produces.
    graph = full_graph(CSRGraph.from_sparse(tf.sparse.from_dense(adjacency)))
    again = layer({"nodes": embeddings, **graph, "node_degrees": adjacency.sum(axis=1)})
    np.testing.assert_allclose(again, expected, atol=1e-5)


def test_ngcf_scales_a_sampled_neighbourhood_to_the_full_sum():
    # Node 0 has degree 4 but one sampled neighbour (node 1, degree 1): the sum over
    # N(0) is estimated by 4 times that neighbour's message.
    layer = NGCFPropagation()
    nodes = RNG.normal(size=(2, 3)).astype("float32")
    out = layer(
        {
            "nodes": nodes,
            "edge_dst": np.array([0]),
            "edge_src": np.array([1]),
            "node_degrees": np.array([4.0, 1.0], "float32"),
        }
    )
    w1, b1, w2, b2 = [np.asarray(w) for w in layer.weights]
    message = 4 / np.sqrt(4 * 1) * nodes[1]
    z = (nodes[0] + message) @ w1 + b1 + (message * nodes[0]) @ w2 + b2
    np.testing.assert_allclose(out[0], np.where(z > 0, z, 0.2 * z), atol=1e-5)


def test_ngcf_penalizes_the_batch_embeddings_as_its_code_does(dataset, preprocessor):
    # decay * l2_loss(batch embeddings) / batch: sum over the batch's users and items of
    # ||e^(0)||^2 / 2, over the batch size; only while training, and not the whole table.
    sampled = GraphInputs.from_dataset(dataset, preprocessor, fanouts=(2, 2))
    encoder = NGCFEncoder(sampled.num_users, sampled.num_items, units=4, embedding_l2=0.5)
    users, items, features = _batch(dataset, preprocessor, rows=8)
    inputs = {**features, "graph": sampled.subgraphs(users, items)}
    encoder(inputs, training=False)
    assert encoder.losses == []
    encoder(inputs, training=True)
    table = np.asarray(encoder.node_embedding.embeddings)
    ego = table[np.concatenate([np.asarray(users), np.asarray(items) + sampled.num_users])]
    (loss,) = encoder.losses
    np.testing.assert_allclose(float(loss), 0.5 * (ego**2).sum() / 2 / 8, rtol=1e-5)
    with pytest.raises(ValueError, match="embedding_l2 >= 0"):
        NGCFEncoder(3, 3, embedding_l2=-1.0)


def test_ngcf_contract(tmp_path):
    # Six nodes, six edges: the contract helper can slice nodes and edges alike.
    inputs = {
        "nodes": RNG.normal(size=(6, 4)).astype("float32"),
        "edge_dst": np.array([0, 0, 1, 2, 3, 3], "int32"),
        "edge_src": np.array([1, 2, 2, 0, 4, 5], "int32"),
        "node_degrees": np.array([2, 1, 1, 1, 2, 1], "float32"),
    }
    run_layer_test(NGCFPropagation, {"negative_slope": 0.1}, inputs, (6, 4), tmp_path)


@pytest.mark.parametrize("kind", ["product", "concat", "add", "mlp"])
def test_pair_interactions(kind, tmp_path):
    user = RNG.normal(size=(5, 4)).astype("float32")
    item = RNG.normal(size=(5, 4)).astype("float32")
    layer = PairInteraction(kind)
    out = np.asarray(layer((user, item)))
    joint = np.concatenate([user, item], axis=1)
    if kind == "product":
        expected = user * item
    elif kind == "add":
        expected = user + item
    elif kind == "concat":
        expected = joint
    else:
        kernel, bias = [np.asarray(w) for w in layer.weights]
        z = joint @ kernel + bias
        expected = np.where(z > 0, z, 0.2 * z)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    width = 8 if kind == "concat" else 4
    run_layer_test(PairInteraction, {"kind": kind}, (user, item), (5, width), tmp_path)


def test_unknown_interaction_is_named():
    with pytest.raises(ValueError, match="'dot'"):
        PairInteraction("dot")


def test_graph_enhanced_experts_mix_expert_outputs_with_their_interaction():
    x = RNG.normal(size=(3, 6)).astype("float32")
    z = RNG.normal(size=(3, 4, 2)).astype("float32")
    switcher = GraphEnhancedExpertsSwitcher(num_tasks=2, num_experts=4, expert_units=[5])
    outputs, gates = switcher((x, z), return_gate_weights=True)
    experts = np.asarray(switcher.experts(x))  # (3, 4, 5)
    joined = np.concatenate([experts, z], axis=-1)  # [f_n(x) || Z^n]
    for k, output in enumerate(outputs):
        weights = np.asarray(gates[f"task_{k}"])
        np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-6)
        np.testing.assert_allclose(output, np.einsum("be,beu->bu", weights, joined), atol=1e-5)
        assert output.shape == (3, 7)


def test_cooperative_loss_by_hand_and_only_in_training():
    even = np.array([[0.25, 0.25, 0.25, 0.25]], "float32")
    one_hot = np.array([[1.0, 0.0, 0.0, 0.0]], "float32")
    half = np.array([[0.5, 0.5, 0.0, 0.0]], "float32")
    # -sum_{n<m} g_n g_m: 6 pairs of 1/16 for the even gate, none for a one-hot gate.
    np.testing.assert_allclose(cooperative_loss([even]), -6 / 16, atol=1e-7)
    np.testing.assert_allclose(cooperative_loss([one_hot]), 0.0, atol=1e-7)
    np.testing.assert_allclose(cooperative_loss([half, even]), -0.25 - 6 / 16, atol=1e-7)

    x = RNG.normal(size=(4, 6)).astype("float32")
    z = RNG.normal(size=(4, 4, 2)).astype("float32")
    switcher = GraphEnhancedExpertsSwitcher(2, cooperative_weight=0.5, expert_units=[3])
    inputs = keras.Input((6,)), keras.Input((4, 2))
    model = keras.Model(inputs, switcher(inputs))
    model((x, z), training=False)
    assert not model.losses
    _, gates = switcher((x, z), return_gate_weights=True)
    model((x, z), training=True)
    expected = 0.5 * cooperative_loss(list(gates.values()))
    np.testing.assert_allclose(sum(np.asarray(v) for v in model.losses), expected, atol=1e-6)
    with pytest.raises(ValueError, match="cooperative_weight"):
        GraphEnhancedExpertsSwitcher(2, cooperative_weight=-1.0)


def test_node_tables_computed_in_blocks_equal_one_pass(dataset, preprocessor):
    whole = GraphInputs.from_dataset(dataset, preprocessor, fanouts=None)
    encoder = make_graph_encoder(whole, preprocessor, units=8)
    users, items, features = _batch(dataset, preprocessor, rows=40)
    encoder.compute_node_tables(whole.whole_graphs(), max_edges=7)  # many small blocks
    blocked = encoder(features)
    one_pass = encoder({**features, "graph": whole.subgraphs(users, items)})
    for name in OUTPUTS:
        np.testing.assert_allclose(blocked[name], one_pass[name], atol=1e-5)
