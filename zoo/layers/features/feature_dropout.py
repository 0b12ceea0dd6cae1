import keras
from keras import ops

from zoo.api import register
from zoo.layers.core import random


@register
class FeatureDropout(keras.layers.Layer):
    """Replaces whole feature values by "missing" at random during training.

    The YouTube "Watch Next" ranker drops the position feature of 10% of
    training rows so that its shallow tower also learns what to predict
    when position is unknown, which is the case at serving time.

    "Missing" is the value the zoo's preprocessing gives an unknown value:
    id 0 (the out-of-vocabulary bucket) for a categorical feature and 0.0
    (the training mean, after normalization) for a numeric one. Each row of
    each feature is dropped independently.

    Args:
        rate: float in [0, 1), the probability that a value is dropped.
        seed: int or `None`, seed of the random draws.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: dict from feature name to a `(batch,)` tensor of ids or
            normalized floats (the output of `FeaturePreprocessor`).
        training: bool; outside training the inputs pass unchanged.

    Returns:
        A dict like `inputs`.

    Example:
    ```python
    dropout = zoo.layers.FeatureDropout(0.1)
    dropout({"position": np.array([1, 2, 3])}, training=True)
    ```
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Expected rate in [0, 1). Received: rate={rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return dict(inputs)
        outputs = {}
        for name, value in inputs.items():
            draw = random.uniform(ops.shape(value), self.seed_generator)
            outputs[name] = ops.where(draw < self.rate, ops.zeros_like(value), value)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
