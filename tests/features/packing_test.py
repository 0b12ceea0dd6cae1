"""Preprocessed features packed into two matrices, and split again by the model."""

import keras
import numpy as np
import pytest

from zoo import models
from zoo.features import packing
from zoo.features.preprocessor import FeaturePreprocessor
from zoo.features.spec import CategoricalFeature, MultiHotFeature, NumericFeature


@pytest.fixture(scope="module")
def preprocessor():
    spec = [
        CategoricalFeature("city", embedding_dim=4),
        NumericFeature("age"),
        CategoricalFeature("device", dtype="int64", embedding_dim=4),
        MultiHotFeature("tags", max_len=3, embedding_dim=4),
        NumericFeature("income"),
    ]
    rows = {
        "city": np.array(["a", "b", "c", "a"], object),
        "age": np.array([20.0, 30.0, 40.0, 50.0]),
        "device": np.array([3, 5, 7, 3]),
        # Padded with "", as a list feature reaches the preprocessor.
        "tags": np.array([["x", "", ""], ["y", "z", ""], ["", "", ""], ["x", "y", "z"]], object),
        "income": np.array([1.0, 2.0, 3.0, 4.0]),
    }
    return FeaturePreprocessor(spec).adapt(rows), rows


def test_pack_then_unpack_gives_every_feature_back(preprocessor):
    pre, rows = preprocessor
    features = pre.embedding_features()
    encoded = pre(rows)
    packed = packing.pack(encoded, features)
    assert sorted(packed) == ["packed_ids", "packed_numeric", "tags"]  # lists stay as they are
    assert packed["packed_ids"].shape == (4, 2) and packed["packed_ids"].dtype == "int32"
    assert packed["packed_numeric"].shape == (4, 2) and packed["packed_numeric"].dtype == "float32"
    unpacked = packing.unpack(packed, features)
    assert sorted(unpacked) == sorted(encoded)
    for name, value in encoded.items():
        np.testing.assert_array_equal(np.asarray(unpacked[name]), np.asarray(value))


def test_inputs_without_every_scalar_feature_stay_unpacked(preprocessor):
    pre, rows = preprocessor
    encoded = pre(rows)
    del encoded["age"]  # a signature that leaves a feature out
    assert packing.pack(encoded, pre.embedding_features()) is encoded
    assert packing.unpack(encoded, pre.embedding_features()) is encoded


def test_a_matrix_of_the_wrong_width_is_refused_by_name(preprocessor):
    pre, rows = preprocessor
    packed = packing.pack(pre(rows), pre.embedding_features())
    packed["packed_ids"] = packed["packed_ids"][:, :1]
    with pytest.raises(ValueError, match=r"packed_ids holds 1 columns.*\['city', 'device'\]"):
        packing.unpack(packed, pre.embedding_features())


def test_the_model_answers_alike_packed_and_unpacked(preprocessor):
    pre, rows = preprocessor
    keras.utils.set_random_seed(2)
    model = models.MMoE(
        tasks=["click"], preprocessor=pre, num_experts=2, expert_units=[4], tower_units=[2]
    )
    encoded = pre(rows)
    with model.preprocessed_inputs():
        plain = model(encoded)["click"]
        packed = model(packing.pack(encoded, model.features))["click"]
    np.testing.assert_allclose(np.asarray(packed), np.asarray(plain), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(model(rows)["click"]), np.asarray(plain), rtol=1e-6)
