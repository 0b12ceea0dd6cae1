import keras
import numpy as np
import pytest

from zoo.layers import FeatureDropout


def test_drops_values_to_missing_at_the_rate_only_in_training():
    layer = FeatureDropout(0.3, seed=1)
    ids = np.arange(1, 20001, dtype="int32")
    values = np.ones(20000, "float32")
    out = layer({"position": ids, "score": values}, training=True)
    dropped_ids = np.asarray(out["position"]) == 0
    dropped_values = np.asarray(out["score"]) == 0
    assert 0.28 < dropped_ids.mean() < 0.32
    assert 0.28 < dropped_values.mean() < 0.32
    kept = ~dropped_ids
    np.testing.assert_array_equal(np.asarray(out["position"])[kept], ids[kept])
    # Features are dropped independently of each other.
    assert not np.array_equal(dropped_ids, dropped_values)
    same = layer({"position": ids}, training=False)
    np.testing.assert_array_equal(np.asarray(same["position"]), ids)


def test_config_round_trip_and_rate_check():
    layer = FeatureDropout(0.1, seed=3, name="d")
    clone = FeatureDropout.from_config(layer.get_config())
    assert clone.rate == 0.1 and clone.seed == 3
    assert keras.layers.deserialize(keras.layers.serialize(layer)).rate == 0.1
    with pytest.raises(ValueError, match=r"rate in \[0, 1\)"):
        FeatureDropout(-0.1)
