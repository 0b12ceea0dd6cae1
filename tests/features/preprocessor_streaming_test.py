"""FeaturePreprocessor.adapt_batches: the same vocabularies and statistics as adapt, in chunks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.features import CategoricalFeature, FeaturePreprocessor, NumericFeature

SPEC = [
    CategoricalFeature("item", dtype="int64"),
    CategoricalFeature("city"),
    CategoricalFeature("shop", dtype="int64", max_tokens=6),
    NumericFeature("price"),
    NumericFeature("raw", normalize=False),
]


def _data(num_rows=1000, seed=0):
    rng = np.random.default_rng(seed)
    return {
        # Zipf counts: many ties among the rare values, which the order must break.
        "item": rng.zipf(1.6, num_rows).clip(0, 500).astype("int64"),
        "city": rng.choice(["paris", "lyon", "nice", "lille", "brest", "pau"], num_rows),
        "shop": np.concatenate([[-1, -1, -1], rng.integers(0, 20, num_rows - 3)]),
        "price": (rng.lognormal(3, 1, num_rows) * 1e4).astype("float32"),
        "raw": rng.random(num_rows).astype("float32"),
    }


def _chunks(data, sizes):
    out, start = [], 0
    for size in sizes:
        out.append({name: values[start : start + size] for name, values in data.items()})
        start += size
    return out


def test_chunks_give_the_vocabularies_and_statistics_of_the_whole():
    data = _data()
    whole = FeaturePreprocessor(SPEC).adapt(data)
    chunked = FeaturePreprocessor(SPEC).adapt_batches(_chunks(data, [1, 299, 0, 400, 300]))
    assert chunked.vocabularies == whole.vocabularies
    assert set(chunked.vocabularies) == {"item", "city", "shop"}
    np.testing.assert_allclose(chunked.statistics["price"], whole.statistics["price"], rtol=1e-12)
    values = data["price"].astype("float64")
    np.testing.assert_allclose(chunked.statistics["price"], [values.mean(), values.var()])
    assert "raw" not in chunked.statistics  # not normalized, nothing to learn
    batch = {name: tf.constant(values[:50]) for name, values in data.items()}
    for name, encoded in whole(batch).items():
        np.testing.assert_allclose(chunked(batch)[name], encoded, rtol=1e-6)


@pytest.mark.parametrize(
    "feature, lookup_kwargs",
    [
        ("item", dict(mask_token=None)),
        ("city", dict()),
        ("shop", dict(mask_token=None, max_tokens=6)),
    ],
)
def test_vocabulary_order_is_keras_lookup_order(feature, lookup_kwargs):
    # Descending count, ties by descending value; max_tokens counts the OOV
    # bucket; the IntegerLookup OOV token -1 is never a vocabulary entry.
    data = _data()
    lookup_class = keras.layers.StringLookup if feature == "city" else keras.layers.IntegerLookup
    lookup = lookup_class(num_oov_indices=1, **lookup_kwargs)
    lookup.adapt(data[feature])
    expected = [v.decode() if isinstance(v, bytes) else v for v in lookup.get_vocabulary()[1:]]
    learned = FeaturePreprocessor(SPEC).adapt_batches(_chunks(data, [128] * 8)).vocabularies
    assert learned[feature] == expected
    if feature == "shop":
        assert len(expected) == 5 and -1 not in expected


def test_bytes_from_tf_data_count_as_strings():
    spec = [CategoricalFeature("city")]
    as_bytes = [{"city": np.array([b"nice", b"paris"])}, {"city": np.array([b"paris"], object)}]
    learned = FeaturePreprocessor(spec).adapt_batches(as_bytes)
    assert learned.vocabularies == {"city": ["paris", "nice"]}


def test_errors_name_the_feature_and_the_row_across_chunks():
    data = _data(num_rows=20)
    data["price"][13] = np.nan
    with pytest.raises(ValueError, match="'price'.*row 13"):
        FeaturePreprocessor(SPEC).adapt_batches(_chunks(data, [10, 10]))
    with pytest.raises(KeyError, match="city"):
        FeaturePreprocessor(SPEC).adapt_batches([{"item": np.array([1])}])
    with pytest.raises(ValueError, match="'item'.*no values"):
        FeaturePreprocessor(SPEC).adapt_batches([])
    with pytest.raises(TypeError, match="'item'.*int64"):
        FeaturePreprocessor([SPEC[0]]).adapt_batches([{"item": np.array([1.5])}])
