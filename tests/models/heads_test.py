"""Heads are arguments: a bias logit goes on any model, as Biasnet's or as YouTube's tower."""

import keras
import numpy as np
import pytest

from zoo import models
from zoo.layers.heads.bias_logit import BiasLogit
from zoo.tasks import Task


def _raw(dataset, rows=16):
    return {k: v[:rows] for k, v in dataset.test.features.items()}


def test_a_selection_bias_head_on_ple_keeps_its_features_out_of_backbone_and_serving(
    synthetic_dataset, synthetic_preprocessor, tmp_path
):
    keras.utils.set_random_seed(2)
    head = BiasLogit(["device"], known_at_serving=False, dropout=0.1, name="position_bias")
    model = models.PLE(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        num_levels=1,
        num_task_experts=1,
        num_shared_experts=1,
        expert_units=[4],
        heads=[head],
    )
    assert "device" not in [f["name"] for f in model.backbone_features()]
    assert model.serving_signatures() == {
        "serving_default": ("device",),
        "with_bias_features": (),
    }
    raw = _raw(synthetic_dataset)
    without = {k: v for k, v in raw.items() if k != "device"}
    debiased = model(without)
    with_device = model(raw)
    assert not np.allclose(debiased["click"], with_device["click"])
    path = str(tmp_path / "ple.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert [h.name for h in reloaded.task_heads] == ["position_bias"]
    np.testing.assert_allclose(reloaded(without)["like"], debiased["like"], rtol=1e-6)


def test_a_biasnet_head_on_cross_stitch_adds_its_logit_to_every_binary_task(
    synthetic_dataset, synthetic_preprocessor
):
    keras.utils.set_random_seed(4)
    model = models.CrossStitch(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        units=[4],
        heads=[BiasLogit(["city"], units=[4], name="city_bias")],
    )
    x = synthetic_preprocessor(_raw(synthetic_dataset))
    with model.preprocessed_inputs():
        plain = model.head_logits(x)
        with_head = model.task_logits(x)
    head = model.task_heads[0]
    logit = np.asarray(head.tower(head.embedding(x)))
    assert np.abs(logit).max() > 0
    for task in ("click", "like"):
        np.testing.assert_allclose(
            np.asarray(with_head[task]), np.asarray(plain[task]) + logit, rtol=1e-5, atol=1e-6
        )
    # Known at serving: the backbone sees the feature too, and serving asks for it.
    assert "city" in [f["name"] for f in model.backbone_features()]
    assert model.serving_signatures() == {"serving_default": ()}


def test_a_head_that_does_not_fit_the_model_is_named(synthetic_preprocessor):
    def build(*heads, tasks=("click", "like")):
        return models.SharedBottom(
            tasks=list(tasks), preprocessor=synthetic_preprocessor, bottom_units=[4], heads=heads
        )

    with pytest.raises(ValueError, match=r"shift: features \['colour'\] are not features"):
        build(BiasLogit(["colour"], name="shift"))
    with pytest.raises(ValueError, match="shift: task 'kind' is multiclass"):
        build(
            BiasLogit(["city"], tasks=["kind"], name="shift"), tasks=[Task("kind", "multiclass", 3)]
        )
    with pytest.raises(ValueError, match="needs a feature known at serving time"):
        build(BiasLogit(["city"], known_at_serving=False), BiasLogit(["city"], name="group"))
    with pytest.raises(ValueError, match="the backbone would see nothing"):
        build(
            BiasLogit(
                ["city", "device", "query", "age", "score"], known_at_serving=False, dropout=0.1
            )
        )
    with pytest.raises(ValueError, match="with known_at_serving=True nothing is left out"):
        BiasLogit(["city"], dropout=0.1)
