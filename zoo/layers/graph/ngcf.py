import keras
from keras import ops

from zoo.api import register
from zoo.graphs.graph_inputs import GRAPH_KEY
from zoo.graphs.neighbor_sampling import layer_edges
from zoo.layers.features.feature_embedding import embedding_lookup


@register
class NGCFPropagation(keras.layers.Layer):
    """One NGCF embedding-propagation layer over the user-item graph.

    e_u' = LeakyReLU(W1 e_u + sum_{i in N(u)} p_ui (W1 e_i + W2 (e_i * e_u))),
    p_ui = 1 / sqrt(|N(u)| |N(i)|) (Wang et al. 2019, equations (3), (4), (7)).

    On a sampled sub-graph a node sees s of its |N(u)| neighbours; the sum
    is then scaled by |N(u)| / s, the unbiased estimate of the full sum, so
    the layer computes exactly NGCF's propagation on the whole graph and an
    estimate of it on samples. Degrees come from the whole graph
    (`node_degrees` of `zoo.graphs.GraphInputs` sub-graphs). Everything is
    per edge and per node: cost linear in edges.

    Args:
        negative_slope: float, the LeakyReLU slope (NGCF's code: 0.2).
        kernel_initializer: initializer of W1 and W2.
        kernel_regularizer: regularizer of W1 and W2, or `None`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: dict with `"nodes"` float `(num_nodes, dim)`, `"edge_dst"`,
            `"edge_src"` int `(num_edges,)` and `"node_degrees"` float
            `(num_nodes,)`; optionally `"num_targets"`: update only the
            first `num_targets` nodes (every `dst` below it).

    Returns:
        Float `(num_targets, dim)` (`(num_nodes, dim)` by default).

    References:
        Wang et al., "Neural Graph Collaborative Filtering", SIGIR 2019.
    """

    def __init__(
        self,
        negative_slope=0.2,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        dim = int(input_shape["nodes"][-1])
        for name in ("w1", "w2"):
            setattr(
                self,
                name,
                self.add_weight(
                    name=name,
                    shape=(dim, dim),
                    initializer=self.kernel_initializer,
                    regularizer=self.kernel_regularizer,
                ),
            )
            setattr(self, f"b{name[1]}", self.add_weight(name=f"b{name[1]}", shape=(dim,)))

    def call(self, inputs):
        nodes = inputs["nodes"]  # (num_nodes, dim)
        dst = ops.cast(inputs["edge_dst"], "int32")
        src = ops.cast(inputs["edge_src"], "int32")
        degrees = ops.cast(inputs["node_degrees"], nodes.dtype)  # (num_nodes,) whole-graph
        num_targets = inputs.get("num_targets", ops.shape(nodes)[0])
        sampled = ops.segment_sum(
            ops.ones_like(dst, dtype=nodes.dtype), dst, num_segments=num_targets
        )  # (num_targets,) in-edges present
        dst_degree = ops.take(degrees, dst, axis=0)
        weights = (
            ops.sqrt(dst_degree)
            / ops.sqrt(ops.take(degrees, src, axis=0))
            / ops.take(sampled, dst, axis=0)
        )  # (E,) = p_ui * |N(u)| / s_u
        neighbours = ops.take(nodes, src, axis=0) * weights[:, None]  # (E, dim)
        own = ops.take(nodes, dst, axis=0)
        pooled = ops.segment_sum(neighbours, dst, num_segments=num_targets)
        pooled_products = ops.segment_sum(neighbours * own, dst, num_segments=num_targets)
        # W1 is linear, so sum_i p (W1 e_i) = W1 (sum_i p e_i): one matmul per node, not per edge.
        # NGCF's code adds its biases b1 (self and sum) and b2 (products) once per node.
        sum_part = ops.matmul(nodes[:num_targets] + pooled, self.w1) + self.b1
        product_part = ops.matmul(pooled_products, self.w2) + self.b2
        return ops.leaky_relu(sum_part + product_part, self.negative_slope)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape["nodes"])
        return shape if "num_targets" not in input_shape else (None, *shape[1:])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "negative_slope": self.negative_slope,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


