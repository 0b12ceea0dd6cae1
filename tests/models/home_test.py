"""HoME the model: the shared round trip, task categories by name, and its ablation switches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.export import export_saved_model
from zoo.layers.heads.group_routing import GroupRouting
from zoo.models.home import HoME

SMALL = {
    "num_shared_experts": 1,
    "num_category_experts": 1,
    "num_task_experts": 1,
    "expert_units": [8],
    "feature_gate_rank": 2,
}


def _build(dataset, preprocessor, **kwargs):
    keras.utils.set_random_seed(3)
    return HoME(
        tasks=dataset.tasks, preprocessor=preprocessor, tower_units=[4], **{**SMALL, **kwargs}
    )


def _features(dataset, split="test", rows=None):
    data = dataset.split(split).features
    if rows is not None:
        data = {k: v[:rows] for k, v in data.items()}
    return data


def test_fit_save_reload_export(synthetic_dataset, synthetic_preprocessor, tmp_path):
    # Every mechanism on, two categories. (The ablated switcher trains and reloads in
    # tests/layers/home_test.py.)
    model = _build(synthetic_dataset, synthetic_preprocessor, task_categories=[["like"], ["click"]])
    model.build()
    model.compile(jit_compile=True)
    train = synthetic_dataset.tf_dataset("train", synthetic_preprocessor, 64, shuffle=True, seed=1)
    before = [np.array(w) for w in model.trainable_weights]
    assert before
    with model.preprocessed_inputs():
        history = model.fit(train, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.allclose(b, np.array(a)) for b, a in zip(before, model.trainable_weights))

    x = _features(synthetic_dataset)
    predictions = model.predict(x, verbose=0)
    assert sorted(predictions) == ["click", "like"]
    for p in predictions.values():
        assert p.shape == (len(synthetic_dataset.test), 1)
        assert ((p > 0) & (p < 1)).all()

    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is HoME
    assert reloaded.get_config() == model.get_config()
    assert reloaded.task_categories == model.task_categories
    again = reloaded.predict(x, verbose=0)
    for task in predictions:
        np.testing.assert_array_equal(predictions[task], again[task])

    export_path = export_saved_model(model, str(tmp_path / "serving"), "m")
    serve = tf.saved_model.load(export_path).signatures["serving_default"]
    for rows in (1, 37):
        raw = {k: v[:rows] for k, v in synthetic_dataset.test.features.items()}
        served = serve(
            **{
                k: tf.constant(np.asarray(v).tolist() if v.dtype == object else v)
                for k, v in raw.items()
            }
        )
        for task in predictions:
            np.testing.assert_allclose(served[task].numpy(), predictions[task][:rows, 0], atol=1e-5)


def test_categories_are_task_names_mapped_to_the_switchers_indices(
    synthetic_dataset, synthetic_preprocessor
):
    model = _build(synthetic_dataset, synthetic_preprocessor, task_categories=[["like"], ["click"]])
    # Tasks are ["click", "like"]: the switcher knows them as 0 and 1.
    assert model.switcher.task_categories == [[1], [0]]
    assert model.task_categories == [["like"], ["click"]]
    assert model.get_config()["task_categories"] == [["like"], ["click"]]
    names = model.gate_expert_names()
    # Click's gate: the shared expert, its category's (["click"]) and its own, by name.
    assert names["level_1/click"] == [
        "level_1/shared/expert_0",
        "level_1/category_click/expert_0",
        "level_1/click/expert_0",
    ]
    assert names["level_0/category_like"] == [
        "level_0/shared/expert_0",
        "level_0/category_like/expert_0",
    ]
    weights = model.gate_weights(_features(synthetic_dataset, rows=9))
    assert sorted(weights) == sorted(names)
    for name, w in weights.items():
        assert w.shape == (9, len(names[name]))
        np.testing.assert_allclose(np.asarray(w).sum(axis=1), 1.0, rtol=1e-5)


def test_default_is_one_category_of_every_task(synthetic_dataset, synthetic_preprocessor):
    model = _build(synthetic_dataset, synthetic_preprocessor)
    assert model.task_categories == [["click", "like"]]
    assert model.switcher.task_categories == [[0, 1]]
    assert "level_0/category_click+like" in model.gate_weights(_features(synthetic_dataset, rows=3))


def test_ablation_switches_reach_the_switcher(synthetic_dataset, synthetic_preprocessor):
    model = _build(
        synthetic_dataset,
        synthetic_preprocessor,
        feature_gate=False,
        self_gate=False,
        expert_batch_norm=False,
        activation="relu",
    )
    model.build()
    switcher = model.switcher
    assert switcher.meta_feature_gate is None and switcher.task_feature_gate is None
    assert not any("self_gate" in w.path or "feature_gate" in w.path for w in model.weights)
    assert not any("batch_norm" in w.path for w in model.weights)
    assert (model.feature_gate, model.self_gate, model.activation) == (False, False, "relu")
    full = _build(synthetic_dataset, synthetic_preprocessor)
    full.build()
    assert any("self_gate" in w.path for w in full.weights)
    assert any("feature_gate" in w.path for w in full.weights)


@pytest.mark.parametrize(
    "categories, message",
    [
        ([["click"], ["like", "share"]], r"names \['share'\], which are not tasks"),
        ([["click"]], r"\['like'\] are in none"),
        ([["click", "like"], ["like"]], r"\['like'\] are in more than one"),
        ([["click", "like"], []], "non-empty categories"),
        (["click", "like"], "list of lists of task names"),
        ([[0], [1]], "list of lists of task names"),
    ],
)
def test_categories_are_validated_by_name(
    categories, message, synthetic_dataset, synthetic_preprocessor
):
    with pytest.raises(ValueError, match=message):
        _build(synthetic_dataset, synthetic_preprocessor, task_categories=categories)


def test_routing_heads_are_refused(synthetic_dataset, synthetic_preprocessor):
    routing = GroupRouting.from_preprocessor(synthetic_preprocessor, "city", name="routing")
    with pytest.raises(ValueError, match="routing head"):
        _build(synthetic_dataset, synthetic_preprocessor, heads=[routing])
