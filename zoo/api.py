"""One place that registers zoo classes with Keras serialization.

Every public layer and model goes through `register`, so `.keras` files name
them as `zoo>ClassName` and `keras.saving.load_model` finds them again
without `custom_objects`.
"""

import keras

PACKAGE = "zoo"


def register(cls):
    """Class decorator: register `cls` as a Keras serializable under `zoo>`."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
