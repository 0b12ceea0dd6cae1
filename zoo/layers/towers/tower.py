import keras

from zoo.api import register
from zoo.layers.core.mlp import MLP


@register
class Tower(keras.layers.Layer):
    """A task tower: an MLP followed by a linear output layer giving logits.

    The tower stops at logits on purpose: heads that add a bias logit (the
    YouTube shallow tower, Biasnet) or split one task into two heads (DLEN)
    work on logits, and the model applies the task's activation last.

    Args:
        units: list of int, hidden widths of the tower (may be empty).
        output_units: int, the number of logits. Defaults to `1`.
        activation: activation of the hidden layers. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout after every hidden layer.
        kernel_initializer: initializer of every kernel.
        kernel_regularizer: regularizer of every kernel, or `None`.
        seed: int or `None`, seed of the dropout.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`.
        training: bool, whether dropout is active.

    Returns:
        Logits `(batch, output_units)`.

    Example:
    ```python
    tower = zoo.layers.Tower([16])
    tower(np.ones((3, 8))).shape  # (3, 1)
    ```
    """

    def __init__(
        self,
        units,
        output_units=1,
        activation="relu",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(output_units) < 1:
            raise ValueError(f"Expected output_units >= 1. Received: output_units={output_units}")
        self.units = [int(u) for u in units]
        self.output_units = int(output_units)
        self.activation = keras.activations.get(activation)
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.seed = seed
        self.hidden = MLP(
            self.units,
            activation=self.activation,
            dropout=dropout,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            seed=seed,
            name="hidden",
        )
        self.logits = keras.layers.Dense(
            self.output_units,
            kernel_initializer=self.kernel_initializer.__class__.from_config(
                self.kernel_initializer.get_config()
            ),
            kernel_regularizer=self.kernel_regularizer,
            name="logits",
        )

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.logits.build(self.hidden.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        return self.logits(self.hidden(inputs, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.output_units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "output_units": self.output_units,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "seed": self.seed,
            }
        )
        return config
