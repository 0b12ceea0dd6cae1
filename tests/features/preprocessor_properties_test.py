"""FeaturePreprocessor on random columns: outputs stay finite, unseen values have a place."""

import math
import warnings

import keras
import numpy as np
import tensorflow as tf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from zoo.features import CategoricalFeature, FeaturePreprocessor, NumericFeature
from zoo.features.preprocessor import (
    CONSTANT_RELATIVE_STD,
    FLOAT32_MAX,
    ConstantFeatureWarning,
)

# Each example builds Keras layers; a few dozen cover the shapes on two cores.
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def numeric_columns(draw):
    """Float32 columns of one length: constant, nearly constant or spread, at scales 1e-10..1e33."""
    num_rows = draw(st.integers(1, 12))
    columns = {}
    for i in range(draw(st.integers(1, 3))):
        scale = 10.0 ** draw(st.integers(-10, 33))
        center = draw(st.floats(-1e3, 1e3)) * scale
        shape = draw(st.sampled_from(["constant", "nearly constant", "spread"]))
        if shape == "constant":
            values = [center] * num_rows
        elif shape == "nearly constant":
            # A spread near the constant threshold, on either side of it.
            relative = draw(st.floats(1e-9, 1e-4))
            noise = draw(st.lists(st.floats(-1, 1), min_size=num_rows, max_size=num_rows))
            values = [center * (1 + relative * n) for n in noise]
        else:
            mantissas = draw(st.lists(st.floats(-1e3, 1e3), min_size=num_rows, max_size=num_rows))
            values = [m * scale for m in mantissas]
        columns[f"x{i}"] = np.asarray(values, "float32")
    return columns


def _is_constant(values):
    values = values.astype("float64")
    return values.std() <= CONSTANT_RELATIVE_STD * abs(values.mean())


@SETTINGS
@given(columns=numeric_columns(), unseen=st.lists(st.floats(-100, 100), min_size=1, max_size=5))
# The Ali-CCP sample's D110_14: 0.562 on every row.
@example(columns={"x0": np.full(5, 0.562, "float32")}, unseen=[1.01, 0.0, -100.0])
# Found by the CSV properties: a variance beyond float32 (here the widened
# 4e21 ** 2) failed inside Keras' Normalization.
@example(columns={"x0": np.full(2, 4.0365369e21, "float32")}, unseen=[1.0])
@example(columns={"x0": np.array([0, 3e38], "float32")}, unseen=[0.5])
# Small scale, but it varies: not constant (std 3e-4 against a mean of 5e-4).
@example(columns={"x0": np.array([2e-4, 8e-4], "float32")}, unseen=[1.0, 3.0])
def test_numeric_outputs_stay_finite_on_training_and_unseen_values(columns, unseen):
    pre = FeaturePreprocessor([NumericFeature(name) for name in columns])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pre.adapt(columns)
    caught = [w for w in caught if issubclass(w.category, ConstantFeatureWarning)]
    warned = {name for name in columns for w in caught if f"Feature {name!r}" in str(w.message)}
    assert warned == {name for name, values in columns.items() if _is_constant(values)}

    num_rows = len(next(iter(columns.values())))
    # A variance beyond float32 is clamped: those columns are only finite.
    clamped = {name for name, (_, variance) in pre.statistics.items() if variance == FLOAT32_MAX}
    out = pre({name: tf.constant(values) for name, values in columns.items()})
    for name, values in out.items():
        assert np.all(np.isfinite(values)), name
        if name in clamped:
            continue
        # Standardized values of n rows are within sqrt(n - 1) of 0 (Samuelson);
        # a widened or clamped variance only brings them closer. Keras subtracts
        # a float32 mean, off by up to 6e-8 of it: 0.06 of a standard deviation
        # at the constant threshold (1e-6), where float32 resolution runs out.
        assert np.max(np.abs(values)) <= math.sqrt(num_rows - 1) + 0.1, name

    # Unseen values: multiples of the column's largest magnitude, up to 100x.
    for name, values in columns.items():
        magnitude = float(np.max(np.abs(values.astype("float64")))) or 1.0
        mean, variance = pre.statistics[name]
        serving = np.asarray([u * magnitude for u in unseen], "float32")
        encoded = pre({**{n: tf.constant(v[:1]) for n, v in columns.items()}, name: serving})
        encoded = encoded[name].numpy()
        assert np.all(np.isfinite(encoded)), (name, serving, encoded)
        if name in warned and name not in clamped:
            # Constant: a serving value becomes its relative distance from the
            # constant (its plain value for a constant 0), never a huge number.
            # Keras divides by at least 1e-7, which the smallest constants reach.
            assert variance == (mean * mean if mean != 0 else 1.0)
            divisor = max(abs(mean), keras.backend.epsilon()) if mean != 0 else 1.0
            expected = (serving.astype("float64") - mean) / divisor
            np.testing.assert_allclose(encoded, expected, rtol=1e-3, atol=1e-3)


