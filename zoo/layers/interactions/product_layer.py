import keras
import numpy as np
from keras import ops

from zoo.api import register


@register
class ProductLayer(keras.layers.Layer):
    """The product layer of PNN: field vectors and their pairwise products, mapped linearly.

    `kind="inner"` (IPNN) takes every pair's inner product <e_i, e_j>, i < j;
    `kind="outer"` (OPNN) takes the outer product of the summed field
    vectors, f f^T with f = sum_i e_i (the paper's sum pooling, which keeps
    the cost at one d x d matrix instead of one per pair). The flattened
    fields and the products are concatenated and mapped to `output_dim` by
    one Dense layer, PNN's l_z + l_p.

    Args:
        kind: `"inner"` or `"outer"`.
        output_dim: int >= 1, the output width.
        activation: activation after the linear map; `None` keeps it linear
            (as AutoMTL's reference blocks do; PNN itself uses ReLU).
        kernel_initializer: initializer of the linear map.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, num_fields, field_dim)`.

    Returns:
        Float tensor `(batch, output_dim)`.

    Example:
    ```python
    layer = zoo.layers.ProductLayer("inner", output_dim=16)
    layer(np.ones((2, 5, 4))).shape  # (2, 16)
    ```

    References:
        Qu et al., "Product-based Neural Networks for User Response
        Prediction", ICDM 2016, sections III-A (inner) and III-B (outer).
    """

    def __init__(
        self, kind, output_dim, activation=None, kernel_initializer="glorot_uniform", **kwargs
    ):
        super().__init__(**kwargs)
        if kind not in ("inner", "outer"):
            raise ValueError(f"Expected kind 'inner' or 'outer'. Received: kind={kind!r}")
        if int(output_dim) < 1:
            raise ValueError(f"Expected output_dim >= 1. Received: output_dim={output_dim}")
        self.kind = kind
        self.output_dim = int(output_dim)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense = keras.layers.Dense(
            self.output_dim, kernel_initializer=self.kernel_initializer, name="linear"
        )

    def build(self, input_shape):
        num_fields, field_dim = int(input_shape[-2]), int(input_shape[-1])
        if self.kind == "inner":
            rows, cols = np.triu_indices(num_fields, k=1)
            # Positions of the pairs i < j in the flattened (fields x fields) matrix.
            self._pair_index = (rows * num_fields + cols).astype("int32")
            num_products = len(rows)
        else:
            num_products = field_dim * field_dim
        self.dense.build((None, num_fields * field_dim + num_products))

    def call(self, inputs):
        num_fields, field_dim = inputs.shape[-2], inputs.shape[-1]
        flat = ops.reshape(inputs, (-1, num_fields * field_dim))
        if self.kind == "inner":
            gram = ops.einsum("bfd,bgd->bfg", inputs, inputs)  # (batch, fields, fields)
            products = ops.take(
                ops.reshape(gram, (-1, num_fields * num_fields)), self._pair_index, axis=1
            )  # (batch, fields * (fields - 1) / 2)
        else:
            pooled = ops.sum(inputs, axis=1)  # (batch, dim)
            outer = pooled[:, :, None] * pooled[:, None, :]  # (batch, dim, dim)
            products = ops.reshape(outer, (-1, field_dim * field_dim))
        return self.activation(self.dense(ops.concatenate([flat, products], axis=-1)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kind": self.kind,
                "output_dim": self.output_dim,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
