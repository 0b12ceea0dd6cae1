import keras
import numpy as np
from keras import ops

from zoo.api import register
from zoo.graphs.graph_inputs import CHANNELS, GRAPH_KEY
from zoo.graphs.neighbor_sampling import layer_edges
from zoo.layers.features.feature_embedding import FeatureEmbedding
from zoo.layers.graph.mgnn_layer import MGNNLayer

# The four graph representations of a (user, item) pair, in the order of
# MoGENet's equation (3): h_u, h_u^U, h_i, h_i^I.
OUTPUTS = ("user_bipartite", "user_similarity", "item_bipartite", "item_similarity")


@register
class MultiChannelMGNN(keras.layers.Layer):
    """MoGENet's multi-channel graph network: three graphs, shared initial encodings.

    For a batch of (user, item) pairs it returns the four graph
    representations of MoGENet section 2.1: the user and the item after L
    MGNN layers over the user-item bipartite graph (h_u^L, h_i^L, equation
    (1)), the user after L layers over the user-user similarity graph
    (h_u^{U,L}) and the item after L layers over the item-item graph
    (h_i^{I,L}, equation (2)). Each channel has its own layers; all start
    from the same encodings p_u = LayerNorm(W_u [embeddings of x_u]) and
    q_i = LayerNorm(W_i [embeddings of x_i]) of the user's and item's
    features (unit scale, so that attention scores differ from the start).

    Two ways to run, one interface:

    - with `inputs["graph"]` (training, evaluation on sub-graphs): the
      sub-graphs of `zoo.graphs.GraphInputs` (sampled or whole), message
      passing on the fly;
    - without it (serving): the representations are looked up in node tables
      that `compute_node_tables` filled from the whole graph. This is what
      makes a SavedModel serve a (user, item) request from its ids alone: the
      graph work is done once, at export, and baked in. A user or item
      unknown at training time gets the out-of-vocabulary row: the MGNN
      output of a node with no edges.

    The node feature tables (each user's and item's preprocessed features)
    are non-trainable weights of this layer, set with `set_node_features`:
    the sub-graphs carry node ids only.

    Args:
        num_users: int, rows of the user id's embedding (vocabulary + OOV).
        num_items: int, the same for items.
        user_features: `FeatureEmbedding` feature list of the user's
            categorical features, the user id first.
        item_features: the same for items.
        units: int, the width d of encodings and graph representations.
        num_layers: int >= 1, MGNN layers per channel (the paper's L = 2).
        attention: `"dot"` or `"additive"` (see `GraphAttentionAggregation`).
        kernel_regularizer: regularizer of every kernel, or `None`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: dict of preprocessed features with the user and item id
            features (the first of `user_features` / `item_features`), and
            optionally `"graph"`: dict with the `"bipartite"`, `"user_user"`
            and `"item_item"` sub-graphs.
        training: bool.

    Returns:
        Dict with `"user_bipartite"`, `"user_similarity"`, `"item_bipartite"`,
        `"item_similarity"`, each float `(batch, units)`.

    References:
        Hu, Shen, Wu et al. (Ant Group), "Mixture of Graph Enhanced Expert
        Networks for Multi-task Recommendation", section 2.1.
    """

    def __init__(
        self,
        num_users,
        num_items,
        user_features,
        item_features,
        units=32,
        num_layers=2,
        attention="dot",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_layers) < 1:
            raise ValueError(f"Expected num_layers >= 1. Received: num_layers={num_layers}")
        if int(units) < 1:
            raise ValueError(f"Expected units >= 1. Received: units={units}")
        self.num_users = int(num_users)
        self.num_items = int(num_items)
        self.user_features = [dict(f) for f in user_features]
        self.item_features = [dict(f) for f in item_features]
        self.user_id_feature = self.user_features[0]["name"]
        self.item_id_feature = self.item_features[0]["name"]
        self.units = int(units)
        self.num_layers = int(num_layers)
        self.attention = attention
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.user_embedding = FeatureEmbedding(self.user_features, name="user_embedding")
        self.item_embedding = FeatureEmbedding(self.item_features, name="item_embedding")
        self.user_encoder = keras.layers.Dense(
            self.units, kernel_regularizer=self.kernel_regularizer, name="user_encoder"
        )
        self.item_encoder = keras.layers.Dense(
            self.units, kernel_regularizer=self.kernel_regularizer, name="item_encoder"
        )
        # Unit-scale encodings. Embeddings start near 0 (+-0.05), and dot-product
        # attention over such states scores every neighbour alike: its gradient is
        # quadratic in the states, so its kernels would barely move (measured: 1e-7).
        self.user_norm = keras.layers.LayerNormalization(name="user_norm")
        self.item_norm = keras.layers.LayerNormalization(name="item_norm")
        self.channel_layers = {
            channel: [
                MGNNLayer(
                    attention=attention,
                    kernel_regularizer=self.kernel_regularizer,
                    name=f"{channel}_{depth}",
                )
                for depth in range(self.num_layers)
            ]
            for channel in CHANNELS
        }

    def build(self, input_shape=None):
        self.user_feature_table = self.add_weight(
            name="user_feature_table",
            shape=(self.num_users, len(self.user_features)),
            dtype="int32",
            initializer="zeros",
            trainable=False,
        )
        self.item_feature_table = self.add_weight(
            name="item_feature_table",
            shape=(self.num_items, len(self.item_features)),
            dtype="int32",
            initializer="zeros",
            trainable=False,
        )
        self.node_tables = {
            name: self.add_weight(
                name=f"{name}_table",
                shape=(self.num_users if name.startswith("user") else self.num_items, self.units),
                initializer="zeros",
                trainable=False,
            )
            for name in OUTPUTS
        }
        # 1 once compute_node_tables has run: the lookup path is then valid.
        self.node_tables_ready = self.add_weight(
            name="node_tables_ready", shape=(), dtype="int32", initializer="zeros", trainable=False
        )
        self.user_embedding.build(None)
        self.item_embedding.build(None)
        self.user_encoder.build((None, self.user_embedding.output_dim))
        self.item_encoder.build((None, self.item_embedding.output_dim))
        self.user_norm.build((None, self.units))
        self.item_norm.build((None, self.units))
        nodes = {"nodes": (None, self.units), "edge_dst": (None,), "edge_src": (None,)}
        for layers in self.channel_layers.values():
            for layer in layers:
                layer.build(nodes)

    def set_node_features(self, user_feature_table, item_feature_table):
        """Sets every user's and item's preprocessed features (`GraphInputs` tables)."""
        if not self.built:
            self.build()
        for name, variable, table in (
            ("user_feature_table", self.user_feature_table, user_feature_table),
            ("item_feature_table", self.item_feature_table, item_feature_table),
        ):
            if tuple(table.shape) != tuple(variable.shape):
                raise ValueError(
                    f"Expected {name} of shape {tuple(variable.shape)} (nodes, features). "
                    f"Received: {tuple(table.shape)}"
                )
            variable.assign(ops.cast(table, "int32"))

    @property
    def tables_ready(self):
        """Whether `compute_node_tables` has filled the lookup tables."""
        return self.built and bool(int(ops.convert_to_numpy(self.node_tables_ready.value)))

    def encode(self, node_ids, kind):
        """Initial encodings p (users) or q (items) of global node ids, `(nodes, units)`."""
        if kind == "user":
            table, features = self.user_feature_table, self.user_features
            embedding, encoder, norm = self.user_embedding, self.user_encoder, self.user_norm
        else:
            table, features = self.item_feature_table, self.item_features
            embedding, encoder, norm = self.item_embedding, self.item_encoder, self.item_norm
        rows = ops.take(table, node_ids, axis=0)  # (nodes, features)
        columns = {f["name"]: rows[:, j] for j, f in enumerate(features)}
        return norm(encoder(embedding(columns)))

    def _encode_joint(self, node_ids):
        # The bipartite graph numbers users 0..U-1 and items U..U+I-1.
        # Each node through its own encoder only: encoding every node both ways and
        # picking one doubled the encoders' work (their LayerNorms were an eighth of
        # a MoGENet training step on Taobao).
        is_user = node_ids < self.num_users
        user_rows = ops.cast(ops.nonzero(is_user)[0], "int32")  # positions in node_ids
        item_rows = ops.cast(ops.nonzero(ops.logical_not(is_user))[0], "int32")
        users = self.encode(ops.take(node_ids, user_rows, axis=0), "user")
        items = self.encode(ops.take(node_ids, item_rows, axis=0) - self.num_users, "item")
        # Back in node order: row r of [users; items] belongs at position order[r], so
        # position p reads row inverse[p] (a scatter, not an argsort: TensorFlow sorts
        # with TopK).
        order = ops.concatenate([user_rows, item_rows], axis=0)
        count = ops.shape(order)[0]
        inverse = ops.scatter(order[:, None], ops.arange(count, dtype="int32"), (count,))
        return ops.take(ops.concatenate([users, items], axis=0), inverse, axis=0)

    def _propagate(self, channel, nodes, subgraph, training):
        """The channel's layers on `subgraph`; on a sampled one, each layer only where the seeds
        need it (`layer_extents`), so rows past the seeds' are not all returned."""
        layers = self.channel_layers[channel]
        for layer, edges in zip(layers, layer_edges(subgraph, len(layers))):
            nodes = layer({"nodes": nodes, **edges}, training=training)
        return nodes

    def propagate(self, graph, training=None):
        """Representations of every seed of the sub-graphs: dict of `OUTPUTS` to `(seeds, units)`.

        For the bipartite channel the seeds are the users then the items, so
        its output is split in two halves of `batch` rows.
        """
        bipartite = graph["bipartite"]
        node_ids = ops.cast(bipartite["node_ids"], "int32")
        nodes = self._propagate("bipartite", self._encode_joint(node_ids), bipartite, training)
        seeds = ops.take(nodes, bipartite["seed_index"], axis=0)  # (2 * batch, units)
        batch = ops.shape(seeds)[0] // 2
        out = {"user_bipartite": seeds[:batch], "item_bipartite": seeds[batch:]}
        for channel, kind, name in (
            ("user_user", "user", "user_similarity"),
            ("item_item", "item", "item_similarity"),
        ):
            sub = graph[channel]
            encoded = self.encode(ops.cast(sub["node_ids"], "int32"), kind)
            nodes = self._propagate(channel, encoded, sub, training)
            out[name] = ops.take(nodes, sub["seed_index"], axis=0)
        return out

    def compute_node_tables(self, whole_graphs, max_edges=1_000_000):
        """Fills the lookup tables from the whole graphs (`GraphInputs.whole_graphs()`).

        Each layer runs over blocks of destination nodes with at most
        `max_edges` in-edges in all (a node with more is a block of its own),
        so the per-edge tensors stay bounded whatever the graph's size: at 20M
        user-item edges one (edges, 32) float tensor of a single pass is 5 GB.
        """
        if not self.built:
            self.build()
        bipartite = self._propagate_in_blocks(
            "bipartite",
            self._encode_joint(ops.cast(whole_graphs["bipartite"]["node_ids"], "int32")),
            whole_graphs["bipartite"],
            max_edges,
        )
        tables = {
            "user_bipartite": bipartite[: self.num_users],
            "item_bipartite": bipartite[self.num_users :],
            "user_similarity": self._propagate_in_blocks(
                "user_user",
                self.encode(ops.arange(self.num_users, dtype="int32"), "user"),
                whole_graphs["user_user"],
                max_edges,
            ),
            "item_similarity": self._propagate_in_blocks(
                "item_item",
                self.encode(ops.arange(self.num_items, dtype="int32"), "item"),
                whole_graphs["item_item"],
                max_edges,
            ),
        }
        for name, values in tables.items():
            self.node_tables[name].assign(values)
        self.node_tables_ready.assign(1)

    def _propagate_in_blocks(self, channel, nodes, whole_graph, max_edges):
        """`_propagate` over a whole graph, a block of destination nodes at a time.

        The whole graph's edges are sorted by destination (CSR order), so a
        block's in-edges are one slice. A block runs on its own nodes followed
        by the distinct sources of its edges: exactly the inputs its outputs
        depend on.
        """
        edge_dst = np.asarray(whole_graph["edge_dst"], np.int64)
        edge_src = np.asarray(whole_graph["edge_src"], np.int64)
        num_nodes = int(ops.shape(nodes)[0])
        row_splits = np.searchsorted(edge_dst, np.arange(num_nodes + 1), side="left")
        bounds = [0]
        while bounds[-1] < num_nodes:
            start = bounds[-1]
            stop = int(np.searchsorted(row_splits, row_splits[start] + max_edges, side="right")) - 1
            bounds.append(min(max(stop, start + 1), num_nodes))
        for layer in self.channel_layers[channel]:
            parts = []
            for start, stop in zip(bounds[:-1], bounds[1:]):
                first, last = row_splits[start], row_splits[stop]
                sources, local = np.unique(edge_src[first:last], return_inverse=True)
                block = ops.concatenate(
                    [nodes[start:stop], ops.take(nodes, sources.astype("int32"), axis=0)], axis=0
                )
                outputs = layer(
                    {
                        "nodes": block,
                        "edge_dst": (edge_dst[first:last] - start).astype("int32"),
                        "edge_src": (local + (stop - start)).astype("int32"),
                    },
                    training=False,
                )
                parts.append(outputs[: stop - start])
            nodes = ops.concatenate(parts, axis=0)
        return nodes

    def call(self, inputs, training=None):
        graph = inputs.get(GRAPH_KEY) if isinstance(inputs, dict) else None
        if graph is not None:
            return self.propagate(graph, training=training)
        users = ops.cast(ops.reshape(inputs[self.user_id_feature], (-1,)), "int32")
        items = ops.cast(ops.reshape(inputs[self.item_id_feature], (-1,)), "int32")
        return {
            name: ops.take(self.node_tables[name], users if name.startswith("user") else items, 0)
            for name in OUTPUTS
        }

    @property
    def output_dim(self):
        """Width of the four representations concatenated (what `--with-mgnn` appends)."""
        return len(OUTPUTS) * self.units

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_users": self.num_users,
                "num_items": self.num_items,
                "user_features": self.user_features,
                "item_features": self.item_features,
                "units": self.units,
                "num_layers": self.num_layers,
                "attention": self.attention,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
