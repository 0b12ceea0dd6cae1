"""GraphSAGE-style fixed fan-out neighbour sampling, in TensorFlow ops.

Everything here is graph-mode TensorFlow (CSR `row_splits`, `tf.ragged.range`,
stateless random numbers, `tf.unique`), so a sampler runs inside
`tf.data.Dataset.map` on a batch of seed ids:

```python
sampler = NeighborSampler(CSRGraph.from_sparse(graphs.user_user), fanouts=(10, 5))
dataset = dataset.batch(256).enumerate().map(
    lambda step, batch: (batch, sampler(batch["user_id"], seed=tf.stack([1234, step])))
)
```

Both `NeighborSampler` and `full_graph` return the same sub-graph dict, which
the layers of `zoo.layers.graph` consume:

- `"node_ids"`: int64 `(num_nodes,)`, the global ids of the sub-graph's nodes,
  unique; the distinct seeds first (in order of first appearance), then the
  nodes first reached at hop 1, then at hop 2, ...
- `"seed_index"`: int32 `(batch,)`, the local index of each seed, so
  `outputs[seed_index]` lines the layer outputs up with the batch.
- `"edge_dst"`, `"edge_src"`: int32 `(num_edges,)`, local indices: `dst`
  aggregates a message from `src` (adjacency entry [dst, src]). Edges are
  sorted by `dst`.

A sampled sub-graph (`NeighborSampler`) also says where each hop ends, so
that layers can skip what no seed reads (`layer_extents`):

- `"hop_nodes"`: int32 `(L + 1,)`, `hop_nodes[h]` the number of nodes
  reached within h hops (`hop_nodes[0]`: the distinct seeds);
- `"hop_edges"`: int32 `(L,)`, `hop_edges[h]` the number of edges into
  nodes reached within h hops (the first `hop_edges[h]` edges).

Every node is expanded once, when it is first reached, and nodes first reached
at the last hop are not expanded. With L sampled hops, L message-passing layers
run over all nodes and all edges give the seeds exactly the outputs they have on
the sampled L-hop computation graph (nodes further out get wrong values that no
seed reads). With fan-outs at least the maximum degree, that is the full-graph
output at the seeds.
"""

import dataclasses
from collections.abc import Sequence

import tensorflow as tf

# Floyd's algorithm compares each draw with the earlier ones, fanout**2 / 2
# comparisons per row (a 1000 fan-out built 500k ops and took minutes to
# trace); above this, sampling without replacement sorts instead.
FLOYD_MAX_FANOUT = 32


@dataclasses.dataclass(frozen=True)
class CSRGraph:
    """A square adjacency in compressed sparse row form, as TensorFlow tensors.

    Row v lists the nodes v aggregates from. Edge values (similarities) are
    dropped: the graph layers learn their own attention weights.

    Attributes:
        row_splits: int64 `(num_nodes + 1,)`; row v's neighbours are
            `neighbors[row_splits[v]:row_splits[v + 1]]`.
        neighbors: int64 `(num_edges,)`, neighbour ids sorted by row.
    """

    row_splits: tf.Tensor
    neighbors: tf.Tensor

    @classmethod
    def from_sparse(cls, adjacency: tf.sparse.SparseTensor) -> "CSRGraph":
        """Builds the CSR form of a square `tf.sparse.SparseTensor` `(n, n)`."""
        shape = [int(s) for s in adjacency.dense_shape]
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"Expected a square adjacency (n, n). Received: dense_shape={shape}")
        adjacency = tf.sparse.reorder(adjacency)
        rows = tf.RaggedTensor.from_value_rowids(
            adjacency.indices[:, 1], adjacency.indices[:, 0], nrows=shape[0]
        )  # (num_nodes, None)
        return cls(row_splits=rows.row_splits, neighbors=rows.flat_values)

    @property
    def num_nodes(self) -> int:
        return int(self.row_splits.shape[0]) - 1

    @property
    def num_edges(self) -> int:
        return int(self.neighbors.shape[0])

    def degrees(self) -> tf.Tensor:
        """int64 `(num_nodes,)`, the number of neighbours of every node."""
        return self.row_splits[1:] - self.row_splits[:-1]