WORDS = st.sampled_from(["[UNK]", "", "a"]) | st.text(max_size=6)
ITEMS = st.sampled_from([-1, 0, 7]) | st.integers(-(2**63), 2**63 - 1)


@st.composite
def categorical_columns(draw):
    """A string and an int64 column of one length, and the spec that reads them."""
    num_rows = draw(st.integers(1, 15))
    # The lookups' OOV tokens ("[UNK]", -1) are drawn often: they are not values.
    strings = draw(st.lists(WORDS, min_size=num_rows, max_size=num_rows))
    integers = draw(st.lists(ITEMS, min_size=num_rows, max_size=num_rows))
    num_oov = draw(st.integers(1, 3))
    max_tokens = draw(st.none() | st.integers(num_oov + 1, num_oov + 5))
    spec = [
        CategoricalFeature("word", max_tokens=max_tokens, num_oov_indices=num_oov),
        CategoricalFeature("item", dtype="int64", max_tokens=max_tokens, num_oov_indices=num_oov),
        CategoricalFeature("tag", num_hash_bins=draw(st.integers(1, 9))),
    ]
    data = {
        "word": np.asarray(strings, dtype=object),
        "item": np.asarray(integers, "int64"),
        "tag": np.asarray(strings, dtype=object),
    }
    return spec, data


@SETTINGS
@given(
    columns=categorical_columns(),
    unseen_words=st.lists(WORDS, min_size=1, max_size=5),
    unseen_items=st.lists(ITEMS, min_size=1, max_size=5),
)
# Found by this test: a column of OOV tokens only left Keras an empty
# vocabulary, and adapt() failed inside TensorFlow ("keys and values cannot
# be empty tensors").
@example(
    columns=(
        [
            CategoricalFeature("word"),
            CategoricalFeature("item", dtype="int64", num_oov_indices=2),
            CategoricalFeature("tag", num_hash_bins=1),
        ],
        {
            "word": np.array(["[UNK]", "[UNK]"], dtype=object),
            "item": np.array([-1, -1]),
            "tag": np.array(["", ""], dtype=object),
        },
    ),
    unseen_words=["[UNK]", "b"],
    unseen_items=[-1, 0, 5],
)
def test_categorical_unseen_values_go_to_the_oov_buckets(columns, unseen_words, unseen_items):
    spec, data = columns
    with warnings.catch_warnings():
        # A column of OOV tokens only warns that it has nothing to learn.
        warnings.simplefilter("ignore", ConstantFeatureWarning)
        pre = FeaturePreprocessor(spec).adapt(data)
    dims = {f["name"]: f["input_dim"] for f in pre.embedding_features()}
    num_oov = {f.name: f.num_oov_indices for f in spec}
    for name, serving in [("word", unseen_words), ("item", unseen_items)]:
        batch = {
            "word": tf.constant(unseen_words[:1] * len(serving)),
            "item": tf.constant(unseen_items[:1] * len(serving), tf.int64),
            "tag": tf.constant(unseen_words[:1] * len(serving)),
        }
        batch[name] = tf.constant(serving, tf.string if name == "word" else tf.int64)
        ids = pre(batch)[name].numpy()
        assert np.all((ids >= 0) & (ids < dims[name])), (name, ids)
        vocabulary = set(pre.vocabularies[name])
        for value, index in zip(serving, ids):
            # Known values get their own index after the OOV buckets; anything
            # else, one of the OOV buckets.
            assert (index >= num_oov[name]) == (value in vocabulary), (name, value, index)
        assert len(vocabulary) + num_oov[name] == dims[name]
    hashed = pre({**{k: tf.constant(v) for k, v in data.items()}})["tag"].numpy()
    assert np.all((hashed >= 0) & (hashed < dims["tag"]))
