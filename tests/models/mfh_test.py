"""MFH: a head per (user group, task), each sample routed to its own group's heads."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.export import export_saved_model
from zoo.tasks import Task

# The synthetic fixture's "city" is the group feature here.
GROUPS = {"south": ["nice"], "north": ["lille", "paris"], "east": ["lyon"]}


def _model(preprocessor, **kwargs):
    keras.utils.set_random_seed(0)
    settings = {
        "group_feature": "city",
        "groups": GROUPS,
        "bottom_units": [16],
        "group_units": [8],
        "task_units": [8],
        "tower_units": [4],
        "group_tower_units": {"north": [8, 4]},
    }
    settings.update(kwargs)
    return models.MFH(
        tasks=[Task("click"), Task("score", "regression")], preprocessor=preprocessor, **settings
    )


def _raw(dataset, rows=64):
    return {k: v[:rows] for k, v in dataset.test.features.items()}


@pytest.mark.parametrize(
    "tree",
    [
        {"layout": "mfh"},
        {"layout": "h-mtl"},
        {"layout": "flat"},
        {"layout": "mfh", "group_level": "mmoe", "task_level": "shared-bottom"},
        {"layout": "mfh", "group_level": "ple", "task_level": "mmoe"},
        {"layout": "mfh", "group_level": "cgc", "task_level": "cgc"},
    ],
    ids=["mfh", "h-mtl", "flat", "mmoe+shared-bottom", "ple+mmoe", "cgc+cgc"],
)
def test_a_sample_trains_only_its_own_groups_heads(tree, synthetic_dataset, synthetic_preprocessor):
    model = _model(synthetic_preprocessor, **tree)
    raw = _raw(synthetic_dataset)
    north = np.isin(raw["city"], ["lille", "paris"])
    assert north.any() and (~north).any()
    x = {k: v[north] for k, v in raw.items()}
    with tf.GradientTape() as tape:
        outputs = model(x, training=True)
        loss = tf.reduce_mean(outputs["click"]) + tf.reduce_mean(outputs["score"])
    variables = model.trainable_variables
    grads = dict(zip((v.path for v in variables), tape.gradient(loss, variables)))
    touched = {
        path.split("/")[1]
        for path, g in grads.items()
        if g is not None and float(tf.reduce_max(tf.abs(g))) > 0 and "tower_" in path
    }
    assert touched == {"tower_click__north", "tower_score__north"}, touched


def test_the_default_tree_is_the_appendixs():
    """Appendix section 4: bottom 512, PLE over groups (256 then 128), CGC over tasks (128)."""
    from zoo.layers import CGCSwitcher, FacetTreeSwitcher, PLESwitcher

    tree = FacetTreeSwitcher(num_groups=3, num_facet_tasks=3)
    tree.build((None, 40))
    assert tree.bottom.units == [512]
    assert isinstance(tree.group_level, PLESwitcher)
    assert [level.expert_units for level in tree.group_level.levels] == [[256], [128]]
    assert [level.num_task_experts for level in tree.group_level.levels] == [[2, 2, 2]] * 2
    assert tree.group_level.num_shared_experts == 2
    assert all(isinstance(level, CGCSwitcher) for level in tree.task_levels)
    assert [level.expert_units for level in tree.task_levels] == [[128]] * 3
    outputs = tree(np.zeros((2, 40), "float32"))
    assert len(outputs) == 9 and all(o.shape == (2, 128) for o in outputs)


def test_outputs_are_the_own_groups_heads_and_serve_under_task_names(
    synthetic_dataset, synthetic_preprocessor, tmp_path
):
    model = _model(synthetic_preprocessor)
    raw = _raw(synthetic_dataset, rows=32)
    x = synthetic_preprocessor(raw)
    served_keras = model.serving_outputs(x)
    group_of_city = {city: g for g, cities in GROUPS.items() for city in cities}
    for row, city in enumerate(raw["city"]):
        group = group_of_city[city]
        for task in ("click", "score"):
            assert float(served_keras[task][row, 0]) == pytest.approx(
                float(served_keras[f"{task}__{group}"][row, 0]), rel=1e-6
            )
    loaded = tf.saved_model.load(export_saved_model(model, str(tmp_path), "mfh", 1))
    served = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in raw.items()})
    assert "click" in served and "score__east" in served and "click__north" in served
    np.testing.assert_allclose(served["score"], np.asarray(served_keras["score"])[:, 0], rtol=1e-5)


def test_config_round_trip_and_heterogeneous_towers(synthetic_preprocessor, tmp_path):
    model = _model(synthetic_preprocessor, default_group="east", group_level="mmoe")
    model.build()
    assert model.towers["click__north"].units == [8, 4]
    assert model.towers["click__south"].units == [4]
    path = str(tmp_path / "mfh.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.get_config() == model.get_config()
    json.dumps(model.get_config())  # a config file can hold it


def test_group_errors_are_named(synthetic_preprocessor):
    with pytest.raises(ValueError, match="'nice' .* is in no group"):
        _model(synthetic_preprocessor, groups={"north": ["lille", "paris"], "east": ["lyon"]})
    with pytest.raises(ValueError, match="is in groups 'a' and 'b'"):
        _model(
            synthetic_preprocessor,
            groups={"a": ["nice"], "b": ["nice", "lyon"]},
            default_group="a",
            group_tower_units=None,
        )
    with pytest.raises(ValueError, match="must be a categorical feature"):
        _model(synthetic_preprocessor, group_feature="age")
    with pytest.raises(ValueError, match="group_tower_units names"):
        _model(synthetic_preprocessor, group_tower_units={"west": [4]})
    with pytest.raises(ValueError, match="layout"):
        _model(synthetic_preprocessor, layout="deep")
    with pytest.raises(ValueError, match="level kind"):
        _model(synthetic_preprocessor, group_level="moe")
    # Unlisted vocabulary values go to default_group when one is given.
    model = _model(
        synthetic_preprocessor, groups={"north": ["lille", "paris"]}, default_group="north"
    )
    assert set(model.group_index_by_id.tolist()) == {0}