def sample_neighbors(graph: CSRGraph, nodes, fanout, seed, replace=False):
    """Draws up to `fanout` neighbours of every node in `nodes`.

    A node with at most `fanout` neighbours keeps all of them, each once. A
    node with more gets exactly `fanout`: a uniform subset without
    replacement by default, or `fanout` uniform draws with replacement
    (`replace=True`, cost `len(nodes) * fanout` whatever the degrees; a
    neighbour drawn twice is two parallel edges, which is the Monte-Carlo
    estimate of the attention sum).

    Without replacement and a fan-out up to `FLOYD_MAX_FANOUT`, the subset
    is drawn by Floyd's algorithm, `fanout` vectorized steps over all rows:
    step j draws t uniform in [0, d - fanout + j] and keeps t, or
    d - fanout + j if t was drawn before. Every subset of size `fanout`
    comes out with the same probability (Bentley and Floyd, "Programming
    Pearls: A Sample of Brilliance", CACM 1987). Its cost is
    `len(nodes) * fanout**2`, whatever the degrees. For such fan-outs it
    replaced giving every neighbour a random key and sorting, two sorts of
    all the rows' neighbours: 18 of the 34 ms that sampling a MoGENet batch
    took on Taobao. Larger fan-outs keep the sort, whose cost is linear in
    the rows' summed degree.

    Args:
        graph: a `CSRGraph`.
        nodes: int tensor `(num_nodes,)` of global node ids.
        fanout: int >= 1, or `None` for every neighbour.
        seed: int tensor `(2,)`, the stateless random seed.
        replace: bool, see above.

    Returns:
        `(rows, neighbors)`: int32 `(num_sampled,)` positions in `nodes`, and
        int64 `(num_sampled,)` the sampled neighbours' global ids, grouped by
        row.
    """
    nodes = tf.cast(nodes, tf.int64)
    starts = tf.gather(graph.row_splits, nodes)  # (num_nodes,)
    limits = tf.gather(graph.row_splits, nodes + 1)
    if fanout is None:
        candidates = tf.ragged.range(starts, limits)  # (num_nodes, None) edge positions
        rows, positions = row_ids(candidates.row_splits), candidates.flat_values
    elif replace or fanout <= FLOYD_MAX_FANOUT:
        degrees = limits - starts
        slots = tf.ragged.range(tf.minimum(degrees, fanout))  # (num_nodes, None)
        rows, slot = row_ids(slots.row_splits), slots.flat_values
        # (num_nodes, fanout) offsets into each row; only rows above the fan-out read them.
        uniform = tf.random.stateless_uniform(
            tf.stack([tf.size(nodes), fanout]), seed, dtype=tf.float64
        )
        drawn = _with_replacement(uniform, degrees) if replace else _floyd(uniform, degrees)
        picked = tf.gather(tf.reshape(drawn, [-1]), rows * fanout + slot)  # (num_sampled,)
        row_degrees = tf.gather(degrees, rows)
        positions = tf.gather(starts, rows) + tf.where(row_degrees > fanout, picked, slot)
    else:
        # Every neighbour gets a random key and each row keeps its `fanout` smallest:
        # cost linear in the rows' summed degree, where Floyd's is quadratic in the fan-out.
        candidates = tf.ragged.range(starts, limits)
        rows, positions = row_ids(candidates.row_splits), candidates.flat_values  # non-decreasing
        keys = tf.random.stateless_uniform(tf.shape(positions), seed)
        by_key = tf.argsort(keys, stable=True)
        # A stable sort by row after a sort by key: rows stay grouped, random order within.
        order = tf.gather(by_key, tf.argsort(tf.gather(rows, by_key), stable=True))
        rank = tf.range(tf.size(rows, out_type=tf.int64), dtype=tf.int64) - tf.gather(
            candidates.row_splits, rows
        )  # position of each slot within its row
        keep = rank < fanout
        rows = tf.boolean_mask(rows, keep)
        positions = tf.boolean_mask(tf.gather(positions, order), keep)
    return tf.cast(rows, tf.int32), tf.gather(graph.neighbors, positions)


