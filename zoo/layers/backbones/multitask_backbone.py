import keras
from keras import ops

from zoo.api import register
from zoo.layers.features.feature_embedding import FeatureEmbedding


@register
class MultiTaskBackbone(keras.layers.Layer):
    """Preprocessed features -> feature embedding -> switcher -> one representation per task.

    The part of every zoo model below the task towers. The switcher decides
    what each task sees (a shared bottom, a mixture of experts, CGC, PLE,
    cross-stitch, SNR, a facet tree, searched experts, ...); the graph
    encoder, when there is one, appends the user's and the item's graph
    representations to the feature embedding (MoGENet's "+MGNN" inputs).
    A `zoo.models.MultiTaskModel` puts towers and heads on top of it and
    owns the preprocessor, losses and serving outputs; a backbone alone is
    a Keras layer, for models of your own.

    Args:
        features: the `FeatureEmbedding` feature list (dicts from
            `FeaturePreprocessor.embedding_features()`).
        switcher: a switcher layer (or its config) whose input is the
            embedding: one vector, or the fields apart for switchers that
            read them so (AutoMTL's, with a `FieldEmbedding`).
        embedding: the layer that embeds the features; a `FeatureEmbedding`
            of `features` by default.
        graph_encoder: a `zoo.layers.MultiChannelMGNN` (or its config), or
            `None`.
        **kwargs: base layer keyword arguments (`name`).

    Call arguments:
        inputs: dict of preprocessed features (and `"graph"`, the
            sub-graphs, with a graph encoder).
        training: bool.
        return_gate_weights: bool; also return the switcher's gate weights.

    Returns:
        The switcher's list of per-task `(batch, units)` representations,
        and with `return_gate_weights` a dict from gate name to weights.
    """

    def __init__(self, features, switcher, embedding=None, graph_encoder=None, **kwargs):
        super().__init__(**kwargs)
        self.features = [dict(f) for f in features]
        self.switcher = _layer(switcher)
        self.embedding = _layer(embedding) or FeatureEmbedding(self.features, name="embedding")
        self.graph_encoder = _layer(graph_encoder)

    def shared_representation(self, inputs, training=None):
        """The switcher's input: the feature embedding, then the graph representations if any."""
        x = self.embedding(inputs)  # (batch, embedding_dim)
        graph = self.graph_vector(inputs, training=training)
        return x if graph is None else ops.concatenate([x, graph], axis=-1)

    def graph_vector(self, inputs, training=None):
        """The graph encoder's representations of the pair, concatenated; `None` without one."""
        if self.graph_encoder is None:
            return None
        graph = self.graph_encoder(inputs, training=training)  # dict of (batch, units)
        return ops.concatenate([graph[name] for name in sorted(graph)], axis=-1)

    def call(self, inputs, training=None, return_gate_weights=False):
        x = self.shared_representation(inputs, training=training)
        return self.switcher(x, training=training, return_gate_weights=return_gate_weights)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "features": self.features,
                "switcher": keras.layers.serialize(self.switcher),
                "embedding": keras.layers.serialize(self.embedding),
                "graph_encoder": (
                    keras.layers.serialize(self.graph_encoder) if self.graph_encoder else None
                ),
            }
        )
        return config


def _layer(layer):
    """A layer from itself or its config; `None` stays `None`."""
    return keras.layers.deserialize(layer) if isinstance(layer, dict) else layer
