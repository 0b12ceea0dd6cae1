import keras
from keras import ops

from zoo.api import register

POOLING_MODES = ("mean", "sum", "max")


@register
class MaskedPooling(keras.layers.Layer):
    """Pools a padded list of vectors over its real entries: mean, sum or max.

    A row without entries (an empty history, a movie without genres) pools
    to zeros, whatever the mode: there is nothing to average, and the max of
    nothing must not be -inf.

    Args:
        mode: `"mean"`, `"sum"` or `"max"`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        vectors: float tensor `(batch, length, dim)`.
        mask: bool tensor `(batch, length)`, True at real entries.

    Returns:
        Float tensor `(batch, dim)`.

    Example:
    ```python
    pool = zoo.layers.MaskedPooling("mean")
    pool(np.ones((2, 3, 4)), np.array([[True, True, False], [False] * 3]))  # rows of 1s, 0s
    ```
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLING_MODES:
            raise ValueError(f"Expected mode in {POOLING_MODES}. Received: mode={mode!r}")
        self.mode = mode

    def build(self, vectors_shape, mask_shape=None):
        pass  # no weights

    def call(self, vectors, mask):
        weights = ops.expand_dims(ops.cast(mask, vectors.dtype), -1)  # (batch, length, 1)
        if self.mode == "max":
            lowest = ops.convert_to_tensor(-1e9, vectors.dtype)
            pooled = ops.max(ops.where(weights > 0, vectors, lowest), axis=1)  # (batch, dim)
            return ops.where(ops.any(mask, axis=1, keepdims=True), pooled, ops.zeros_like(pooled))
        summed = ops.sum(vectors * weights, axis=1)  # (batch, dim)
        if self.mode == "sum":
            return summed
        return summed / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_output_shape(self, vectors_shape, mask_shape=None):
        return (vectors_shape[0], vectors_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config