@register
class NGCFEncoder(keras.layers.Layer):
    """NGCF's user and item representations: id embeddings, L propagations, concatenated.

    e_u* = [e_u^(0) || ... || e_u^(L)], each propagated layer L2-normalized
    as in the authors' code; the score of a pair is e_u* . e_i*.

    Like `MultiChannelMGNN`, it runs on the `"bipartite"` sub-graph of
    `inputs["graph"]` when given, and otherwise looks the representations up
    in node tables that `compute_node_tables` filled from the whole graph
    (serving).

    Args:
        num_users: int, user id vocabulary size (with OOV).
        num_items: int, the same for items.
        user_id_feature: name of the preprocessed user id feature.
        item_id_feature: name of the preprocessed item id feature.
        units: int, the embedding width (NGCF: 64).
        num_layers: int >= 1, propagation layers (the SIGIR paper's best: 3;
            MoGENet's comparison uses 2).
        kernel_regularizer: regularizer of the propagation kernels.
        embeddings_regularizer: regularizer of the whole id embedding table,
            or `None`. Every step it reads and moves every row of the table;
            `embedding_l2` is NGCF's own form.
        embedding_l2: float >= 0, NGCF's L2 on the embeddings of the batch:
            `embedding_l2 * sum(||e_u^(0)||^2 + ||e_i^(0)||^2) / 2 / batch`
            over the batch's (user, item) pairs, added while training. The
            authors' code regularizes the batch's user, positive and negative
            item embeddings this way (`decay * l2_loss / batch_size`), not
            the table.
        **kwargs: base layer keyword arguments.

    Returns:
        Dict with `"user"` and `"item"`, float `(batch, (num_layers + 1) * units)`.

    References:
        Wang et al., "Neural Graph Collaborative Filtering", SIGIR 2019.
    """

    # The sub-graphs it reads (a model attaches only these to its batches).
    channels = ("bipartite",)

    def __init__(
        self,
        num_users,
        num_items,
        user_id_feature="user_id",
        item_id_feature="item_id",
        units=64,
        num_layers=2,
        kernel_regularizer=None,
        embeddings_regularizer=None,
        embedding_l2=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not embedding_l2 >= 0:
            raise ValueError(f"Expected embedding_l2 >= 0. Received: embedding_l2={embedding_l2}")
        self.embedding_l2 = float(embedding_l2)
        self.num_users = int(num_users)
        self.num_items = int(num_items)
        self.user_id_feature = user_id_feature
        self.item_id_feature = item_id_feature
        self.units = int(units)
        self.num_layers = int(num_layers)
        if self.num_layers < 1:
            raise ValueError(f"Expected num_layers >= 1. Received: num_layers={num_layers}")
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        # One table for the joint node set: users 0..U-1, items U..U+I-1.
        self.node_embedding = keras.layers.Embedding(
            self.num_users + self.num_items,
            self.units,
            embeddings_initializer="glorot_uniform",
            embeddings_regularizer=self.embeddings_regularizer,
            name="node_embedding",
        )
        self.propagations = [
            NGCFPropagation(kernel_regularizer=self.kernel_regularizer, name=f"propagation_{d}")
            for d in range(self.num_layers)
        ]

    @property
    def output_dim(self):
        return (self.num_layers + 1) * self.units

    def build(self, input_shape=None):
        self.node_embedding.build((None,))
        shape = {"nodes": (None, self.units), "edge_dst": (None,), "edge_src": (None,)}
        for layer in self.propagations:
            layer.build(shape)
        self.node_table = self.add_weight(
            name="node_table",
            shape=(self.num_users + self.num_items, self.output_dim),
            initializer="zeros",
            trainable=False,
        )
        self.node_tables_ready = self.add_weight(
            name="node_tables_ready", shape=(), dtype="int32", initializer="zeros", trainable=False
        )

    @property
    def tables_ready(self):
        return self.built and bool(int(ops.convert_to_numpy(self.node_tables_ready.value)))

    def _propagate(self, subgraph, rows=None):
        """`(rows, output_dim)`: e* of the sub-graph's nodes `rows` (all by default)."""
        nodes = embedding_lookup(
            self.node_embedding, ops.cast(subgraph["node_ids"], "int32"), self.compute_dtype
        )
        layers = [nodes]
        # Trimmed only when asked for some rows: all rows need every layer everywhere.
        edges = layer_edges(subgraph, self.num_layers, trim=rows is not None)
        degrees = subgraph["node_degrees"]
        for layer, layer_inputs in zip(self.propagations, edges):
            nodes = layer({"nodes": nodes, **layer_inputs, "node_degrees": degrees})
            layers.append(_l2_normalize(nodes))
        if rows is not None:
            # Each layer's rows: a prefix that holds every seed (layer_extents).
            layers = [ops.take(values, rows, axis=0) for values in layers]
        return ops.concatenate(layers, axis=-1)

    def compute_node_tables(self, whole_graphs):
        """Fills the lookup table from the whole bipartite graph."""
        if not self.built:
            self.build()
        self.node_table.assign(self._propagate(whole_graphs["bipartite"]))
        self.node_tables_ready.assign(1)

    def call(self, inputs, training=None):
        graph = inputs.get(GRAPH_KEY)
        if graph is not None:
            sub = graph["bipartite"]
            seeds = self._propagate(sub, rows=sub["seed_index"])  # (2 * batch, dim)
            batch = ops.shape(seeds)[0] // 2
            if training and self.embedding_l2 > 0:
                ego = seeds[:, : self.units]  # e^(0) of the batch's users, then its items
                self.add_loss(
                    self.embedding_l2 * ops.sum(ego * ego) / 2 / ops.cast(batch, ego.dtype)
                )
            return {"user": seeds[:batch], "item": seeds[batch:]}
        users = ops.cast(ops.reshape(inputs[self.user_id_feature], (-1,)), "int32")
        items = ops.cast(ops.reshape(inputs[self.item_id_feature], (-1,)), "int32")
        return {
            "user": ops.take(self.node_table, users, axis=0),
            "item": ops.take(self.node_table, items + self.num_users, axis=0),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_users": self.num_users,
                "num_items": self.num_items,
                "user_id_feature": self.user_id_feature,
                "item_id_feature": self.item_id_feature,
                "units": self.units,
                "num_layers": self.num_layers,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
                "embedding_l2": self.embedding_l2,
            }
        )
        return config


def _l2_normalize(x):
    return x / ops.maximum(ops.sqrt(ops.sum(x * x, axis=-1, keepdims=True)), 1e-12)
