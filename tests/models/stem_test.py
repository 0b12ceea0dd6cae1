"""STEM: the shared round trip (tests/model_test_case.py), its tables, gates and gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.model_test_case import run_model_round_trip
from zoo.layers.gates.dselect_k_gate import DSelectKGate
from zoo.models.stem import STEM

SMALL = {"num_task_experts": [1, 2], "num_shared_experts": 2, "expert_units": [8]}
DSELECT = {"class_name": "dselect-k", "config": {"k": 2, "entropy_weight": 0.01}}


def _build(dataset, preprocessor, **kwargs):
    keras.utils.set_random_seed(3)
    return STEM(tasks=dataset.tasks, preprocessor=preprocessor, tower_units=[4], **kwargs)


def _features(dataset, rows=None):
    data = dataset.test.features
    return data if rows is None else {k: v[:rows] for k, v in data.items()}


# One SavedModel export per model class (the slow part): the variant with task
# tables of their own width exports; the others fit and reload from .keras only.
@pytest.mark.parametrize(
    "kwargs, export",
    [(SMALL, False), ({**SMALL, "task_embedding_dim": 2, "gate_input": "concat"}, True)],
    ids=["shared-widths", "narrow-task-tables"],
)
def test_fit_save_reload_export(
    kwargs, export, synthetic_dataset, synthetic_preprocessor, tmp_path
):
    model = _build(synthetic_dataset, synthetic_preprocessor, **kwargs)
    trip = run_model_round_trip(
        model, synthetic_dataset, synthetic_preprocessor, tmp_path, extra_outputs=(), export=export
    )
    # Every table is the model's: the shared set and one set per task.
    tables = {w.path.split("/")[-3] for w in model.trainable_weights if "embeddings" in w.path}
    assert tables == {"embedding", "embedding_click", "embedding_like"}
    assert trip.reloaded.task_embedding_dim == kwargs.get("task_embedding_dim")


def test_a_dselect_k_gate_trains_and_reloads(synthetic_dataset, synthetic_preprocessor, tmp_path):
    model = _build(synthetic_dataset, synthetic_preprocessor, **SMALL, gate=DSELECT)
    gates = model.switcher.task_gates
    assert [type(g) for g in gates] == [DSelectKGate] * 2
    assert all(g.k == 2 and g.num_experts == 5 for g in gates)
    trip = run_model_round_trip(
        model, synthetic_dataset, synthetic_preprocessor, tmp_path, export=False
    )
    assert [type(g) for g in trip.reloaded.switcher.task_gates] == [DSelectKGate] * 2


def test_gate_weights_are_distributions_named_by_task(synthetic_dataset, synthetic_preprocessor):
    model = _build(synthetic_dataset, synthetic_preprocessor, **SMALL)
    weights = model.gate_weights(_features(synthetic_dataset, 9))
    assert sorted(weights) == ["click", "like"]
    for w in weights.values():
        assert w.shape == (9, 5)
        np.testing.assert_allclose(np.asarray(w).sum(axis=1), 1.0, rtol=1e-5)
    names = model.gate_expert_names()
    assert names["click"] == names["like"]
    assert names["click"] == [
        "click/expert_0",
        "like/expert_0",
        "like/expert_1",
        "shared/expert_0",
        "shared/expert_1",
    ]


def test_a_tasks_loss_reaches_no_other_tasks_tables_or_experts(
    synthetic_dataset, synthetic_preprocessor
):
    model = _build(synthetic_dataset, synthetic_preprocessor, **SMALL)
    x = _features(synthetic_dataset, 32)
    with tf.GradientTape() as tape:
        loss = keras.losses.binary_crossentropy(np.ones((32, 1), "float32"), model(x)["click"])
    grads = tape.gradient(loss, model.trainable_variables)
    touched = {
        part
        for v, g in zip(model.trainable_variables, grads)
        if g is not None and float(tf.norm(tf.convert_to_tensor(g))) > 0
        for part in v.path.split("/")[1:-1]
    }
    for part in ("embedding", "embedding_click", "experts_task_0", "experts_shared", "gate_task_0"):
        assert part in touched, touched
    for part in ("embedding_like", "experts_task_1", "gate_task_1", "tower_like"):
        assert part not in touched, touched


def test_the_model_keeps_its_arguments(synthetic_dataset, synthetic_preprocessor):
    model = _build(
        synthetic_dataset,
        synthetic_preprocessor,
        **SMALL,
        task_embedding_dim=3,
        gate_input="concat",
    )
    config = model.get_config()
    assert config["num_task_experts"] == [1, 2] and config["num_shared_experts"] == 2
    assert config["task_embedding_dim"] == 3 and config["gate_input"] == "concat"
    assert model.num_task_experts == [1, 2]
    defaults = _build(synthetic_dataset, synthetic_preprocessor)
    assert (defaults.num_task_experts, defaults.num_shared_experts, defaults.expert_units) == (
        [2, 2],
        4,
        [32],
    )


def test_task_tables_of_another_width_need_the_concatenated_gate_input(
    synthetic_dataset, synthetic_preprocessor
):
    with pytest.raises(ValueError, match="task embeddings 8 wide, the shared one 13"):
        _build(synthetic_dataset, synthetic_preprocessor, **SMALL, task_embedding_dim=2)
