"""MGNN layers: the sparse edge-list computation against a dense reference, and by hand."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layer_test_case import run_layer_test
from zoo.graphs import CSRGraph, NeighborSampler, full_graph
from zoo.layers.graph.graph_attention_aggregation import GraphAttentionAggregation
from zoo.layers.graph.mgnn_layer import MGNNLayer

RNG = np.random.default_rng(0)
DIM = 4


def _random_graph(num_nodes, density, seed):
    """Node features and a (dst, src) mask with one node (the last) without neighbours."""
    rng = np.random.default_rng(seed)
    mask = rng.random((num_nodes, num_nodes)) < density
    mask[-1] = False
    nodes = rng.normal(size=(num_nodes, DIM)).astype("float32")
    return nodes, mask


def _edge_inputs(nodes, mask, seed=0):
    """The edge-list inputs of `mask`, in shuffled order (the layer must not care)."""
    dst, src = np.nonzero(mask)
    order = np.random.default_rng(seed).permutation(dst.size)
    return {"nodes": nodes, "edge_dst": dst[order].astype("int32"), "edge_src": src[order]}


# The contract helper slices every input along its first axis as a batch, but a graph
# layer's nodes and edges are not batched. A graph with exactly as many edges as nodes
# makes that slicing consistent (fit's shuffle then permutes nodes and edges alike,
# which leaves valid indices), so the helper's build, symbolic call, fit step, config
# and .keras round trips all apply.
CONTRACT_NODES = RNG.normal(size=(6, DIM)).astype("float32")
CONTRACT_INPUTS = {
    "nodes": CONTRACT_NODES,
    "edge_dst": np.array([0, 0, 1, 2, 3, 3], "int32"),
    "edge_src": np.array([1, 2, 2, 0, 4, 5], "int32"),
}


@pytest.mark.parametrize(
    "kwargs",
    [{"attention": "dot"}, {"attention": "additive", "attention_dim": 3, "negative_slope": 0.1}],
)
def test_mgnn_layer_contract(kwargs, tmp_path):
    run_layer_test(MGNNLayer, kwargs, CONTRACT_INPUTS, (6, DIM), tmp_path)


def test_aggregation_contract(tmp_path):
    run_layer_test(
        GraphAttentionAggregation, {"attention": "additive"}, CONTRACT_INPUTS, (6, DIM), tmp_path
    )


def dense_mgnn(layer, nodes, mask):
    """Dense reference: (num_nodes, num_nodes) masked scores, masked softmax, matmuls."""
    agg = layer.aggregation
    if agg.attention == "dot":
        queries, keys = nodes @ agg.query_kernel, nodes @ agg.key_kernel
        scores = queries @ tf.transpose(keys) / math.sqrt(agg.query_kernel.shape[-1])
    else:
        hidden = tf.tanh((nodes @ agg.dst_kernel)[:, None, :] + (nodes @ agg.src_kernel)[None])
        scores = tf.squeeze(hidden @ agg.score_vector, -1)  # (dst, src)
    weights = tf.nn.softmax(tf.where(mask, scores, -1e9), axis=1) * mask.astype("float32")
    messages = tf.nn.leaky_relu((weights @ nodes) @ agg.kernel, alpha=agg.negative_slope)
    gates = tf.concat([nodes, messages], -1) @ layer.gate_kernel + layer.gate_bias
    i, f, o, g = tf.split(gates, 4, axis=-1)
    return tf.sigmoid(o) * tf.tanh(tf.sigmoid(f) * nodes + tf.sigmoid(i) * tf.tanh(g))


@pytest.mark.parametrize("attention", ["dot", "additive"])
def test_sparse_matches_dense_values_and_gradients(attention):
    nodes, mask = _random_graph(9, 0.35, seed=1)
    inputs = _edge_inputs(nodes, mask)
    layer = MGNNLayer(attention=attention, attention_dim=5)
    layer(inputs)
    nodes_var = tf.Variable(nodes)
    probe = RNG.normal(size=(9, DIM)).astype("float32")  # a loss that weighs every output

    def value_and_grads(compute):
        with tf.GradientTape() as tape:
            out = compute()
            loss = tf.reduce_sum(out * probe)
        return out, tape.gradient(loss, [nodes_var] + layer.trainable_weights)

    sparse_out, sparse_grads = value_and_grads(lambda: layer({**inputs, "nodes": nodes_var}))
    dense_out, dense_grads = value_and_grads(lambda: dense_mgnn(layer, nodes_var, mask))
    np.testing.assert_allclose(sparse_out, dense_out, rtol=1e-5, atol=1e-6)
    assert len(sparse_grads) == 1 + (6 if attention == "additive" else 5)
    for sparse_grad, dense_grad in zip(sparse_grads, dense_grads):
        assert np.abs(np.asarray(dense_grad)).max() > 0  # every gradient is exercised
        np.testing.assert_allclose(sparse_grad, dense_grad, rtol=1e-4, atol=1e-6)


def test_sparse_tensor_adjacency_equals_edge_lists():
    nodes, mask = _random_graph(7, 0.4, seed=2)
    layer = MGNNLayer(attention="additive")
    adjacency = tf.sparse.from_dense(mask.astype("float32"))
    np.testing.assert_allclose(
        layer({"nodes": tf.constant(nodes), "adjacency": adjacency}),
        layer(_edge_inputs(nodes, mask)),  # shuffled edges: another summation order
        rtol=1e-6,
        atol=1e-7,  # float32 sums in another order differ by ~1e-8 near 0
    )


def test_aggregation_by_hand():
    # Zero attention kernels give equal scores: alpha = 1/degree, a plain mean.
    layer = GraphAttentionAggregation(negative_slope=0.5, kernel_initializer="zeros")
    nodes = np.array([[1.0, -2.0], [3.0, -4.0], [5.0, 2.0]], "float32")
    inputs = {"nodes": nodes, "edge_dst": np.array([0, 0, 1]), "edge_src": np.array([1, 2, 2])}
    layer.build({"nodes": (3, 2)})
    layer.kernel.assign(np.eye(2, dtype="float32"))  # W = I
    out = np.asarray(layer(inputs))
    # Node 0: mean(h_1, h_2) = (4, -1) -> LeakyReLU -> (4, -0.5); node 1: h_2; node 2: none.
    np.testing.assert_allclose(out, [[4.0, -0.5], [5.0, 2.0], [0.0, 0.0]], rtol=1e-6)


def test_gated_update_by_hand():
    layer = MGNNLayer(kernel_initializer="zeros")
    nodes = np.array([[0.5, -1.0], [2.0, 0.0]], "float32")
    inputs = {"nodes": nodes, "edge_dst": np.array([0]), "edge_src": np.array([1])}
    layer.build({"nodes": (2, 2)})
    layer.aggregation.kernel.assign(np.eye(2, dtype="float32"))  # message of node 0: h_1
    # Gate logits 0 (sigmoid 1/2) and the candidate g = the message.
    gate_kernel = np.zeros((4, 8), "float32")
    gate_kernel[2:, 6:] = np.eye(2)
    layer.gate_kernel.assign(gate_kernel)
    messages = np.array([[2.0, 0.0], [0.0, 0.0]])
    expected = 0.5 * np.tanh(0.5 * nodes + 0.5 * np.tanh(messages))
    np.testing.assert_allclose(layer(inputs), expected, rtol=1e-6)


def _two_layers(layers, nodes, sub):
    h = tf.gather(nodes, sub["node_ids"])  # (num_sub_nodes, dim)
    for layer in layers:
        h = layer({"nodes": h, "edge_dst": sub["edge_dst"], "edge_src": sub["edge_src"]})
    return tf.gather(h, sub["seed_index"]).numpy()  # (batch, dim)


def test_full_graph_equals_sampling_with_fanout_at_least_the_degree():
    nodes, mask = _random_graph(25, 0.12, seed=3)
    graph = CSRGraph.from_sparse(tf.sparse.from_dense(mask.astype("float32")))
    max_degree = int(mask.sum(axis=1).max())
    seeds = tf.constant([3, 24, 0, 3, 11], tf.int64)  # a repeat, and the lonely node 24
    layers = [MGNNLayer(name="l1"), MGNNLayer(attention="additive", name="l2")]
    full = _two_layers(layers, nodes, full_graph(graph, seeds))
    for replace in (False, True):
        sampler = NeighborSampler(graph, (max_degree, max_degree), replace=replace)
        sampled = _two_layers(layers, nodes, sampler(seeds, seed=(0, 1)))
        np.testing.assert_allclose(sampled, full, rtol=1e-5, atol=1e-6)
    # The comparison can fail: a fan-out of 1 drops neighbours and changes the seeds' outputs.
    truncated = _two_layers(layers, nodes, NeighborSampler(graph, (1, 1))(seeds, seed=(0, 1)))
    assert not np.allclose(truncated, full, atol=1e-4)


def test_model_with_sparse_adjacency_saves_and_reloads(tmp_path):
    # The SparseTensor form cannot go through the contract helper (its inputs are arrays).
    nodes, mask = _random_graph(6, 0.5, seed=4)
    adjacency = tf.sparse.from_dense(mask.astype("float32"))
    inputs = {
        "nodes": keras.Input(shape=(DIM,), name="nodes"),
        "adjacency": keras.Input(shape=(6,), sparse=True, name="adjacency"),
    }
    model = keras.Model(inputs, MGNNLayer(attention="additive")(inputs))
    nodes = tf.constant(nodes)
    expected = model({"nodes": nodes, "adjacency": adjacency})
    path = str(tmp_path / "mgnn.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded({"nodes": nodes, "adjacency": adjacency}), expected)


def test_rejects_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="Expected attention 'dot' or 'additive'. Received"):
        MGNNLayer(attention="cosine")
    with pytest.raises(ValueError, match="Expected negative_slope >= 0"):
        GraphAttentionAggregation(negative_slope=-1.0)
    with pytest.raises(ValueError, match="'edge_dst' and 'edge_src' or 'adjacency'"):
        GraphAttentionAggregation()({"nodes": np.ones((2, 3), "float32")})
