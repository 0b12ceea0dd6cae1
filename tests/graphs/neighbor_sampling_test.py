"""Fixed fan-out neighbour sampling: real neighbours, fan-outs, seeds, tf.data."""

import numpy as np
import pytest
import tensorflow as tf

from zoo.graphs import CSRGraph, NeighborSampler, full_graph, neighbor_sampling, sample_neighbors

NUM_NODES = 30
FANOUT = 3


def _random_adjacency(seed=0):
    """A directed graph with degrees 0..6, a hub (node 0, degree 12) and an isolated node."""
    rng = np.random.default_rng(seed)
    adjacency = np.zeros((NUM_NODES, NUM_NODES), bool)
    for node in range(NUM_NODES - 1):
        degree = 12 if node == 0 else rng.integers(0, 7)
        others = np.delete(np.arange(NUM_NODES), node)
        adjacency[node, rng.choice(others, degree, replace=False)] = True
    return adjacency  # row NUM_NODES - 1 stays empty


ADJACENCY = _random_adjacency()
DEGREES = ADJACENCY.sum(axis=1)
GRAPH = CSRGraph.from_sparse(tf.sparse.from_dense(ADJACENCY.astype("float32")))
SEEDS = np.array([0, 5, 0, NUM_NODES - 1, 7], dtype="int64")  # a repeat, the hub, a lonely node


def _global_edges(sub):
    ids = sub["node_ids"].numpy()
    return ids[sub["edge_dst"].numpy()], ids[sub["edge_src"].numpy()]


def test_csr_matches_the_adjacency():
    splits, neighbors = GRAPH.row_splits.numpy(), GRAPH.neighbors.numpy()
    for node in range(NUM_NODES):
        row = neighbors[splits[node] : splits[node + 1]]
        np.testing.assert_array_equal(row, np.flatnonzero(ADJACENCY[node]))
    np.testing.assert_array_equal(GRAPH.degrees().numpy(), DEGREES)
    with pytest.raises(ValueError, match=r"Expected a square adjacency \(n, n\)"):
        CSRGraph.from_sparse(tf.sparse.from_dense(np.ones((2, 3), "float32")))


@pytest.mark.parametrize("replace", [False, True])
def test_samples_real_neighbours_within_the_fanout(replace):
    sub = NeighborSampler(GRAPH, (FANOUT, FANOUT), replace=replace)(SEEDS, seed=(1, 2))
    node_ids, seed_index = sub["node_ids"].numpy(), sub["seed_index"].numpy()
    assert len(set(node_ids)) == len(node_ids)
    np.testing.assert_array_equal(node_ids[seed_index], SEEDS)
    dst, src = _global_edges(sub)
    assert ADJACENCY[dst, src].all()  # every sampled neighbour is a real one
    if not replace:
        assert len(set(zip(dst, src))) == len(dst)  # no neighbour drawn twice
    # Seeds and the nodes they reach are expanded once, with min(degree, fanout) edges.
    hop1 = set(src[np.isin(dst, SEEDS)]) | set(SEEDS)
    counts = np.bincount(sub["edge_dst"].numpy(), minlength=len(node_ids))
    for local, node in enumerate(node_ids):
        if node in hop1:
            assert counts[local] == min(DEGREES[node], FANOUT), node
        else:
            assert counts[local] == 0, node  # first reached at the last hop


@pytest.mark.parametrize("replace", [False, True])
def test_same_seed_same_sample(replace):
    sampler = NeighborSampler(GRAPH, (FANOUT, FANOUT), replace=replace)
    first, again = sampler(SEEDS, seed=(4, 2)), sampler(SEEDS, seed=(4, 2))
    for key in first:
        np.testing.assert_array_equal(first[key].numpy(), again[key].numpy())
    # The hub has 12 neighbours for 3 draws: other seeds give other samples.
    samples = {tuple(zip(*_global_edges(sampler(SEEDS, seed=(4, s))))) for s in range(5)}
    assert len(samples) > 1


@pytest.mark.parametrize("fanouts", [(12, 12), (None, None), (50, None)])
@pytest.mark.parametrize("replace", [False, True])
def test_fanout_at_least_the_degree_keeps_every_neighbour(fanouts, replace):
    sub = NeighborSampler(GRAPH, fanouts, replace=replace)(SEEDS, seed=(0, 9))
    dst, src = _global_edges(sub)
    hop1 = set(SEEDS) | set(np.flatnonzero(ADJACENCY[SEEDS].any(axis=0)))
    expected = {(v, u) for v in hop1 for u in np.flatnonzero(ADJACENCY[v])}
    assert sorted(zip(dst, src)) == sorted(expected)


