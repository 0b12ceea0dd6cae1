import keras
from keras import ops

from zoo.api import register
from zoo.layers.graph.graph_attention_aggregation import GraphAttentionAggregation


@register
class MGNNLayer(keras.layers.Layer):
    """One MGNN propagation step: h_v' = f(h_v, LeakyReLU(W sum_u alpha_{v<-u} h_u)).

    MoGENet equations (1) (bipartite channel) and (2) (similarity channels):
    a `GraphAttentionAggregation` message, then the "LSTM-like" update f.
    The paper names f only as LSTM-like, after GeniePath, and gives it two
    arguments; GeniePath's version also carries a separate memory cell across
    layers, which f(h, m) has no room for. So here the node state h plays
    both LSTM roles, previous hidden state and cell, and the message is the
    LSTM input:

        [i, f, o, g] = [h || m] K + b            (one fused kernel, as keras' LSTMCell)
        c  = sigmoid(f) * h + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(c)

    The forget gate decides how much of the node's own state survives, the
    input gate how much neighbourhood information enters: the adaptive-depth
    behaviour GeniePath's LSTM gate is for. The output keeps the input width.

    One layer is one channel's step at one depth: the bipartite channel runs
    over the joint user+item node set (`InteractionGraphs.bipartite`), so the
    same W serves u <- i and i <- u as in equation (1); the user and item
    similarity channels each have their own layers (W^U, W^I of equation (2)).

    Args:
        attention: `"dot"` or `"additive"`, see `GraphAttentionAggregation`.
        attention_dim: int >= 1 or `None` (the node feature width).
        negative_slope: float >= 0, the message's LeakyReLU slope.
        kernel_initializer: initializer of every kernel.
        kernel_regularizer: regularizer of every kernel, or `None`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: dict with `"nodes"`, float `(num_nodes, dim)`, and the edges
            as `"edge_dst"`/`"edge_src"` int `(num_edges,)` or as a
            `"adjacency"` `tf.sparse.SparseTensor` `(num_nodes, num_nodes)`
            with (dst, src) indices; optionally `"num_targets"`: update only
            the first `num_targets` nodes (see `GraphAttentionAggregation`).
            Extra keys (`"node_ids"`, `"seed_index"` from
            `zoo.graphs.NeighborSampler`) are ignored.

    Returns:
        Updated node states, float `(num_targets, dim)` (`(num_nodes, dim)`
        by default).

    Example:
    ```python
    layer = MGNNLayer()
    layer({
        "nodes": np.ones((3, 4), "float32"),
        "edge_dst": np.array([0, 0, 1]),
        "edge_src": np.array([1, 2, 2]),
    }).shape  # (3, 4)
    ```

    References:
        Hu, Shen, Wu et al. (Ant Group), "Mixture of Graph Enhanced Expert
        Networks for Multi-task Recommendation", equations (1) and (2); Liu et al.,
        "GeniePath", AAAI 2019, equation (4) (the LSTM-like depth function).
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
        self.aggregation = GraphAttentionAggregation(
            attention=attention,
            attention_dim=attention_dim,
            negative_slope=negative_slope,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            name="aggregation",
        )
        self.attention = self.aggregation.attention
        self.attention_dim = self.aggregation.attention_dim
        self.negative_slope = self.aggregation.negative_slope
        self.kernel_initializer = self.aggregation.kernel_initializer
        self.kernel_regularizer = self.aggregation.kernel_regularizer

    def build(self, input_shape):
        self.aggregation.build(input_shape)
        dim = int(input_shape["nodes"][-1])
        self.gate_kernel = self.add_weight(
            name="gate_kernel",
            shape=(2 * dim, 4 * dim),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.gate_bias = self.add_weight(name="gate_bias", shape=(4 * dim,), initializer="zeros")

    def call(self, inputs):
        nodes = inputs["nodes"]
        nodes = nodes[: inputs.get("num_targets", ops.shape(nodes)[0])]  # (num_targets, dim)
        messages = self.aggregation(inputs)  # (num_targets, dim)
        gates = (
            ops.matmul(ops.concatenate([nodes, messages], axis=-1), self.gate_kernel)
            + self.gate_bias
        )  # (num_nodes, 4 * dim)
        input_gate, forget_gate, output_gate, candidate = ops.split(gates, 4, axis=-1)
        cell = ops.sigmoid(forget_gate) * nodes + ops.sigmoid(input_gate) * ops.tanh(candidate)
        return ops.sigmoid(output_gate) * ops.tanh(cell)

    def compute_output_shape(self, input_shape):
        return self.aggregation.compute_output_shape(input_shape)

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
