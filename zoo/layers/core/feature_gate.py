import keras
from keras import ops

from zoo.api import register
from zoo.layers.core.initializers import distinct_initializers


@register
class FeatureGate(keras.layers.Layer):
    """HoME's feature-gate: a private, re-weighted copy of the input for each of N experts.

    v_i = v * 2 sigmoid(v B_i A_i), with B_i `(dim, rank)` and A_i
    `(rank, dim)` a low-rank (LoRA) factorization of gate i's `dim x dim`
    map. The factor 2 centres each feature's weight on 1 (the range is
    (0, 2)), so a gate can switch a feature off or double it for one expert
    while the expert still sees the input at its own scale. All gates are
    held in two batched kernels and computed with one `einsum` each.

    `up_initializer="zeros"` (A = 0, LoRA's own initialization) starts every
    gate at exactly 1, so the experts first see the plain input and their
    views drift apart only as far as training asks.

    Args:
        num_gates: int >= 1, the number of gates N (one per expert).
        rank: int >= 1, the LoRA rank between the two kernels.
        down_initializer: initializer of every B_i `(dim, rank)`, each
            gate's drawn with its own seed. Defaults to `"glorot_uniform"`.
        up_initializer: initializer of every A_i `(rank, dim)`. Defaults to
            `"zeros"`.
        kernel_regularizer: regularizer of both kernels, or `None`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, dim)`, the one input every gate
            re-weights, or `(batch, num_gates, dim)`, one input per gate.

    Returns:
        Float tensor `(batch, num_gates, dim)`: row i is gate i's view.

    Example:
    ```python
    gate = zoo.layers.FeatureGate(num_gates=3, rank=4)
    gate(np.ones((2, 16))).shape  # (2, 3, 16)
    ```

    References:
        Wang et al., "HoME: Hierarchy of Multi-Gate Experts for Multi-Task
        Learning at Kuaishou", 2024 (arXiv 2408.05430), the feature-gate
        mechanism: Fea_Gate(v) = 2 x Sigmoid(v(BA)).
    """

    def __init__(
        self,
        num_gates,
        rank,
        down_initializer="glorot_uniform",
        up_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_gates) < 1:
            raise ValueError(f"Expected num_gates >= 1. Received: num_gates={num_gates}")
        if int(rank) < 1:
            raise ValueError(f"Expected rank >= 1. Received: rank={rank}")
        self.num_gates = int(num_gates)
        self.rank = int(rank)
        self.down_initializer = keras.initializers.get(down_initializer)
        self.up_initializer = keras.initializers.get(up_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        if len(input_shape) == 3 and input_shape[1] != self.num_gates:
            raise ValueError(
                f"Expected inputs (batch, dim) or (batch, {self.num_gates}, dim). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        dim = int(input_shape[-1])
        self.down_kernel = self._batched_weight(
            "down_kernel", self.down_initializer, (dim, self.rank)
        )
        self.up_kernel = self._batched_weight("up_kernel", self.up_initializer, (self.rank, dim))

    def _batched_weight(self, name, initializer, shape):
        # One seed per gate: a shared initializer would start every gate alike.
        slices = distinct_initializers(initializer, self.num_gates)

        def initial_value(_shape, dtype=None):
            return ops.stack([init(shape, dtype=dtype) for init in slices], axis=0)

        return self.add_weight(
            name=name,
            shape=(self.num_gates, *shape),
            initializer=initial_value,
            regularizer=self.kernel_regularizer,
        )

    def call(self, inputs):
        if len(inputs.shape) == 2:
            low = ops.einsum("bi,gir->bgr", inputs, self.down_kernel)  # (batch, gates, rank)
            inputs = ops.expand_dims(inputs, 1)  # (batch, 1, dim), one view per gate below
        else:
            low = ops.einsum("bgi,gir->bgr", inputs, self.down_kernel)  # (batch, gates, rank)
        scale = 2.0 * ops.sigmoid(ops.einsum("bgr,gri->bgi", low, self.up_kernel))
        return inputs * scale  # (batch, gates, dim)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_gates, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_gates": self.num_gates,
                "rank": self.rank,
                "down_initializer": keras.initializers.serialize(self.down_initializer),
                "up_initializer": keras.initializers.serialize(self.up_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
