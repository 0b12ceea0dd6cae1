"""What a graph model needs besides the rows: the graphs, node features and sub-graphs per batch.

A graph model (MoGENet, NGCF, any zoo model with `--with-mgnn`) takes the
preprocessed features of a batch of (user, item) rows plus, under the key
`"graph"`, one sub-graph per channel around the batch's users and items.
`GraphInputs` builds everything that goes into that key:

- the three graphs of `InteractionGraphs`, from the training rows only, in
  the preprocessor's index space (graph node u is the row index of user u's
  embedding, so index 0, the out-of-vocabulary bucket, is a node too, with
  no edges);
- the node feature tables: each user's and item's preprocessed side
  features, which the model's graph encoder turns into the initial
  encodings p_u, q_i of every node a sub-graph reaches;
- `attach(dataset)`: a `tf.data` map that adds the sub-graphs to every
  batch, sampled with a fixed fan-out per hop (GraphSAGE) or, with
  `fanouts=None`, the whole graph. Both give the model the same structure,
  so a model trains either way unchanged.

Channels and their seeds (`CHANNELS`):
- `"bipartite"`: the joint user+item graph (`InteractionGraphs.bipartite`,
  users `0..U-1`, items `U..U+I-1`), seeded by the batch's users then its
  items (`seed_index[:batch]` are the users, `seed_index[batch:]` the items);
- `"user_user"`: the user similarity graph, seeded by the users;
- `"item_item"`: the item similarity graph, seeded by the items.

Every sub-graph dict carries `node_ids`, `seed_index`, `edge_dst`,
`edge_src` (see `zoo.graphs.neighbor_sampling`) and `node_degrees`, float32
`(num_nodes,)`, each node's degree in the whole graph (NGCF normalizes by it).
"""

import dataclasses

import numpy as np
import tensorflow as tf

from zoo.graphs.interaction_graphs import InteractionGraphs
from zoo.graphs.neighbor_sampling import CSRGraph, NeighborSampler, full_graph

CHANNELS = ("bipartite", "user_user", "item_item")
GRAPH_KEY = "graph"


