"""Multi-hot, sequence and crossed features: their specs and what the preprocessor makes of them."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.features import (
    CategoricalFeature,
    CrossedFeature,
    FeaturePreprocessor,
    MultiHotFeature,
    NumericFeature,
    SequenceFeature,
    feature_from_config,
)


def _spec(**history):
    return [
        CategoricalFeature("item", dtype="int64", embedding_dim=4),
        CategoricalFeature("city", embedding_dim=4),
        NumericFeature("age"),
        SequenceFeature("history", max_len=3, shares_table_with="item", **history),
        MultiHotFeature("tags", max_len=2, embedding_dim=4),
        CrossedFeature("city_x_item", ["city", "item"], num_bins=20, embedding_dim=4),
    ]


TRAIN = {
    "item": np.array([10, 20, 30]),
    "city": np.array(["a", "b", "a"]),
    "age": np.array([1.0, 2.0, 3.0]),
    "history": np.array([[20, 10, -1], [30, -1, -1], [-1, -1, -1]]),
    "tags": [["x"], ["y", "z"], []],
}


@pytest.fixture()
def preprocessor():
    return FeaturePreprocessor(_spec()).adapt(TRAIN)


def test_configs_round_trip():
    for feature in _spec(pooling="attention"):
        assert feature_from_config(feature.to_config()) == feature
    assert SequenceFeature("h", shares_table_with="item").target == "item"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MultiHotFeature("tags", max_len=0), "max_len >= 1"),
        (lambda: MultiHotFeature("tags", pooling="attention"), "pooling in"),
        (lambda: SequenceFeature("h", pooling="attention"), "give target="),
        (lambda: SequenceFeature("h", shares_table_with="h"), "its own table"),
        (lambda: SequenceFeature("h", shares_table_with="i", vocabulary=["a"]), "no vocabulary"),
        (lambda: SequenceFeature("h", transformer_heads=0), "transformer_heads >= 1"),
        (lambda: CrossedFeature("x", ["a"], num_bins=4), "two or more"),
        (lambda: CrossedFeature("x", ["a", "b"], num_bins=0), "num_bins >= 1"),
    ],
)
def test_bad_specs_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ([SequenceFeature("h", shares_table_with="item")], "no such feature"),
        (
            [NumericFeature("item"), SequenceFeature("h", shares_table_with="item")],
            "a NumericFeature",
        ),
        (
            [
                CategoricalFeature("item", dtype="int64"),
                SequenceFeature("h", shares_table_with="item", dtype="string"),
            ],
            "dtype is 'int64'",
        ),
        (
            [
                CategoricalFeature("item", embedding_dim=4),
                SequenceFeature("h", target="item", pooling="attention", embedding_dim=8),
            ],
            "as wide",
        ),
        ([CrossedFeature("x", ["a", "b"], num_bins=4)], "crossed feature 'a'"),
    ],
)
def test_bad_references_name_the_feature(features, message):
    with pytest.raises(ValueError, match=message):
        FeaturePreprocessor(features)


def test_shared_history_takes_the_tables_dtype_and_width(preprocessor):
    history = {f.name: f for f in preprocessor.features}["history"]
    assert (history.dtype, history.embedding_dim) == ("int64", 4)
    # It learns no vocabulary of its own: its ids are rows of item's table.
    assert "history" not in preprocessor.vocabularies
    specs = {f["name"]: f for f in preprocessor.embedding_features()}
    assert specs["history"]["input_dim"] == specs["item"]["input_dim"] == 4
    assert specs["city_x_item"] == {
        "name": "city_x_item",
        "kind": "categorical",
        "input_dim": 20,
        "output_dim": 4,
    }


def test_a_shared_table_learns_its_vocabulary_from_the_history_too():
    data = dict(TRAIN, history=np.array([[20, 77, -1], [30, -1, -1], [-1, -1, -1]]))
    preprocessor = FeaturePreprocessor(_spec()).adapt(data)
    # 77 was never a candidate, only watched: it gets a row, not the OOV bucket.
    assert sorted(preprocessor.vocabularies["item"]) == [10, 20, 30, 77]
    ids = preprocessor({**_row(), "history": tf.constant([[77, 78]], tf.int64)})["history"]
    assert ids.numpy()[0, 0] > 0 and ids.numpy()[0, 1] == 0


def test_multi_hot_vocabulary_is_learned_from_values_not_padding(preprocessor):
    assert sorted(preprocessor.vocabularies["tags"]) == ["x", "y", "z"]


def test_list_ids_are_truncated_padded_and_looked_up(preprocessor):
    item_ids = preprocessor({**_row(), "history": tf.constant([[30, 10, 99, 20, 20]])})["item"]
    out = preprocessor(
        {
            "item": tf.constant([10, 10, 10], tf.int64),
            "city": tf.constant(["a", "a", "a"]),
            "age": tf.constant([1.0, 1.0, 1.0]),
            # A longer history keeps its newest three; an unseen id is OOV (0); an
            # empty one is all padding (-1).
            "history": tf.ragged.constant([[30, 10, 99, 20], [10], []], tf.int64),
            "tags": tf.constant([["z", "never", "x"], ["", "", ""], ["y", "", ""]]),
        }
    )
    lookup = {v: i + 1 for i, v in enumerate(preprocessor.vocabularies["item"])}
    assert out["history"].numpy().tolist() == [
        [lookup[30], lookup[10], 0],
        [lookup[10], -1, -1],
        [-1, -1, -1],
    ]
    tags = {v: i + 1 for i, v in enumerate(preprocessor.vocabularies["tags"])}
    assert out["tags"].numpy().tolist() == [[tags["z"], 0], [-1, -1], [tags["y"], -1]]
    assert out["history"].dtype == tf.int32 and item_ids.numpy()[0] == lookup[10]


def test_crossed_ids_are_keras_hashed_crossing(preprocessor):
    rows = _row(city=["a", "b", "zz"], item=[10, 10, 77])
    out = preprocessor(rows)["city_x_item"].numpy()
    expected = keras.layers.HashedCrossing(num_bins=20)((rows["city"], rows["item"]))
    np.testing.assert_array_equal(out, np.asarray(expected))
    assert "city_x_item" not in preprocessor.raw_dtypes()  # computed, never sent


def test_raw_shapes_say_which_inputs_are_lists(preprocessor):
    assert preprocessor.raw_shapes() == {
        "item": (None,),
        "city": (None,),
        "age": (None,),
        "history": (None, None),
        "tags": (None, None),
    }


def test_a_list_of_the_wrong_rank_or_dtype_is_refused(preprocessor):
    with pytest.raises(ValueError, match="'tags' takes a list of values per row"):
        preprocessor({**_row(), "tags": tf.constant(["x"])})
    with pytest.raises(TypeError, match="'history' expects lists of int64"):
        preprocessor({**_row(), "history": tf.constant([["a"]])})
    with pytest.raises(TypeError, match="'history' expects lists of int64"):
        preprocessor({**_row(), "history": tf.ragged.constant([["a", "b"]])})


def test_config_round_trip_encodes_alike(preprocessor):
    clone = FeaturePreprocessor.from_config(preprocessor.get_config())
    rows = _row()
    for name, ids in preprocessor(rows).items():
        np.testing.assert_array_equal(ids.numpy(), clone(rows)[name].numpy())


def _row(city=("a",), item=(10,)):
    batch = len(city)
    return {
        "item": tf.constant(list(item), tf.int64),
        "city": tf.constant(list(city)),
        "age": tf.constant([1.0] * batch),
        "history": tf.constant([[20, -1]] * batch, tf.int64),
        "tags": tf.constant([["x"]] * batch),
    }


def test_long_vocabularies_travel_as_an_asset_not_in_the_config(tmp_path):
    from zoo.features.preprocessor import INLINE_VOCABULARY_LIMIT, VOCABULARY_ASSET

    many = INLINE_VOCABULARY_LIMIT + 500
    data = {
        "user": np.array([f"user{i}" for i in range(many)]),
        "city": np.array(["a", "b"] * (many // 2)),
    }
    preprocessor = FeaturePreprocessor(
        [CategoricalFeature("user"), CategoricalFeature("city")]
    ).adapt(data)
    config = preprocessor.get_config()
    assert config["vocabularies"] == {"city": preprocessor.vocabularies["city"]}
    assert config["vocabularies_in_assets"] == ["user"]
    # Built from the config alone, the long vocabulary is missing, and said to be.
    alone = FeaturePreprocessor.from_config(config)
    assert alone.features_needing_adapt() == ["user"]

    from zoo.models import MMoE

    model = MMoE(tasks=["a"], preprocessor=preprocessor, num_experts=1, expert_units=[2])
    model.build()
    path = tmp_path / "model.keras"
    model.save(path)
    import zipfile

    with zipfile.ZipFile(path) as archive:
        assert len(archive.read("config.json")) < 8_000
        assert any(name.endswith(VOCABULARY_ASSET) for name in archive.namelist())
    reloaded = keras.saving.load_model(path).preprocessor
    assert reloaded.vocabularies == preprocessor.vocabularies
    rows = {"user": tf.constant(["user7", "user1200", "stranger"]), "city": tf.constant(["a"] * 3)}
    np.testing.assert_array_equal(reloaded(rows)["user"], preprocessor(rows)["user"])
    assert reloaded(rows)["user"].numpy()[2] == 0  # an unseen user: the OOV row
