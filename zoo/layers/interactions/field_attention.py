import keras
from keras import ops

from zoo.api import register


@register
class FieldSelfAttention(keras.layers.Layer):
    """Multi-head self-attention across the fields, with a residual and layer norm (AutoInt).

    Every field attends to every other; each head works on
    `field_dim / num_heads` dimensions, so adding heads adds no weights.
    The output is flattened, `num_fields * field_dim` wide.

    Args:
        num_heads: int >= 1, dividing the field width.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, num_fields, field_dim)`.

    Returns:
        Float tensor `(batch, num_fields * field_dim)`.

    Example:
    ```python
    layer = zoo.layers.FieldSelfAttention(num_heads=2)
    layer(np.ones((2, 5, 4))).shape  # (2, 20)
    ```

    References:
        Song et al., "AutoInt: Automatic Feature Interaction Learning via
        Self-Attentive Neural Networks", CIKM 2019; the attention is Keras'
        `MultiHeadAttention`.
    """

    def __init__(self, num_heads, **kwargs):
        super().__init__(**kwargs)
        if int(num_heads) < 1:
            raise ValueError(f"Expected num_heads >= 1. Received: num_heads={num_heads}")
        self.num_heads = int(num_heads)

    def build(self, input_shape):
        field_dim = int(input_shape[-1])
        if field_dim % self.num_heads:
            raise ValueError(
                f"Expected the field width to be a multiple of num_heads. Received: "
                f"field width {field_dim}, num_heads={self.num_heads}"
            )
        self.attention = keras.layers.MultiHeadAttention(
            self.num_heads, key_dim=field_dim // self.num_heads, name="attention"
        )
        self.attention.build(input_shape, input_shape)
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.norm.build(input_shape)

    def call(self, inputs, training=None):
        attended = self.attention(inputs, inputs, training=training)  # (batch, fields, dim)
        x = self.norm(inputs + attended)
        return ops.reshape(x, (-1, inputs.shape[-2] * inputs.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(input_shape[-2]) * int(input_shape[-1]))

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads})
        return config
