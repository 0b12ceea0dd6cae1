import keras
from keras import ops

from zoo.api import register


@register
class SoftmaxGate(keras.layers.Layer):
    """Softmax weights over experts: g(x) = softmax((x W + b) / temperature).

    Args:
        num_experts: int >= 1, the length of the weight vector.
        temperature: float > 0. Values below 1 sharpen the gate towards one
            expert, above 1 flatten it. Defaults to `1.0`.
        use_bias: bool, whether the gate's linear map has a bias. The MMoE
            paper's gate is `softmax(W x)`, so defaults to `False`.
        kernel_initializer: initializer of W.
        kernel_regularizer: regularizer of W, or `None`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, input_dim)`.

    Returns:
        Gate weights `(batch, num_experts)`, non-negative, summing to 1 per
        row. Switchers return them on request (`return_gate_weights=True`),
        which is how the weights are observed.

    Example:
    ```python
    gate = zoo.layers.SoftmaxGate(num_experts=4)
    gate(np.ones((2, 8))).shape  # (2, 4)
    ```

    References:
        Ma et al., KDD 2018, equation (5).
    """

    def __init__(
        self,
        num_experts,
        temperature=1.0,
        use_bias=False,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_experts) < 1:
            raise ValueError(f"Expected num_experts >= 1. Received: num_experts={num_experts}")
        if not temperature > 0:
            raise ValueError(f"Expected temperature > 0. Received: temperature={temperature}")
        self.num_experts = int(num_experts)
        self.temperature = float(temperature)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.dense = keras.layers.Dense(
            self.num_experts,
            use_bias=use_bias,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            name="logits",
        )

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs):
        logits = self.dense(inputs)  # (batch, num_experts)
        if self.temperature != 1.0:
            logits = logits / self.temperature
        return ops.softmax(logits, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.num_experts,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_experts": self.num_experts,
                "temperature": self.temperature,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