def test_runs_inside_tf_data_map():
    sampler = NeighborSampler(GRAPH, (FANOUT, 2))
    seeds = np.arange(NUM_NODES, dtype="int64")
    dataset = (
        tf.data.Dataset.from_tensor_slices(seeds)
        .batch(8)
        .enumerate()
        .map(lambda step, batch: (batch, sampler(batch, seed=tf.stack([step, step + 5]))))
    )
    batches = 0
    for step, (batch, sub) in enumerate(dataset):
        eager = sampler(batch, seed=tf.constant([step, step + 5], tf.int64))
        for key in sub:
            np.testing.assert_array_equal(sub[key].numpy(), eager[key].numpy())
        dst, src = _global_edges(sub)
        assert ADJACENCY[dst, src].all()
        batches += 1
    assert batches == 4


def test_full_graph_has_the_same_form_with_every_edge():
    sub = full_graph(GRAPH, seeds=SEEDS)
    np.testing.assert_array_equal(sub["node_ids"].numpy(), np.arange(NUM_NODES))
    np.testing.assert_array_equal(sub["seed_index"].numpy(), SEEDS)
    dst, src = _global_edges(sub)
    expected_dst, expected_src = np.nonzero(ADJACENCY)
    np.testing.assert_array_equal(dst, expected_dst)
    np.testing.assert_array_equal(src, expected_src)
    assert sub["edge_dst"].dtype == sub["edge_src"].dtype == sub["seed_index"].dtype == tf.int32


def test_rejects_bad_fanouts():
    with pytest.raises(ValueError, match=r"Expected a non-empty sequence of fanouts >= 1"):
        NeighborSampler(GRAPH, (10, 0))
    with pytest.raises(ValueError, match=r"Received: fanouts=\(\)"):
        NeighborSampler(GRAPH, ())


@pytest.mark.parametrize("replace", [False, True])
def test_hops_are_prefixes_of_the_nodes_and_the_edges(replace):
    sub = NeighborSampler(GRAPH, (FANOUT, 2), replace=replace)(SEEDS, seed=(3, 1))
    hop_nodes, hop_edges = sub["hop_nodes"].numpy(), sub["hop_edges"].numpy()
    dst, src = sub["edge_dst"].numpy(), sub["edge_src"].numpy()
    assert hop_nodes[0] == len(set(SEEDS)) and hop_nodes[-1] == len(sub["node_ids"])
    assert hop_edges[-1] == len(dst)
    assert (np.diff(dst) >= 0).all()  # sorted by destination
    starts = np.concatenate([[0], hop_edges[:-1]])
    for hop, (first, last) in enumerate(zip(starts, hop_edges)):
        # Hop h's edges go into the nodes first reached at hop h, from nodes within h + 1 hops.
        low = 0 if hop == 0 else hop_nodes[hop - 1]
        assert ((dst[first:last] >= low) & (dst[first:last] < hop_nodes[hop])).all()
        assert (src[first:last] < hop_nodes[hop + 1]).all()


@pytest.mark.parametrize("method", ["floyd", "sort"])
def test_without_replacement_every_neighbour_is_equally_likely(method, monkeypatch):
    if method == "sort":  # the branch of fan-outs above FLOYD_MAX_FANOUT
        monkeypatch.setattr(neighbor_sampling, "FLOYD_MAX_FANOUT", 0)
    # The hub (node 0) has 12 neighbours and 3 are drawn: each should come out in a quarter
    # of the draws, and every draw 3 distinct ones. 2,000 draws (the hub asked 2,000 times
    # in one call, each row drawn on its own): the standard deviation of a frequency is
    # 0.0097, so 0.04 is a 4-sigma band.
    rows, neighbors = sample_neighbors(GRAPH, np.zeros(2000, "int64"), FANOUT, seed=(7, 1))
    rows, neighbors = rows.numpy(), neighbors.numpy()
    np.testing.assert_array_equal(np.bincount(rows), np.full(2000, FANOUT))
    draws = neighbors.reshape(2000, FANOUT)  # rows come grouped
    assert all(len(set(draw)) == FANOUT for draw in draws)
    assert ADJACENCY[0, neighbors].all()
    frequency = np.bincount(neighbors, minlength=NUM_NODES)[ADJACENCY[0]] / 2000
    np.testing.assert_allclose(frequency, FANOUT / DEGREES[0], atol=0.04)
    # Pairs as well as single neighbours: 66 pairs, each expected in 1/22 of the draws.
    pairs = np.zeros((NUM_NODES, NUM_NODES))
    for draw in draws:
        for a in draw:
            for b in draw:
                pairs[a, b] += a != b
    hub = np.flatnonzero(ADJACENCY[0])
    off_diagonal = pairs[np.ix_(hub, hub)][~np.eye(len(hub), dtype=bool)] / 2000
    np.testing.assert_allclose(off_diagonal, 1 / 22, atol=0.025)
