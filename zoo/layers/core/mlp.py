import keras

from zoo.api import register
from zoo.layers.core.dropout import Dropout
from zoo.layers.core.initializers import distinct_initializers


@register
class MLP(keras.layers.Layer):
    """A stack of Dense layers, each followed by an activation and dropout.

    Args:
        units: list of int, the width of each hidden layer, bottom to top.
        activation: activation after every Dense layer. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout rate after every activation.
            Defaults to `0.0`.
        use_batch_norm: bool, apply BatchNormalization after every Dense
            layer (before the activation), as torch-rechub does by default.
            Defaults to `False`.
        kernel_initializer: initializer of every Dense kernel.
        kernel_regularizer: regularizer of every Dense kernel, or `None`.
        seed: int or `None`, seed of the dropout layers.
        **kwargs: base layer keyword arguments, e.g. `name`.

    Call arguments:
        inputs: float tensor of shape `(batch, ..., input_dim)`.
        training: bool, whether dropout and batch norm run in training mode.

    Returns:
        Tensor of shape `(batch, ..., units[-1])`; the input unchanged when
        `units` is empty.

    Example:
    ```python
    mlp = zoo.layers.MLP([64, 32])
    mlp(np.ones((2, 10))).shape  # (2, 32)
    ```
    """

    def __init__(
        self,
        units,
        activation="relu",
        dropout=0.0,
        use_batch_norm=False,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = [int(u) for u in units]
        if any(u < 1 for u in units):
            raise ValueError(f"Expected every entry of `units` >= 1. Received: units={units}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Expected 0 <= dropout < 1. Received: dropout={dropout}")
        self.units = units
        self.activation = keras.activations.get(activation)
        self.dropout = dropout
        self.use_batch_norm = use_batch_norm
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.seed = seed

        self.dense_layers = []
        self.norm_layers = []
        self.dropout_layers = []
        initializers = distinct_initializers(self.kernel_initializer, len(units))
        for i, width in enumerate(units):
            self.dense_layers.append(
                keras.layers.Dense(
                    width,
                    kernel_initializer=initializers[i],
                    kernel_regularizer=self.kernel_regularizer,
                    use_bias=not use_batch_norm,
                    name=f"dense_{i}",
                )
            )
            if use_batch_norm:
                self.norm_layers.append(keras.layers.BatchNormalization(name=f"batch_norm_{i}"))
            if dropout > 0:
                seed_i = None if seed is None else seed + i
                self.dropout_layers.append(Dropout(dropout, seed=seed_i, name=f"dropout_{i}"))

    def build(self, input_shape):
        shape = tuple(input_shape)
        for i, dense in enumerate(self.dense_layers):
            dense.build(shape)
            shape = shape[:-1] + (self.units[i],)
            if self.use_batch_norm:
                self.norm_layers[i].build(shape)

    def call(self, inputs, training=None):
        x = inputs
        for i, dense in enumerate(self.dense_layers):
            x = dense(x)
            if self.use_batch_norm:
                x = self.norm_layers[i](x, training=training)
            x = self.activation(x)
            if self.dropout > 0:
                x = self.dropout_layers[i](x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        if not self.units:
            return tuple(input_shape)
        return tuple(input_shape)[:-1] + (self.units[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "use_batch_norm": self.use_batch_norm,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "seed": self.seed,
            }
        )
        return config
