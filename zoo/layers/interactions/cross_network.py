import keras
import keras_rs
from keras import ops

from zoo.api import register


@register
class CrossNetwork(keras.layers.Layer):
    """A stack of DCN cross layers over the flattened field vectors.

    x_{l+1} = x_0 * (W_l x_l + b_l) + x_l, one `keras_rs.layers.FeatureCross`
    per layer (DCN-V2's matrix form; `projection_dim` makes W low-rank). The
    output has the input's width, so it can replace its input anywhere.

    Args:
        num_layers: int >= 1, the number of cross layers.
        projection_dim: int or `None`: the rank of each W (`None`: full).
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `(batch, width)`, or `(batch, num_fields,
            field_dim)`, which is flattened first.

    Returns:
        Float tensor `(batch, width)` (`num_fields * field_dim` for field input).

    Example:
    ```python
    layer = zoo.layers.CrossNetwork(num_layers=2)
    layer(np.ones((2, 5, 4))).shape  # (2, 20)
    ```

    References:
        Wang et al., "DCN V2: Improved Deep & Cross Network", WWW 2021;
        the layer is keras-rs's `FeatureCross`.
    """

    def __init__(self, num_layers, projection_dim=None, **kwargs):
        super().__init__(**kwargs)
        if int(num_layers) < 1:
            raise ValueError(f"Expected num_layers >= 1. Received: num_layers={num_layers}")
        self.num_layers = int(num_layers)
        self.projection_dim = None if projection_dim is None else int(projection_dim)
        self.cross_layers = [
            keras_rs.layers.FeatureCross(projection_dim=self.projection_dim, name=f"cross_{i}")
            for i in range(self.num_layers)
        ]

    def build(self, input_shape):
        width = _width(input_shape)
        for layer in self.cross_layers:
            layer.build((None, width))
            # FeatureCross.build only creates its Dense layers; their weights
            # appear on the first call. Build them now, so that a loaded model
            # has every weight before its saved values are restored.
            if layer.projection_dim is not None:
                layer.down_proj_dense.build((None, width))
                layer.dense.build((None, layer.projection_dim))
            else:
                layer.dense.build((None, width))

    def call(self, inputs):
        x0 = ops.reshape(inputs, (-1, _width(inputs.shape)))
        x = x0
        for layer in self.cross_layers:
            x = layer(x0, x)
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _width(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update({"num_layers": self.num_layers, "projection_dim": self.projection_dim})
        return config


def _width(shape):
    width = 1
    for size in shape[1:]:
        width *= int(size)
    return width
