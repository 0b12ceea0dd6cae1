import keras
from keras import ops

from zoo.api import register


@register
class VectorConv1D(keras.layers.Layer):
    """A one-channel 1D convolution along a representation vector, same width out.

    Each output unit is a weighted sum of its `kernel_size` neighbours in
    the input vector (zero padding at the ends): a few weights where a Dense
    layer has width^2, which is why AutoMTL's searches keep picking it.

    Args:
        kernel_size: odd int >= 1.
        activation: activation of the output; `None` keeps it linear, as in
            AutoMTL's reference block.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, width)`.

    Returns:
        Float tensor `(batch, width)`.

    Example:
    ```python
    conv = zoo.layers.VectorConv1D(kernel_size=3)
    conv(np.ones((2, 8))).shape  # (2, 8)
    ```

    References:
        "AutoMTL: Automatic Multi-Task Learning Framework with Neural
        Architecture Search for Recommender Systems", Table 1 (1D convolution).
    """

    def __init__(self, kernel_size, activation=None, **kwargs):
        super().__init__(**kwargs)
        kernel_size = int(kernel_size)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"Expected an odd kernel_size >= 1 (the output keeps the input's width). "
                f"Received: kernel_size={kernel_size}"
            )
        self.kernel_size = kernel_size
        self.activation = keras.activations.get(activation)
        self.conv = keras.layers.Conv1D(1, kernel_size, padding="same", name="conv")

    def build(self, input_shape):
        self.conv.build((None, int(input_shape[-1]), 1))

    def call(self, inputs):
        x = self.conv(inputs[:, :, None])  # (batch, width, 1)
        return self.activation(ops.squeeze(x, axis=-1))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config
