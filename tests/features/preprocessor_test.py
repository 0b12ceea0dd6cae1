import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.features import CategoricalFeature, FeaturePreprocessor, NumericFeature

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
