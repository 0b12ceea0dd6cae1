import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.features import CategoricalFeature, FeaturePreprocessor, NumericFeature
from zoo.features.preprocessor import ConstantFeatureWarning

TRAIN = {
    "city": np.array(["paris", "lyon", "paris", "nice"], dtype=object),
    "device": np.array([3, 1, 3, 7], "int64"),
    "query": np.array(["a", "b", "c", "d"], dtype=object),
    "age": np.array([10.0, 20.0, 30.0, 40.0], "float32"),
    "raw": np.array([1.0, 2.0, 3.0, 4.0], "float32"),
}
SPEC = [
    CategoricalFeature("city", embedding_dim=4),
    CategoricalFeature("device", dtype="int64", embedding_dim=2),
    CategoricalFeature("query", num_hash_bins=8),
    NumericFeature("age"),
    NumericFeature("raw", normalize=False),
]


def _adapted():
    return FeaturePreprocessor(SPEC).adapt(TRAIN)


def test_lookup_hash_and_normalization_values():
    pre = _adapted()
    out = pre(
        {
            "city": tf.constant(["paris", "never-seen"]),
            "device": tf.constant([7, 99], tf.int64),
            "query": tf.constant(["a", "a"]),
            "age": tf.constant([25.0, 45.0]),
            "raw": tf.constant([5.0, 6.0]),
        }
    )
    # Index 0 is the OOV bucket; known values get 1 and up.
    assert out["city"].numpy()[1] == 0 and out["city"].numpy()[0] >= 1
    assert out["device"].numpy()[1] == 0 and out["device"].numpy()[0] >= 1
    assert out["query"].numpy()[0] == out["query"].numpy()[1]
    assert 0 <= out["query"].numpy()[0] < 8
    # mean 25, variance 125 -> (45 - 25) / sqrt(125)
    np.testing.assert_allclose(out["age"], [0.0, 20 / np.sqrt(125.0)], rtol=1e-5)
    np.testing.assert_allclose(out["raw"], [5.0, 6.0])
    assert out["city"].dtype == tf.int32 and out["age"].dtype == tf.float32


def test_embedding_features_count_the_oov_bucket():
    features = {f["name"]: f for f in _adapted().embedding_features()}
    assert features["city"] == {
        "name": "city",
        "kind": "categorical",
        "input_dim": 4,
        "output_dim": 4,
    }
    assert features["device"]["input_dim"] == 4  # 3 values + OOV
    assert features["query"]["input_dim"] == 8
    assert features["age"] == {"name": "age", "kind": "numeric"}


def test_config_round_trip_keeps_vocabularies_and_statistics():
    pre = _adapted()
    clone = FeaturePreprocessor.from_config(pre.get_config())
    batch = {k: tf.constant(v) for k, v in TRAIN.items()}
    for name, value in pre(batch).items():
        np.testing.assert_array_equal(value, clone(batch)[name])
    restored = keras.layers.deserialize(keras.layers.serialize(pre))
    assert restored.get_config() == pre.get_config()


def test_adapt_uses_only_what_it_is_given():
    pre = FeaturePreprocessor([CategoricalFeature("city", vocabulary=["x", "y"])])
    assert pre.is_adapted  # a fixed vocabulary needs no adapt()
    assert pre({"city": tf.constant(["y", "paris"])})["city"].numpy().tolist() == [2, 0]


