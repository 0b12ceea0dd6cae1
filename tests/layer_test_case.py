"""The checks every zoo layer goes through (after keras-hub's `TestCase.run_layer_test`).

Build, eager and symbolic calls with the expected shapes, a `get_config` /
`from_config` round trip that reproduces the outputs, one `fit` step that
changes the weights, and a `.keras` save and reload with identical outputs.
"""

import keras
import numpy as np
from keras import tree


def _flat(outputs):
    return [np.asarray(o) for o in tree.flatten(outputs)]


def _input_spec(data):
    def make(x, name=None):
        x = np.asarray(x)
        return keras.Input(shape=x.shape[1:], dtype=str(x.dtype), name=name)

    if isinstance(data, dict):
        return {name: make(x, name) for name, x in data.items()}
    return tree.map_structure(make, data)


def run_layer_test(layer_cls, init_kwargs, input_data, expected_output_shape, tmp_path):
    """Runs the shared checks; `expected_output_shape` may be a nest of shapes."""
    layer = layer_cls(**init_kwargs)
    outputs = layer(input_data)
    actual_shapes = [tuple(o.shape) for o in tree.flatten(outputs)]
    expected = _shapes(expected_output_shape)
    assert actual_shapes == expected, f"eager shapes {actual_shapes} != {expected}"

    # Symbolic call: same shapes with an unknown batch dimension.
    symbolic_inputs = _input_spec(input_data)
    symbolic_outputs = layer_cls(**init_kwargs)(symbolic_inputs)
    symbolic_shapes = [tuple(o.shape)[1:] for o in tree.flatten(symbolic_outputs)]
    assert symbolic_shapes == [s[1:] for s in expected]

    # Config round trip: same config, same outputs with the same weights.
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    clone(input_data)
    clone.set_weights(layer.get_weights())
    assert clone.get_config() == config
    for a, b in zip(_flat(outputs), _flat(clone(input_data))):
        np.testing.assert_allclose(a, b, atol=1e-6)

    # A model around the layer: one fit step moves the weights; .keras round trip.
    model_inputs = _input_spec(input_data)
    model_outputs = tree.flatten(layer(model_inputs))
    model = keras.Model(model_inputs, model_outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=["mse"] * len(model_outputs))
    targets = [np.ones(s, "float32") for s in expected]
    before = [np.array(w) for w in model.trainable_weights]
    model.fit(input_data, targets, epochs=1, batch_size=len(targets[0]), verbose=0)
    after = [np.array(w) for w in model.trainable_weights]
    if before:
        assert any(not np.allclose(b, a) for b, a in zip(before, after)), "fit changed no weight"

    path = str(tmp_path / f"{layer_cls.__name__}.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    for a, b in zip(
        _flat(model.predict(input_data, verbose=0)), _flat(reloaded.predict(input_data, verbose=0))
    ):
        np.testing.assert_allclose(a, b, atol=1e-6)
    return layer


def _shapes(expected_output_shape):
    """A shape or a list of shapes, as a list of tuples."""
    if expected_output_shape and isinstance(expected_output_shape[0], (list, tuple)):
        return [tuple(s) for s in expected_output_shape]
    return [tuple(expected_output_shape)]