def _draw(uniform, bound):
    """int64 uniform in [0, bound) from float64 uniform in [0, 1); `bound` >= 1."""
    bound = tf.cast(bound, tf.int64)
    return tf.minimum(tf.cast(uniform * tf.cast(bound, tf.float64), tf.int64), bound - 1)


def _with_replacement(uniform, degrees):
    """int64 `(num_nodes, fanout)`: per row, `fanout` offsets drawn uniformly from [0, degree)."""
    return _draw(uniform, tf.maximum(degrees, 1)[:, None])


def _floyd(uniform, degrees):
    """int64 `(num_nodes, fanout)`: per row, a uniform `fanout`-subset of [0, degree).

    Meaningful for rows with degree >= fanout (see `sample_neighbors`).
    """
    fanout = uniform.shape[1]
    picks = []
    for step in range(fanout):
        top = tf.maximum(degrees - fanout + step, 0)  # draw from [0, top]
        drawn = _draw(uniform[:, step], top + 1)
        seen = tf.zeros_like(drawn, dtype=tf.bool)
        for earlier in picks:
            seen = tf.logical_or(seen, tf.equal(earlier, drawn))
        picks.append(tf.where(seen, top, drawn))
    return tf.stack(picks, axis=1)


def row_ids(row_splits):
    """int64 `(row_splits[-1],)`: the row of every value of a CSR (ragged) layout.

    `RaggedTensor.value_rowids()` (and `tf.repeat`) build a rows x
    max-row-length table first: on a power-law graph with 100k nodes and a
    hub of degree 9,472 that took 8.4 GB. A binary search of each position in
    the row ends costs O(values log rows) time and no more memory than the
    result.
    """
    row_splits = tf.cast(row_splits, tf.int64)
    positions = tf.range(row_splits[-1], dtype=tf.int64)
    return tf.searchsorted(row_splits[1:], positions, side="right", out_type=tf.int64)


class NeighborSampler:
    """Samples a fixed fan-out L-hop sub-graph around a batch of seed nodes.

    Args:
        graph: a `CSRGraph`.
        fanouts: sequence of L ints >= 1 (or `None`: every neighbour), the
            neighbours drawn per node at each hop, e.g. `(10, 5)`.
        replace: bool; how nodes with more neighbours than the fan-out are
            sampled (see `sample_neighbors`). Nodes with fewer always keep
            all their neighbours.

    Call arguments:
        seeds: int tensor `(batch,)` of global node ids (repeats allowed).
        seed: int tensor `(2,)`; the same seed gives the same sub-graph.

    Returns:
        The sub-graph dict described in the module docstring.

    Example:
    ```python
    graph = CSRGraph.from_sparse(graphs.user_user)
    sub = NeighborSampler(graph, fanouts=(10, 5))(tf.constant([3, 8]), seed=(0, 1))
    sub["node_ids"], sub["edge_dst"], sub["edge_src"], sub["seed_index"]
    ```

    References:
        Hamilton et al., "Inductive Representation Learning on Large Graphs"
        (GraphSAGE), NeurIPS 2017, algorithm 2.
    """

    def __init__(self, graph: CSRGraph, fanouts: Sequence[int | None], replace: bool = False):
        fanouts = tuple(fanouts)
        if not fanouts or any(f is not None and int(f) < 1 for f in fanouts):
            raise ValueError(
                "Expected a non-empty sequence of fanouts >= 1 or None. "
                f"Received: fanouts={fanouts}"
            )
        self.graph = graph
        self.fanouts = tuple(None if f is None else int(f) for f in fanouts)
        self.replace = bool(replace)

    def __call__(self, seeds, seed) -> dict[str, tf.Tensor]:
        seeds = tf.reshape(tf.cast(seeds, tf.int64), [-1])
        seed = tf.convert_to_tensor(seed)
        node_ids, seed_index = tf.unique(seeds, out_idx=tf.int32)  # (num_seeds,)
        frontier_start = tf.constant(0, tf.int32)
        edge_dst, edge_src = [], []
        hop_nodes = [tf.shape(node_ids, out_type=tf.int32)[0]]
        hop_edges = []
        for hop, fanout in enumerate(self.fanouts):
            frontier = node_ids[frontier_start:]  # the nodes first reached at the last hop
            rows, neighbors = sample_neighbors(
                self.graph,
                frontier,
                fanout,
                tf.random.experimental.stateless_fold_in(seed, hop),
                self.replace,
            )
            num_known = tf.shape(node_ids, out_type=tf.int32)[0]
            # tf.unique keeps first-occurrence order, so known nodes keep their indices.
            node_ids, local = tf.unique(tf.concat([node_ids, neighbors], 0), out_idx=tf.int32)
            edge_dst.append(rows + frontier_start)
            edge_src.append(local[num_known:])
            frontier_start = num_known
            hop_nodes.append(tf.shape(node_ids, out_type=tf.int32)[0])
            hop_edges.append(tf.shape(rows, out_type=tf.int32)[0])
        return {
            "node_ids": node_ids,
            "seed_index": seed_index,
            "edge_dst": tf.concat(edge_dst, 0),
            "edge_src": tf.concat(edge_src, 0),
            "hop_nodes": tf.stack(hop_nodes),
            "hop_edges": tf.cumsum(tf.stack(hop_edges)),
        }