@dataclasses.dataclass
class GraphInputs:
    """Graphs, node feature tables and the per-batch sub-graph pipeline of one dataset.

    Build it with `GraphInputs.from_dataset`.

    Attributes:
        graphs: the `InteractionGraphs` of the training rows, in the
            preprocessor's index space.
        user_id_feature: the feature holding the user id (e.g. `"user_id"`).
        item_id_feature: the feature holding the item id.
        user_features: names of the categorical features that describe a
            user (its id first); the columns of `user_feature_table`.
        item_features: the same for items.
        user_feature_table: int32 `(num_users, len(user_features))`, the
            preprocessed values of every user's features (row u: user u).
        item_feature_table: int32 `(num_items, len(item_features))`.
        fanouts: tuple with one entry per hop: an int (sample that many
            neighbours) or `None` (take every neighbour: `(None, None)` is
            the exact 2-hop neighbourhood of the batch); or `None` for the
            whole graph every batch.
        replace: sample with replacement (see `zoo.graphs.sample_neighbors`).
        seed: seeds the neighbour sampling.
    """

    graphs: InteractionGraphs
    user_id_feature: str
    item_id_feature: str
    user_features: tuple
    item_features: tuple
    user_feature_table: np.ndarray
    item_feature_table: np.ndarray
    fanouts: tuple | None = (10, 5)
    replace: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.fanouts is not None:
            self.fanouts = tuple(None if f is None else int(f) for f in self.fanouts)
            if not self.fanouts or any(f is not None and f < 1 for f in self.fanouts):
                raise ValueError(
                    "Expected fanouts: one int >= 1 (or None: every neighbour) per hop, or "
                    f"None for the whole graph. Received: fanouts={self.fanouts}"
                )
        self._csr = {
            "bipartite": CSRGraph.from_sparse(self.graphs.bipartite()),
            "user_user": CSRGraph.from_sparse(self.graphs.user_user),
            "item_item": CSRGraph.from_sparse(self.graphs.item_item),
        }
        self._degrees = {
            name: tf.cast(csr.degrees(), tf.float32) for name, csr in self._csr.items()
        }
        self._whole = {}  # built on first use: a sampling run may never need it
        if self.fanouts is not None:
            self._samplers = {
                name: NeighborSampler(csr, self.fanouts, replace=self.replace)
                for name, csr in self._csr.items()
            }

    @classmethod
    def from_dataset(
        cls,
        dataset,
        preprocessor,
        *,
        user_id_feature=None,
        item_id_feature="item_id",
        user_features=None,
        item_features=None,
        top_k=10,
        fanouts=(10, 5),
        replace=False,
        seed=0,
        max_users_per_item=None,
        max_items_per_user=None,
    ):
        """Builds the graphs and node tables from `dataset`'s training split.

        Args:
            dataset: a `zoo.data.TabularDataset` of (user, item) rows.
            preprocessor: the model's adapted `FeaturePreprocessor`.
            user_id_feature: the user id feature; defaults to
                `dataset.user_feature`.
            item_id_feature: the item id feature.
            user_features: the features that describe a user (categorical);
                defaults to `dataset.settings["user_features"]`, else the id
                alone.
            item_features: the same for items
                (`dataset.settings["item_features"]`).
            top_k: neighbours per node in the similarity graphs.
            fanouts: neighbours sampled per node at each hop, e.g. `(10, 5)`
                for two layers, `None` in a hop for every neighbour; `None`:
                the whole graph every batch (small graphs only).
            replace: sample with replacement.
            seed: seeds the sampling and the similarity caps.
            max_users_per_item, max_items_per_user: caps of the similarity
                products (see `InteractionGraphs.from_training_interactions`).

        Returns:
            A `GraphInputs`.

        Raises:
            ValueError: a named feature is missing, numeric, or describes
                one user (item) with two different values.
        """
        user_id_feature = user_id_feature or dataset.user_feature
        if user_id_feature is None:
            raise ValueError(
                f"Dataset {dataset.name!r} names no user feature; pass user_id_feature=."
            )
        settings = dataset.settings or {}
        user_features = tuple(user_features or settings.get("user_features") or [user_id_feature])
        item_features = tuple(item_features or settings.get("item_features") or [item_id_feature])
        specs = {f["name"]: f for f in preprocessor.embedding_features()}
        for role, id_name, names in (
            ("user", user_id_feature, user_features),
            ("item", item_id_feature, item_features),
        ):
            if names[0] != id_name:
                raise ValueError(
                    f"Expected {role}_features to start with the id feature {id_name!r}. "
                    f"Received: {list(names)}"
                )
            for name in names:
                if name not in specs:
                    raise ValueError(
                        f"{role} feature {name!r} is not a feature of the dataset "
                        f"{dataset.name!r}; its features are {sorted(specs)}"
                    )
                if specs[name]["kind"] != "categorical":
                    raise ValueError(
                        f"{role} feature {name!r} is numeric; graph node features must be "
                        "categorical"
                    )
        encoded = {
            name: np.asarray(value)
            for name, value in preprocessor(
                {n: dataset.train.features[n] for n in preprocessor.raw_dtypes()}
            ).items()
        }
        users, items = encoded[user_id_feature], encoded[item_id_feature]
        num_users = specs[user_id_feature]["input_dim"]
        num_items = specs[item_id_feature]["input_dim"]
        labels = np.stack(
            [
                np.where(dataset.train.label_present(t.name), dataset.train.labels[t.name], 0.0)
                for t in dataset.tasks
                if t.type == "binary"
            ],
            axis=1,
        )  # (rows, binary tasks); a missing label is not positive
        graphs = InteractionGraphs.from_training_interactions(
            users,
            items,
            labels,
            num_users,
            num_items,
            top_k=top_k,
            max_users_per_item=max_users_per_item,
            max_items_per_user=max_items_per_user,
            seed=seed,
        )
        return cls(
            graphs=graphs,
            user_id_feature=user_id_feature,
            item_id_feature=item_id_feature,
            user_features=user_features,
            item_features=item_features,
            user_feature_table=_node_table(encoded, users, num_users, user_features, "user"),
            item_feature_table=_node_table(encoded, items, num_items, item_features, "item"),
            fanouts=None if fanouts is None else tuple(fanouts),
            replace=replace,
            seed=seed,
        )

    @property
    def num_users(self):
        return self.graphs.num_users

    @property
    def num_items(self):
        return self.graphs.num_items

    @property
    def num_layers(self):
        """Hops the sub-graphs cover; `None` for the whole graph (any depth)."""
        return None if self.fanouts is None else len(self.fanouts)

    def summary(self):
        """One line about the graphs, worth printing before training."""
        if self.fanouts is None:
            mode = "whole graph every batch"
        else:
            mode = "fan-outs " + ", ".join("all" if f is None else str(f) for f in self.fanouts)
        return (
            f"Graphs from the training rows: {self.num_users:,} users, {self.num_items:,} items, "
            f"{self.graphs.num_user_item_edges:,} user-item edges, "
            f"{self.graphs.num_user_user_edges:,} user-user and "
            f"{self.graphs.num_item_item_edges:,} item-item edges (top {self.graphs.top_k}); "
            f"{mode}."
        )

    def subgraphs(self, users, items, step=0, channels=CHANNELS):
        """Dict from channel to the sub-graph around a batch's users and items.

        Args:
            users: int tensor `(batch,)`, preprocessed user ids.
            items: int tensor `(batch,)`, preprocessed item ids.
            step: int tensor, folded into the sampling seed (one sample per
                batch and step).
            channels: which channels to build.
        """
        users = tf.reshape(tf.cast(users, tf.int64), [-1])
        items = tf.reshape(tf.cast(items, tf.int64), [-1])
        seeds = {
            "bipartite": tf.concat([users, items + self.num_users], axis=0),
            "user_user": users,
            "item_item": items,
        }
        out = {}
        for index, name in enumerate(channels):
            if name not in CHANNELS:
                raise ValueError(f"Unknown graph channel {name!r}; the channels are {CHANNELS}")
            if self.fanouts is None:
                sub = dict(self._whole_graph(name))
                sub["seed_index"] = tf.cast(seeds[name], tf.int32)
            else:
                seed = tf.stack([tf.cast(self.seed, tf.int64), tf.cast(step, tf.int64)])
                sub = self._samplers[name](
                    seeds[name], tf.random.experimental.stateless_fold_in(seed, index)
                )
            sub["node_degrees"] = tf.gather(self._degrees[name], sub["node_ids"])
            out[name] = sub
        return out

    def _whole_graph(self, name):
        if name not in self._whole:
            # Eagerly, even when first asked inside a tf.data trace: the cached
            # tensors must outlive that trace's graph.
            with tf.init_scope():
                self._whole[name] = full_graph(self._csr[name])
        return self._whole[name]

    def whole_graphs(self, channels=CHANNELS):
        """Dict from channel to the whole graph with every node a seed (precomputing)."""
        out = {}
        for name in channels:
            sub = dict(self._whole_graph(name))
            sub["node_degrees"] = self._degrees[name]
            out[name] = sub
        return out

    def attach(self, dataset, channels=CHANNELS):
        """`dataset` with the sub-graphs of every batch under `features["graph"]`.

        Args:
            dataset: a `tf.data.Dataset` of `(features, labels, ...)` batches
                of preprocessed features (as `TabularDataset.tf_dataset`
                makes them).
            channels: the channels the model reads (`model.graph_channels`).

        The sampling seed of a batch is `(seed, position in the dataset)`:
        a repeated training dataset samples anew every epoch, a validation
        dataset iterated again gets the same sub-graphs.
        """

        def add_subgraphs(step, batch):
            features, *rest = batch
            features = dict(features)
            features[GRAPH_KEY] = self.subgraphs(
                features[self.user_id_feature], features[self.item_id_feature], step, channels
            )
            return (features, *rest)

        return dataset.enumerate().map(add_subgraphs, num_parallel_calls=tf.data.AUTOTUNE)


def _node_table(encoded, node_of_row, num_nodes, names, role):
    """int32 `(num_nodes, len(names))`: each node's preprocessed feature values.

    Row 0 (and any node without a training row) keeps index 0, the
    out-of-vocabulary bucket of every feature.
    """
    table = np.zeros((num_nodes, len(names)), np.int32)
    for column, name in enumerate(names):
        values = encoded[name].astype(np.int32)
        table[node_of_row, column] = values
        clash = table[node_of_row, column] != values
        if clash.any():
            row = int(np.flatnonzero(clash)[0])
            raise ValueError(
                f"{role} feature {name!r} is not a property of the {role}: training rows give "
                f"{role} index {int(node_of_row[row])} more than one value (e.g. row {row}). "
                f"Only features that are constant per {role} can be node features."
            )
    return table
