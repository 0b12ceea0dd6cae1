import keras
from keras import ops

from zoo.api import register
from zoo.layers.core.initializers import distinct_initializers


@register
class GateNU(keras.layers.Layer):
    """Gate Neural Unit: a two-layer network whose output scales another tensor.

    x' = ReLU(x W + b), delta = gamma * sigmoid(x' W' + b'), delta in (0, gamma).
    The first layer crosses the prior information with the input, the second
    turns the result into one scale per unit of the tensor to be gated.
    With gamma = 2 (the paper's value) a gate of 1 is the middle of the
    range, so a gate can amplify a signal as well as suppress it, and a gate
    whose logits start near 0 starts near the identity.

    Args:
        units: int >= 1, the width of delta (the tensor to be gated).
        hidden_dim: int >= 1, the width of the first layer, or `None` for
            `units` (as EasyRec's and FuxiCTR's Gate NU default to: the paper
            does not give it).
        gamma: float > 0, the scale gamma of the sigmoid. Defaults to `2.0`.
        activation: activation of the first layer. Defaults to `"relu"`.
        kernel_initializer: initializer of both kernels.
        kernel_regularizer: regularizer of both kernels, or `None`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`: the prior information
            (and whatever else the gate is to see).

    Returns:
        Float tensor `(batch, units)` with values in `(0, gamma)`.

    Example:
    ```python
    gate = zoo.layers.GateNU(units=16)
    delta = gate(np.ones((4, 10)))  # (4, 16), each in (0, 2)
    ```

    References:
        Chang et al., "PEPNet: Parameter and Embedding Personalized Network
        for Infusing with Personalized Prior Information", KDD 2023, the
        Gate NU, equations (1) and (2).
    """

    def __init__(
        self,
        units,
        hidden_dim=None,
        gamma=2.0,
        activation="relu",
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"Expected units >= 1. Received: units={units}")
        if hidden_dim is not None and int(hidden_dim) < 1:
            raise ValueError(f"Expected hidden_dim >= 1 or None. Received: hidden_dim={hidden_dim}")
        if not float(gamma) > 0:
            raise ValueError(f"Expected gamma > 0. Received: gamma={gamma}")
        self.units = int(units)
        self.hidden_dim = None if hidden_dim is None else int(hidden_dim)
        self.gamma = float(gamma)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        # Two copies with their own seeds: one initializer instance draws the
        # same values for both kernels wherever their shapes agree.
        hidden_init, output_init = distinct_initializers(self.kernel_initializer, 2)
        self.hidden = keras.layers.Dense(
            self.units if self.hidden_dim is None else self.hidden_dim,
            kernel_initializer=hidden_init,
            kernel_regularizer=self.kernel_regularizer,
            name="hidden",
        )
        self.output_dense = keras.layers.Dense(
            self.units,
            kernel_initializer=output_init,
            kernel_regularizer=self.kernel_regularizer,
            name="output",
        )

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.output_dense.build(tuple(input_shape)[:-1] + (self.hidden.units,))

    def call(self, inputs):
        x = self.activation(self.hidden(inputs))  # (batch, hidden_dim)
        return self.gamma * ops.sigmoid(self.output_dense(x))  # (batch, units)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "hidden_dim": self.hidden_dim,
                "gamma": self.gamma,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
