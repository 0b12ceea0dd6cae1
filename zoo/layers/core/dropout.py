import keras

from zoo.api import register
from zoo.layers.core import random


@register
class Dropout(keras.layers.Dropout):
    """Keras's `Dropout`, with its mask drawn by Philox so that XLA on CPU runs it fast.

    The same arguments, behaviour and config as `keras.layers.Dropout`; only
    the random algorithm differs. Keras draws the mask with TensorFlow's
    default "auto_select" algorithm, which XLA compiles for the CPU into
    about 270 ns per entry: after a 1024 x 8 x 32 expert layer that was
    69 ms per training step against 2.4 ms with Philox named explicitly
    (see `zoo.layers.core.random`), and MMoE with dropout 0.1 trained 8x
    slower than without. Every zoo layer that drops out uses this one.

    Args:
        rate: float in [0, 1), the fraction of the inputs to drop.
        noise_shape: optional shape of the mask, `None` entries taken from
            the inputs (as in Keras).
        seed: int or `None`, seed of the mask.
        **kwargs: base layer keyword arguments.

    Example:
    ```python
    dropout = zoo.layers.Dropout(0.1, seed=1)
    dropout(np.ones((4, 8)), training=True)  # about 10% zeros, the rest 1/0.9
    ```
    """

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            return random.dropout(
                inputs, self.rate, self.seed_generator, noise_shape=self.noise_shape
            )
        return inputs
