import keras
from keras import ops

from zoo.api import register


@register
class BitGate(keras.layers.Layer):
    """Bit-level gating: every unit of the input scaled by its own learned gate.

    y = x * sigmoid(W x + b), with W square, so each output unit is the
    input unit let through by a gate that sees the whole input. Shape in,
    same shape out.

    Args:
        kernel_initializer: initializer of W.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, width)`.

    Returns:
        Float tensor `(batch, width)`.

    Example:
    ```python
    gate = zoo.layers.BitGate()
    gate(np.ones((2, 8))).shape  # (2, 8)
    ```

    References:
        Huang et al., "GateNet: Gating-Enhanced Deep Network for Click-Through
        Rate Prediction", 2020 (the bit-wise hidden gate).
    """

    def __init__(self, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self.dense = keras.layers.Dense(
            int(input_shape[-1]), kernel_initializer=self.kernel_initializer, name="gate"
        )
        self.dense.build(input_shape)

    def call(self, inputs):
        return inputs * ops.sigmoid(self.dense(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["kernel_initializer"] = keras.initializers.serialize(self.kernel_initializer)
        return config