def test_wrong_dtype_is_named():
    pre = _adapted()
    batch = {k: tf.constant(v) for k, v in TRAIN.items()}
    batch["age"] = tf.constant(["old"] * 4)
    with pytest.raises(TypeError, match="'age'.*float32.*string"):
        pre(batch)
    batch = {k: tf.constant(v) for k, v in TRAIN.items()}
    batch["city"] = tf.constant([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(TypeError, match="'city'"):
        pre(batch)


def test_nan_is_rejected_with_the_feature_name():
    pre = _adapted()
    batch = {k: tf.constant(v) for k, v in TRAIN.items()}
    batch["age"] = tf.constant([1.0, np.nan, 2.0, 3.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="'age'"):
        pre(batch)
    with pytest.raises(ValueError, match="'age'.*row 1"):
        FeaturePreprocessor(SPEC).adapt({**TRAIN, "age": np.array([1.0, np.nan, 2.0, 3.0])})


def test_missing_inputs_and_missing_adapt_are_explained():
    with pytest.raises(ValueError, match="not adapted.*city"):
        FeaturePreprocessor(SPEC)({k: tf.constant(v) for k, v in TRAIN.items()})
    with pytest.raises(KeyError, match="device"):
        FeaturePreprocessor(SPEC).adapt({k: v for k, v in TRAIN.items() if k != "device"})
    pre = _adapted()
    with pytest.raises(KeyError, match="Missing raw features \\['raw'\\]"):
        pre({k: tf.constant(v) for k, v in TRAIN.items() if k != "raw"})


def test_spec_validation():
    with pytest.raises(ValueError, match="dtype"):
        CategoricalFeature("x", dtype="float32")
    with pytest.raises(ValueError, match="either vocabulary or num_hash_bins"):
        CategoricalFeature("x", vocabulary=["a"], num_hash_bins=3)
    with pytest.raises(ValueError, match="unique"):
        FeaturePreprocessor([NumericFeature("x"), NumericFeature("x")])


def test_feature_names_must_be_signature_names():
    # TF would rename "101" to "arg_101" in the SavedModel's signature.
    with pytest.raises(ValueError, match="must be an identifier.*'101'"):
        CategoricalFeature("101", dtype="int64")
    with pytest.raises(ValueError, match="must be an identifier.*'price usd'"):
        NumericFeature("price usd")


def test_a_constant_feature_warns_and_keeps_serving_values_near_zero(tmp_path):
    # The Ali-CCP sample's D110_14 is 0.562 on every row. Keras alone would
    # divide by its epsilon, 1e-7: 1% off, 0.00562 / 1e-7 = 56,200.
    spec = [NumericFeature("d110"), NumericFeature("zero"), NumericFeature("rate")]
    train = {
        "d110": np.full(4, 0.562, "float32"),
        "zero": np.zeros(4, "float32"),
        # Small-scale but varying: mean 5e-4, variance 9e-8 (std 3e-4), not constant.
        "rate": np.array([2e-4, 8e-4, 2e-4, 8e-4], "float64"),
    }
    pre = FeaturePreprocessor(spec)
    with pytest.warns(ConstantFeatureWarning) as caught:
        pre.adapt_batches(
            [{k: v[:2] for k, v in train.items()}, {k: v[2:] for k, v in train.items()}]
        )
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert "'d110' is constant" in messages[0] and "every value is 0.562 " in messages[0]
    assert "variance is set to 0.315844" in messages[0]  # 0.562 ** 2
    assert "'zero' is constant" in messages[1] and "variance is set to 1 " in messages[1]
    np.testing.assert_allclose(pre.statistics["d110"], [0.562, 0.562**2], rtol=1e-6)
    assert pre.statistics["zero"] == [0.0, 1.0]
    np.testing.assert_allclose(pre.statistics["rate"], [5e-4, 9e-8], rtol=1e-9)
    serving = {
        "d110": tf.constant([0.562, 0.562 * 1.01, 0.0]),
        "zero": tf.constant([0.0, 0.5, -3.0]),
        "rate": tf.constant([5e-4, 8e-4, 2e-4]),
    }
    expected = {
        "d110": [0.0, 0.01, -1.0],  # (x - 0.562) / 0.562
        "zero": [0.0, 0.5, -3.0],
        "rate": [0.0, 1.0, -1.0],  # (x - 5e-4) / 3e-4
    }
    out = pre(serving)
    for name, values in expected.items():
        np.testing.assert_allclose(out[name], values, rtol=1e-4, atol=1e-6)

    # The config carries the widened variance: a reloaded copy and a
    # SavedModel normalize alike, and reloading does not warn again.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConstantFeatureWarning)
        clone = FeaturePreprocessor.from_config(pre.get_config())
    np.testing.assert_allclose(clone(serving)["d110"], expected["d110"], rtol=1e-4, atol=1e-6)
    module = tf.Module()
    module.pre = clone
    module.serve = tf.function(
        lambda x: clone({**serving, "d110": x})["d110"],
        input_signature=[tf.TensorSpec([None], tf.float32)],
    )
    tf.saved_model.save(module, str(tmp_path / "pre"))
    loaded = tf.saved_model.load(str(tmp_path / "pre"))
    np.testing.assert_allclose(
        loaded.serve(serving["d110"]), expected["d110"], rtol=1e-4, atol=1e-6
    )


def test_statistics_saved_before_the_widening_still_load_as_they_were():
    # A config written by an older zoo: the constant's variance is 0.
    config = FeaturePreprocessor([NumericFeature("d110")], statistics={"d110": [0.5, 1.0]})
    config = config.get_config()
    config["statistics"] = {"d110": [0.5, 0.0]}
    with pytest.warns(ConstantFeatureWarning, match="'d110'.*mean 0.5, variance 0.*adapt"):
        old = FeaturePreprocessor.from_config(config)
    assert old.statistics == {"d110": [0.5, 0.0]}
    # Kept as saved, so it predicts what its SavedModel does: 0.01 / 1e-7.
    np.testing.assert_allclose(old({"d110": tf.constant([0.5, 0.51])})["d110"], [0, 1e5], rtol=1e-3)


def test_columns_of_different_lengths_are_refused():
    short_age = {**TRAIN, "age": TRAIN["age"][:3]}
    with pytest.raises(ValueError, match=r"Received in batch 0: 'age': 3, 'city': 4, 'device': 4"):
        FeaturePreprocessor(SPEC).adapt(short_age)
    # Also a column adapt() has nothing to learn from ("raw" is not normalized).
    with pytest.raises(ValueError, match=r"batch 1: .*'query': 4, 'raw': 5"):
        FeaturePreprocessor(SPEC).adapt_batches([TRAIN, {**TRAIN, "raw": np.ones(5, "float32")}])


def test_a_column_of_oov_tokens_learns_an_empty_vocabulary():
    # -1 and "[UNK]" are the lookups' OOV tokens, never vocabulary entries;
    # Keras cannot build an empty table, and adapt() failed inside TensorFlow.
    spec = [
        CategoricalFeature("shop", dtype="int64", num_oov_indices=2),
        CategoricalFeature("city"),
    ]
    train = {"shop": np.array([-1, -1]), "city": np.array(["[UNK]"] * 2, dtype=object)}
    with pytest.warns(ConstantFeatureWarning) as caught:
        pre = FeaturePreprocessor(spec).adapt(train)
    messages = [str(w.message) for w in caught]
    assert "'shop': every training value is the lookup's OOV token (-1)" in messages[0]
    assert "'city': every training value is the lookup's OOV token ('[UNK]')" in messages[1]
    assert pre.vocabularies == {"shop": [], "city": []}
    assert [f["input_dim"] for f in pre.embedding_features()] == [2, 1]
    serving = {"shop": tf.constant([-1, 3, 4], tf.int64), "city": tf.constant(["a", "", "b"])}
    clone = FeaturePreprocessor.from_config(pre.get_config())
    for out in (pre(serving), clone(serving)):
        assert set(out["shop"].numpy()) <= {0, 1} and out["city"].numpy().tolist() == [0, 0, 0]
    np.testing.assert_array_equal(pre(serving)["shop"], clone(serving)["shop"])


def test_spec_refuses_a_lookup_with_no_room_for_values():
    with pytest.raises(ValueError, match="max_tokens > num_oov_indices.*max_tokens=2, num_oov"):
        CategoricalFeature("x", max_tokens=2, num_oov_indices=2)
    with pytest.raises(ValueError, match="non-empty vocabulary"):
        CategoricalFeature("x", vocabulary=[])
