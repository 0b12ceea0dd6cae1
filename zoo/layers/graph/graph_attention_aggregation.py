import math

import keras
from keras import ops

from zoo.api import register

ATTENTION_KINDS = ("dot", "additive")


@register
class GraphAttentionAggregation(keras.layers.Layer):
    """Attention-weighted neighbour aggregation: m_v = LeakyReLU(W sum_u alpha_{v<-u} h_u).

    The message half of an MGNN layer (MoGENet equations (1) and (2)). The
    attention weights alpha_{v<-u} are a softmax over the in-edges of v, so
    they sum to 1 per node with at least one neighbour; a node without
    neighbours gets a zero message. Everything is computed over the edge list
    (gather per edge, segment softmax, `segment_sum`): cost O(num_edges * dim),
    never O(num_nodes^2). Parallel edges each count, as sampling with
    replacement expects.

    The paper says only that alpha "is implemented by the attention mechanism"
    of Vaswani et al., and that it follows GeniePath for the computation, so
    both are offered:

    - `"dot"`: scaled dot product, score = (h_v W_q) . (h_u W_k) / sqrt(a)
      (Vaswani et al.'s form, hence the default);
    - `"additive"`: score = v^T tanh(h_v W_s + h_u W_d) (GeniePath's breadth
      function, itself GAT-like).

    W has no bias: the paper writes W in R^{d x d} and nothing else, and a
    bias would give isolated nodes a non-zero message.

    Args:
        attention: `"dot"` or `"additive"`, the score function.
        attention_dim: int >= 1 or `None`, the width a of the attention
            projections; `None` uses the node feature width.
        negative_slope: float >= 0, the LeakyReLU slope sigma. The paper gives
            none; GAT's 0.2 is the default.
        kernel_initializer: initializer of every kernel.
        kernel_regularizer: regularizer of every kernel, or `None`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: dict with `"nodes"`, float `(num_nodes, dim)`, and the edges
            either as `"edge_dst"` and `"edge_src"`, int `(num_edges,)` indices
            into `nodes` (`dst` aggregates from `src`), or as `"adjacency"`, a
            `tf.sparse.SparseTensor` `(num_nodes, num_nodes)` whose indices
            are (dst, src) (its values are ignored). `zoo.graphs.NeighborSampler`
            and `zoo.graphs.full_graph` produce the index form. Optionally
            `"num_targets"`, an int scalar: only the first `num_targets`
            nodes receive messages (every `dst` must be below it), the
            rest only send (see `zoo.graphs.layer_extents`).

    Returns:
        Messages, float `(num_targets, dim)` (`(num_nodes, dim)` by default).

    Example:
    ```python
    layer = GraphAttentionAggregation()
    layer({
        "nodes": np.ones((3, 4), "float32"),
        "edge_dst": np.array([0, 0, 1]),
        "edge_src": np.array([1, 2, 2]),
    }).shape  # (3, 4)
    ```

    References:
        Hu, Shen, Wu et al. (Ant Group), "Mixture of Graph Enhanced Expert
        Networks for Multi-task Recommendation", equations (1) and (2); Vaswani et al.,
        NeurIPS 2017; Liu et al., "GeniePath", AAAI 2019, equation (3).
    """

    def __init__(
        self,
        attention="dot",
        attention_dim=None,
        negative_slope=0.2,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if attention not in ATTENTION_KINDS:
            raise ValueError(
                f"Expected attention 'dot' or 'additive'. Received: attention={attention!r}"
            )
        if attention_dim is not None and int(attention_dim) < 1:
            raise ValueError(
                f"Expected attention_dim >= 1 or None. Received: attention_dim={attention_dim}"
            )
        if not negative_slope >= 0:
            raise ValueError(
                f"Expected negative_slope >= 0. Received: negative_slope={negative_slope}"
            )
        self.attention = attention
        self.attention_dim = None if attention_dim is None else int(attention_dim)
        self.negative_slope = float(negative_slope)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        dim = int(_nodes_shape(input_shape)[-1])
        width = self.attention_dim or dim

        def kernel(name, shape):
            return self.add_weight(
                name=name,
                shape=shape,
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
            )

        if self.attention == "dot":
            self.query_kernel = kernel("query_kernel", (dim, width))
            self.key_kernel = kernel("key_kernel", (dim, width))
        else:
            self.dst_kernel = kernel("dst_kernel", (dim, width))
            self.src_kernel = kernel("src_kernel", (dim, width))
            self.score_vector = kernel("score_vector", (width, 1))
        self.kernel = kernel("kernel", (dim, dim))

    def call(self, inputs):
        nodes = inputs["nodes"]  # (num_nodes, dim)
        edge_dst, edge_src = _edge_indices(inputs)  # (num_edges,) each
        num_targets = inputs.get("num_targets", ops.shape(nodes)[0])
        targets = nodes[:num_targets]  # (num_targets, dim)
        scores = self._scores(targets, nodes, edge_dst, edge_src)  # (num_edges,)
        weights = _segment_softmax(scores, edge_dst, num_targets)  # (num_edges,)
        neighbours = ops.take(nodes, edge_src, axis=0)  # (num_edges, dim)
        pooled = ops.segment_sum(
            neighbours * weights[:, None], edge_dst, num_segments=num_targets
        )  # (num_targets, dim)
        return ops.leaky_relu(ops.matmul(pooled, self.kernel), self.negative_slope)

    def _scores(self, targets, nodes, edge_dst, edge_src):
        # Project once per node, then gather per edge: O(nodes * dim * a + edges * a).
        if self.attention == "dot":
            queries = ops.take(ops.matmul(targets, self.query_kernel), edge_dst, axis=0)  # (E, a)
            keys = ops.take(ops.matmul(nodes, self.key_kernel), edge_src, axis=0)  # (E, a)
            scale = 1.0 / math.sqrt(self.query_kernel.shape[-1])
            return ops.sum(queries * keys, axis=-1) * scale
        hidden = ops.tanh(
            ops.take(ops.matmul(targets, self.dst_kernel), edge_dst, axis=0)
            + ops.take(ops.matmul(nodes, self.src_kernel), edge_src, axis=0)
        )  # (E, a)
        return ops.squeeze(ops.matmul(hidden, self.score_vector), axis=-1)

    def compute_output_shape(self, input_shape):
        shape = tuple(_nodes_shape(input_shape))
        return shape if "num_targets" not in input_shape else (None, *shape[1:])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "attention": self.attention,
                "attention_dim": self.attention_dim,
                "negative_slope": self.negative_slope,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


def _edge_indices(inputs):
    """(dst, src) int32 edge index vectors from a graph layer's input dict."""
    if not isinstance(inputs, dict) or "nodes" not in inputs:
        raise ValueError(_input_error(inputs))
    if "adjacency" in inputs:
        indices = inputs["adjacency"].indices  # (num_edges, 2): (dst, src)
        return ops.cast(indices[:, 0], "int32"), ops.cast(indices[:, 1], "int32")
    if "edge_dst" in inputs and "edge_src" in inputs:
        return ops.cast(inputs["edge_dst"], "int32"), ops.cast(inputs["edge_src"], "int32")
    raise ValueError(_input_error(inputs))


def _nodes_shape(input_shape):
    if not isinstance(input_shape, dict) or "nodes" not in input_shape:
        raise ValueError(_input_error(input_shape))
    return input_shape["nodes"]


def _input_error(received):
    keys = sorted(received) if isinstance(received, dict) else type(received).__name__
    return (
        "Expected a dict with 'nodes' and either 'edge_dst' and 'edge_src' or 'adjacency'. "
        f"Received: {keys}"
    )


def _segment_softmax(scores, segment_ids, num_segments):
    """Softmax of `scores` within each segment (here: the in-edges of one node)."""
    # The max only steadies exp(); softmax does not depend on it, so no gradient.
    maxima = ops.stop_gradient(ops.segment_max(scores, segment_ids, num_segments=num_segments))
    exps = ops.exp(scores - ops.take(maxima, segment_ids, axis=0))  # (num_edges,)
    totals = ops.segment_sum(exps, segment_ids, num_segments=num_segments)  # (num_nodes,)
    return exps / ops.take(totals, segment_ids, axis=0)
