"""Heads are arguments: a bias logit goes on any model, as Biasnet's or as YouTube's tower;
DLEN's mixture, ESMM's product, MFH's per-group routing and NGCF's graph score go on any
backbone (the graph score's training and serving are in mogenet_test.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.export import export_saved_model
from zoo.layers.graph.ngcf import NGCFEncoder
from zoo.layers.heads.bias_logit import BiasLogit
from zoo.layers.heads.entire_space_product import EntireSpaceProduct
from zoo.layers.heads.graph_score import GraphScore
from zoo.layers.heads.group_routing import GroupRouting
from zoo.layers.heads.latent_emotion_mixture import LatentEmotionMixture
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
    with pytest.raises(ValueError, match=r"\['user_id', 'item_id'\] are not categorical features"):
        build(GraphScore(NGCFEncoder(5, 5)))


def test_dlen_mixture_on_cgc_with_a_bias_head_mixes_the_biased_logits_and_serves_p_up(
    synthetic_dataset, synthetic_preprocessor, tmp_path
):
    keras.utils.set_random_seed(5)
    model = models.CGC(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        num_task_experts=1,
        num_shared_experts=1,
        expert_units=[4],
        # The mixture listed first still acts last, after the bias logit.
        heads=[
            LatentEmotionMixture([4], alpha={"click": 0.1, "like": 0.3}),
            BiasLogit(["city"], name="city_bias"),
        ],
    )
    assert [model.towers[t].output_units for t in ("click", "like")] == [2, 2]
    raw = _raw(synthetic_dataset)
    x = synthetic_preprocessor(raw)
    with model.preprocessed_inputs():
        predicted = model(x)
        logits = model.task_logits(x)  # the towers' logits after the bias head
        p_up = model.output_head.hidden_state(model.embed(x))
    p_up = 1 / (1 + np.exp(-np.asarray(p_up)))
    for task, alpha in (("click", 0.1), ("like", 0.3)):
        z = np.asarray(logits[task])
        given_up, given_not_up = 1 / (1 + np.exp(-z[:, :1])), alpha / (1 + np.exp(-z[:, 1:]))
        np.testing.assert_allclose(
            predicted[task], given_up * p_up + given_not_up * (1 - p_up), rtol=1e-5
        )
        assert (np.asarray(predicted[task]) <= p_up + alpha * (1 - p_up) + 1e-6).all()

    path = str(tmp_path / "cgc_dlen.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.output_head) is LatentEmotionMixture
    np.testing.assert_allclose(reloaded(raw)["like"], predicted["like"], rtol=1e-5)
    served = tf.saved_model.load(export_saved_model(reloaded, str(tmp_path), "cgc_dlen", 1))
    outputs = served.signatures["serving_default"](**{k: tf.constant(v) for k, v in raw.items()})
    assert sorted(outputs) == ["click", "click_and_up", "like", "like_and_up", "p_up"]
    np.testing.assert_allclose(np.ravel(outputs["p_up"]), p_up.ravel(), rtol=1e-5)


def test_esmm_product_on_mmoe_gives_ctcvr_as_ctr_times_cvr(
    synthetic_dataset, synthetic_preprocessor
):
    keras.utils.set_random_seed(6)
    model = models.MMoE(
        tasks=["click", "like"],
        preprocessor=synthetic_preprocessor,
        num_experts=2,
        expert_units=[4],
        heads=[EntireSpaceProduct()],
    )
    x = synthetic_preprocessor(_raw(synthetic_dataset))
    with model.preprocessed_inputs():
        outputs = model.all_outputs(x)
        predicted = model(x)
    assert sorted(predicted) == ["click", "like"]
    np.testing.assert_allclose(
        predicted["like"], np.asarray(outputs["click"]) * np.asarray(outputs["cvr"]), rtol=1e-6
    )
    model.compile(optimizer="adam")
    labels = {t: synthetic_dataset.test.labels[t][:16] for t in ("click", "like")}
    history = model.fit(_raw(synthetic_dataset), labels, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_an_output_head_that_does_not_fit_is_named(synthetic_preprocessor):
    def build(*heads, tasks=("click", "like")):
        return models.SharedBottom(
            tasks=list(tasks), preprocessor=synthetic_preprocessor, bottom_units=[4], heads=heads
        )

    with pytest.raises(ValueError, match="each turn the task logits into the predictions"):
        build(EntireSpaceProduct(), LatentEmotionMixture(alpha=0.2))
    with pytest.raises(ValueError, match=r"\('score', 'regression'\)\] are not binary"):
        build(LatentEmotionMixture(alpha=0.2), tasks=[Task("click"), Task("score", "regression")])
    with pytest.raises(ValueError, match="takes two binary tasks"):
        build(EntireSpaceProduct(), tasks=["click", "like", "share"])
    with pytest.raises(ValueError, match=r"task names \['p_up'\] clash"):
        build(LatentEmotionMixture(alpha=0.2), tasks=["click", "p_up"])
    routing = GroupRouting("city", ["a", "b"], [0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="takes no output head"):
        build(routing, EntireSpaceProduct())
    with pytest.raises(ValueError, match="'score' is not a categorical feature"):
        build(GroupRouting("score", ["a"], [0]))


def test_mfh_routing_on_mmoe_gives_each_group_towers_over_shared_experts(
    synthetic_dataset, synthetic_preprocessor, tmp_path
):
    keras.utils.set_random_seed(7)
    groups = {"south": ["nice"], "north": ["lille", "paris", "lyon"]}
    routing = GroupRouting.from_preprocessor(
        synthetic_preprocessor, "city", groups, tower_units={"north": [6]}
    )
    model = models.MMoE(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        num_experts=2,
        expert_units=[4],
        tower_units=[3],
        heads=[routing, BiasLogit(["device"], name="device_bias")],
    )
    assert sorted(model.towers) == ["click__north", "click__south", "like__north", "like__south"]
    assert model.towers["like__north"].units == [6] and model.towers["like__south"].units == [3]
    # One gate per (group, task), named after the tower it feeds.
    assert sorted(model.gate_expert_names()) == sorted(model.towers)

    raw = _raw(synthetic_dataset, rows=64)
    south = raw["city"] == "nice"
    assert south.any() and (~south).any()
    with tf.GradientTape() as tape:
        outputs = model({k: v[south] for k, v in raw.items()}, training=True)
        loss = tf.reduce_mean(outputs["click"]) + tf.reduce_mean(outputs["like"])
    variables = model.trainable_variables
    gradients = tape.gradient(loss, variables)
    touched = {
        v.path.split("/")[1]
        for v, g in zip(variables, gradients)
        if g is not None and "tower_" in v.path and float(tf.reduce_max(tf.abs(g))) > 0
    }
    assert touched == {"tower_click__south", "tower_like__south"}, touched

    path = str(tmp_path / "routed.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    served = tf.saved_model.load(export_saved_model(reloaded, str(tmp_path), "routed", 1))
    answer = served.signatures["serving_default"](**{k: tf.constant(v) for k, v in raw.items()})
    assert sorted(answer) == sorted(["click", "like", *model.towers])
    # The served task prediction is the own group's tower's, after the bias head.
    x = synthetic_preprocessor(raw)
    with model.preprocessed_inputs():
        expected = model(x)["like"]
    np.testing.assert_allclose(np.ravel(answer["like"]), np.ravel(expected), rtol=1e-5)
