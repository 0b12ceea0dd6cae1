"""HoME the model: the shared round trip, task categories by name, and its ablation switches."""

import keras
import numpy as np
import pytest

from tests.model_test_case import run_model_round_trip
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
    trip = run_model_round_trip(
        model, synthetic_dataset, synthetic_preprocessor, tmp_path, extra_outputs=()
    )
    assert trip.reloaded.task_categories == model.task_categories


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
