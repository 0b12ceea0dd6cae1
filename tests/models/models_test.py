"""Every zoo model: trains, round-trips through .keras, exports with serve(x) == model(x)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.model_test_case import run_model_round_trip
from zoo import models

MODEL_KWARGS = {
    models.SingleTask: {"hidden_units": [16]},
    models.SharedBottom: {"bottom_units": [16]},
    models.OMoE: {"num_experts": 3, "expert_units": [8]},
    models.MMoE: {"num_experts": 3, "expert_units": [8], "expert_batch_norm": True},
    models.CGC: {"num_task_experts": [1, 2], "num_shared_experts": 2, "expert_units": [8]},
    models.PLE: {
        "num_levels": 2,
        "num_task_experts": 1,
        "num_shared_experts": 2,
        "expert_units": [8],
    },
    models.CrossStitch: {"units": [8, 8], "self_weight": 0.8},
    models.SNRTrans: {
        "num_layers": 2,
        "num_experts": 3,
        "expert_units": [8, 6],
        "l0_strength": 1e-3,
    },
    models.SNRAver: {"num_layers": 2, "num_experts": 3, "expert_units": 8, "dropout": 0.1},
    models.ESMM: {"hidden_units": [8]},
    # A derived AutoMTL architecture with every kind of block: an expert no
    # task selected (not built), one of "skip" only, one shared by both tasks.
    models.AutoMTL: {
        "architecture": {
            "field_dim": 4,
            "expert_width": 8,
            "interaction": "inner-product",
            "experts": [["conv1d-3", "mlp-16"], ["bit-gate", "skip"], ["skip", "skip"], ["mlp-8"]],
            "task_experts": {"click": [0, 1], "like": [1, 2]},
        }
    },
}
ALL_MODELS = list(MODEL_KWARGS)


def _build(model_cls, dataset, preprocessor):
    keras.utils.set_random_seed(3)
    return model_cls(
        tasks=dataset.tasks, preprocessor=preprocessor, tower_units=[4], **MODEL_KWARGS[model_cls]
    )


def _features(dataset, split="test", rows=None):
    """Raw feature columns: what the models take."""
    data = dataset.split(split).features
    if rows is not None:
        data = {k: v[:rows] for k, v in data.items()}
    return data


@pytest.mark.parametrize("model_cls", ALL_MODELS, ids=lambda c: c.__name__)
def test_fit_save_reload_export(model_cls, synthetic_dataset, synthetic_preprocessor, tmp_path):
    model = _build(model_cls, synthetic_dataset, synthetic_preprocessor)
    run_model_round_trip(model, synthetic_dataset, synthetic_preprocessor, tmp_path)


@pytest.mark.parametrize(
    "model_cls", [models.MMoE, models.OMoE, models.CGC, models.PLE], ids=lambda c: c.__name__
)
def test_gate_weights_are_distributions_named_by_task(
    model_cls, synthetic_dataset, synthetic_preprocessor
):
    model = _build(model_cls, synthetic_dataset, synthetic_preprocessor)
    weights = model.gate_weights(_features(synthetic_dataset, rows=9))
    assert weights
    for w in weights.values():
        assert w.shape[0] == 9
        np.testing.assert_allclose(np.asarray(w).sum(axis=1), 1.0, rtol=1e-5)
    if model_cls is models.MMoE:
        assert sorted(weights) == ["click", "like"]
    if model_cls is models.PLE:
        assert "level_1/click" in weights


@pytest.mark.parametrize(
    "model_cls", [models.MMoE, models.OMoE, models.CGC, models.PLE], ids=lambda c: c.__name__
)
def test_experts_do_not_start_identical(model_cls, synthetic_dataset, synthetic_preprocessor):
    model = _build(model_cls, synthetic_dataset, synthetic_preprocessor)
    model.build()
    expert_kernels = [
        w.numpy() for w in model.switcher.weights if "kernel" in w.path and w.ndim == 3
    ]
    assert expert_kernels
    for kernel in expert_kernels:
        for i in range(len(kernel)):
            for j in range(i + 1, len(kernel)):
                assert not np.allclose(kernel[i], kernel[j])


def test_single_task_shares_nothing(synthetic_dataset, synthetic_preprocessor):
    model = _build(models.SingleTask, synthetic_dataset, synthetic_preprocessor)
    model.compile()
    x = _features(synthetic_dataset, rows=32)
    y = {"click": np.ones((32, 1), "float32"), "like": np.zeros((32, 1), "float32")}
    with tf.GradientTape() as tape:
        loss = keras.losses.binary_crossentropy(y["click"], model(x)["click"])
    grads = tape.gradient(loss, model.trainable_variables)
    # Layer names along each variable's path (`mmoe/backbone/embedding_click/...`).
    touched = {
        part
        for v, g in zip(model.trainable_variables, grads)
        if g is not None
        for part in v.path.split("/")[1:-1]
    }
    assert "embedding_click" in touched and "tower_click" in touched, touched
    assert not any("like" in name for name in touched), touched


def test_errors_name_the_problem(synthetic_dataset, synthetic_preprocessor):
    with pytest.raises(ValueError, match="unique"):
        models.MMoE(tasks=["a", "a"], preprocessor=synthetic_preprocessor)
    with pytest.raises(ValueError, match="preprocessor"):
        models.MMoE(tasks=["a"])
    with pytest.raises(ValueError, match="Unknown model 'mmoe2'.*mmoe"):
        models.get_model_class("mmoe2")


def test_an_empty_batch_adds_zero_task_loss_not_nan(synthetic_dataset, synthetic_preprocessor):
    # What a worker computes when its shards of a split have run out.
    model = models.MMoE(tasks=synthetic_dataset.tasks, preprocessor=synthetic_preprocessor)
    model.compile()
    empty = {t.name: np.zeros((0, 1), "float32") for t in synthetic_dataset.tasks}
    losses = model.task_losses(empty, empty, track=False)
    assert [float(x) for x in losses] == [0.0, 0.0]
