import keras
from keras import ops

from zoo.api import register


@register
class TargetAttention(keras.layers.Layer):
    """DIN's local activation unit: the candidate item weighs each item of the history.

    Zhou et al., "Deep Interest Network for Click-Through Rate Prediction"
    (KDD 2018), section 4.3: the weight of past item e_j for candidate v_A is
    a small MLP of [e_j, v_A, e_j - v_A, e_j * v_A] (the paper feeds the
    outer product; its released code, like DeepCTR's, the difference and the
    element-wise product, which we follow), and the user's interest is
    sum_j w_j e_j. As the paper says, the weights are not softmax-normalized,
    "to reserve the intensity of user interests": a history with many items
    relevant to the candidate sums to a larger vector. Padding gets weight 0.

    The paper's units use PReLU/Dice; we use PReLU (Dice is a batch-norm
    variant of it, section 5.2).

    Args:
        units: hidden widths of the activation unit's MLP.
        **kwargs: base layer keyword arguments.

    Call arguments:
        history: float tensor `(batch, length, dim)`, the past items' embeddings.
        candidate: float tensor `(batch, dim)`, the candidate item's embedding.
        mask: bool tensor `(batch, length)`, True at real history entries.
        return_weights: also return the weights.

    Returns:
        Float tensor `(batch, dim)`; with `return_weights`, also the weights
        `(batch, length)`, 0 at padding.

    Example:
    ```python
    attention = zoo.layers.TargetAttention(units=(36,))
    interest, weights = attention(
        np.ones((2, 5, 8)), np.ones((2, 8)), np.ones((2, 5), bool), return_weights=True
    )
    ```
    """

    def __init__(self, units=(36,), **kwargs):
        super().__init__(**kwargs)
        self.units = tuple(int(u) for u in units)
        if not self.units or min(self.units) < 1:
            raise ValueError(f"Expected units of widths >= 1. Received: units={units}")
        self.hidden = [
            keras.layers.Dense(width, name=f"hidden_{i}") for i, width in enumerate(self.units)
        ]
        # One slope per unit, shared over history positions (any length).
        self.activations = [
            keras.layers.PReLU(shared_axes=[1], name=f"prelu_{i}") for i in range(len(self.units))
        ]
        self.score = keras.layers.Dense(1, name="score")

    def build(self, history_shape, candidate_shape=None, mask_shape=None):
        width = 4 * history_shape[-1]
        for dense, activation in zip(self.hidden, self.activations):
            dense.build((None, None, width))
            activation.build((None, None, dense.units))
            width = dense.units
        self.score.build((None, None, width))

    def call(self, history, candidate, mask, return_weights=False):
        query = ops.broadcast_to(ops.expand_dims(candidate, 1), ops.shape(history))
        x = ops.concatenate([history, query, history - query, history * query], axis=-1)
        for dense, activation in zip(self.hidden, self.activations):
            x = activation(dense(x))  # (batch, length, units)
        weights = ops.squeeze(self.score(x), -1)  # (batch, length)
        weights = weights * ops.cast(mask, weights.dtype)
        interest = ops.sum(history * ops.expand_dims(weights, -1), axis=1)  # (batch, dim)
        return (interest, weights) if return_weights else interest

    def get_config(self):
        config = super().get_config()
        config.update({"units": list(self.units)})
        return config
