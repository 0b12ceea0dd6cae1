import keras
from keras import ops

from zoo.api import register


def _keras_hub():
    try:
        import keras_hub
    except ImportError as error:  # an optional dependency: only this pooling needs it
        raise ImportError(
            "pooling='transformer' uses keras-hub's TransformerEncoder; install it with "
            "`pip install 'zoo[sequence]'` (or `pip install keras-hub`)."
        ) from error
    return keras_hub


@register
class SequenceTransformer(keras.layers.Layer):
    """BST's history encoder: the candidate and the history through a transformer block.

    Chen et al., "Behavior Sequence Transformer for E-commerce Recommendation
    in Alibaba" (2019): the target item joins the user's behaviour sequence,
    each item gets a position embedding, and one transformer layer lets
    every item attend to the others. BST then concatenates all outputs;
    with histories of varying length we take the candidate's own output
    (the token in front, which attended to the whole history), an
    assumption of ours that keeps the width that of one item. Without a
    candidate, the mean of the history's outputs. The block is keras-hub's
    `TransformerEncoder`, the positions its `PositionEmbedding` (learned,
    as BST's are; BST encodes time gaps, which a padded id list lacks).

    Args:
        max_len: the history length (positions to embed).
        num_heads: attention heads.
        dropout: dropout rate inside the block.
        **kwargs: base layer keyword arguments.

    Call arguments:
        history: float tensor `(batch, max_len, dim)`.
        mask: bool tensor `(batch, max_len)`, True at real entries.
        candidate: float tensor `(batch, dim)` or `None`.

    Returns:
        Float tensor `(batch, dim)`.
    """

    def __init__(self, max_len, num_heads=2, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_len = int(max_len)
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        keras_hub = _keras_hub()
        # One slot more than the history: the candidate sits in front.
        self.positions = keras_hub.layers.PositionEmbedding(self.max_len + 1, name="positions")
        self.encoder = None  # its widths depend on the item width, known in build
        self._keras_hub = keras_hub

    def build(self, history_shape, mask_shape=None, candidate_shape=None):
        dim = int(history_shape[-1])
        if dim % self.num_heads:
            raise ValueError(
                f"The history's embedding width, {dim}, must divide among num_heads="
                f"{self.num_heads} attention heads."
            )
        self.encoder = self._keras_hub.layers.TransformerEncoder(
            intermediate_dim=4 * dim,
            num_heads=self.num_heads,
            dropout=self.dropout,
            name="encoder",
        )
        self.positions.build((None, self.max_len + 1, dim))
        self.encoder.build((None, self.max_len + 1, dim))

    def call(self, history, mask, candidate=None, training=None):
        if candidate is not None:
            history = ops.concatenate([ops.expand_dims(candidate, 1), history], axis=1)
            mask = ops.concatenate([ops.ones_like(mask[:, :1]), mask], axis=1)
        tokens = history + self.positions(history)  # (batch, tokens, dim)
        encoded = self.encoder(tokens, padding_mask=mask, training=training)
        if candidate is not None:
            return encoded[:, 0]  # (batch, dim)
        weights = ops.expand_dims(ops.cast(mask, encoded.dtype), -1)
        return ops.sum(encoded * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"max_len": self.max_len, "num_heads": self.num_heads, "dropout": self.dropout}
        )
        return config
