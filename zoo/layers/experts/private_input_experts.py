from keras import ops

from zoo.api import register
from zoo.layers.experts.experts import Experts


@register
class PrivateInputExperts(Experts):
    """`Experts` that may read one input each: `(batch, num_experts, input_dim)`.

    The same batched weights as `Experts` (one kernel per layer, a distinct
    seed per expert, optional per-expert BatchNormalization); the first
    layer's `einsum` pairs input row i with expert i instead of giving every
    expert the same vector. That is what experts behind a per-expert
    `FeatureGate`, or experts of one level fed by different branches of the
    level below (HoME's task level), need while staying one batched weight.
    A `(batch, input_dim)` input is shared by every expert, as in `Experts`.

    Args:
        As `Experts`: num_experts, units, activation, dropout,
        use_batch_norm, kernel_initializer, kernel_regularizer, seed.

    Call arguments:
        inputs: float tensor `(batch, num_experts, input_dim)`, or
            `(batch, input_dim)` shared by every expert.
        training: bool, whether dropout and BatchNormalization train.

    Returns:
        Tensor `(batch, num_experts, units[-1])`.

    Example:
    ```python
    experts = zoo.layers.PrivateInputExperts(num_experts=3, units=[8])
    experts(np.ones((4, 3, 16))).shape  # (4, 3, 8)
    ```

    References:
        Wang et al., "HoME: Hierarchy of Multi-Gate Experts for Multi-Task
        Learning at Kuaishou", 2024 (arXiv 2408.05430): experts with
        privatized inputs (feature-gate).
    """

    def build(self, input_shape):
        if len(input_shape) == 3 and input_shape[1] != self.num_experts:
            raise ValueError(
                f"Expected inputs (batch, input_dim) or (batch, {self.num_experts}, input_dim). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        super().build(input_shape)  # only the last axis sizes the kernels

    def call(self, inputs, training=None):
        if len(inputs.shape) == 2:
            return super().call(inputs, training=training)
        x = inputs
        for layer_index, kernel in enumerate(self.kernels):
            x = ops.einsum("bei,eio->beo", x, kernel)  # (batch, experts, units[l])
            x = self._shift(x, layer_index, training)
            x = self.activation(x)
            if self.dropout_layer is not None:
                x = self.dropout_layer(x, training=training)
        return x