def layer_extents(subgraph, num_layers):
    """What each of `num_layers` message-passing layers must compute on `subgraph`.

    Layer k (0 first) needs its outputs only at the nodes within
    `num_layers - 1 - k` hops of the seeds, and for them only the edges into
    them: a prefix of the nodes and of the edges (see the module docstring).
    Layer k's inputs are layer k - 1's outputs, so every layer reads exactly
    the rows the one before it wrote.

    Args:
        subgraph: a sub-graph dict.
        num_layers: int, the layers that will run on it.

    Returns:
        A list with one `(num_targets, num_edges)` pair of int32 scalars per
        layer, or `None` where every layer must run on every node and edge:
        a whole graph (no `"hop_nodes"`), or fewer sampled hops than layers.
    """
    if "hop_nodes" not in subgraph or subgraph["hop_edges"].shape[0] != num_layers:
        return None
    hop_nodes, hop_edges = subgraph["hop_nodes"], subgraph["hop_edges"]
    return [
        (hop_nodes[num_layers - 1 - k], hop_edges[num_layers - 1 - k]) for k in range(num_layers)
    ]


def full_graph(graph: CSRGraph, seeds=None) -> dict[str, tf.Tensor]:
    """The whole graph in the sub-graph dict form (local index == global id).

    Args:
        graph: a `CSRGraph`.
        seeds: optional int tensor `(batch,)`; `seed_index` is then `seeds`,
            otherwise every node.

    Returns:
        The sub-graph dict described in the module docstring.
    """
    num_nodes = tf.shape(graph.row_splits, out_type=tf.int64)[0] - 1
    node_ids = tf.range(num_nodes, dtype=tf.int64)
    if seeds is None:
        seed_index = tf.cast(node_ids, tf.int32)
    else:
        seed_index = tf.reshape(tf.cast(seeds, tf.int32), [-1])
    return {
        "node_ids": node_ids,
        "seed_index": seed_index,
        "edge_dst": tf.cast(row_ids(graph.row_splits), tf.int32),
        "edge_src": tf.cast(graph.neighbors, tf.int32),
    }


def layer_edges(subgraph, num_layers, trim=True):
    """The edge inputs of each of `num_layers` message-passing layers on `subgraph`.

    Args:
        subgraph: a sub-graph dict.
        num_layers: int, the layers that will run on it.
        trim: bool; `False` runs every layer on every node and edge.

    Returns:
        A list with one dict per layer: `"edge_dst"`, `"edge_src"` and, where
        `layer_extents` trims the layer, `"num_targets"` with only the
        edges into those targets.
    """
    edges = {"edge_dst": subgraph["edge_dst"], "edge_src": subgraph["edge_src"]}
    extents = layer_extents(subgraph, num_layers) if trim else None
    if extents is None:
        return [edges] * num_layers
    return [
        {
            "num_targets": num_targets,
            "edge_dst": edges["edge_dst"][:num_edges],
            "edge_src": edges["edge_src"][:num_edges],
        }
        for num_targets, num_edges in extents
    ]
