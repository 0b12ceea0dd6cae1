import keras
from keras import ops

from zoo.api import register

KINDS = ("product", "concat", "add", "mlp")


@register
class PairInteraction(keras.layers.Layer):
    """The interaction function kappa(h_u, h_i) of MoGENet's equation (3).

    - `"product"`: element-wise product h_u * h_i (the paper's default, EP);
    - `"concat"`: [h_u || h_i] (CON), twice as wide;
    - `"add"`: h_u + h_i (ADD);
    - `"mlp"`: LeakyReLU(W [h_u || h_i] + b) with W of the input width
      (MLP; the paper does not give its shape, so one layer keeping d).

    Args:
        kind: one of `KINDS`.
        kernel_regularizer: regularizer of the MLP's kernel.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: a pair `(h_u, h_i)` of float tensors `(batch, d)`.

    Returns:
        Float `(batch, d)` (`(batch, 2 d)` for `"concat"`).

    References:
        Hu, Shen, Wu et al. (Ant Group), "Mixture of Graph Enhanced Expert
        Networks for Multi-task Recommendation", equation (3) and Table 4.
    """

    def __init__(self, kind="product", kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"Expected kind in {KINDS}. Received: kind={kind!r}")
        self.kind = kind
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.dense = None

    def build(self, input_shape):
        dim = int(input_shape[0][-1])
        if self.kind == "mlp":
            # Created here: its width is the input's, known only now.
            self.dense = keras.layers.Dense(
                dim, kernel_regularizer=self.kernel_regularizer, name="mlp"
            )
            self.dense.build((None, 2 * dim))

    def call(self, inputs):
        user, item = inputs
        if self.kind == "product":
            return user * item
        if self.kind == "add":
            return user + item
        joint = ops.concatenate([user, item], axis=-1)
        if self.kind == "concat":
            return joint
        return ops.leaky_relu(self.dense(joint), 0.2)

    def compute_output_shape(self, input_shape):
        dim = input_shape[0][-1]
        return (input_shape[0][0], 2 * dim if self.kind == "concat" else dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kind": self.kind,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
