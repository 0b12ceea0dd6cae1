"""Graph models (MoGENet, NGCF, "+MGNN", a graph-score head): train on sub-graphs, serve from
node tables, export a SavedModel that answers a (user, item) request from raw features alone."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.fresh_process import serve_in_fresh_process
from zoo import models
from zoo.export import export_saved_model
from zoo.graphs import GraphInputs
from zoo.layers.graph.ngcf import NGCFEncoder
from zoo.layers.heads.graph_score import GraphScore
from zoo.training.trainer import TrainingConfig, evaluate, fit, predict


@pytest.fixture(scope="module")
def dataset(pair_data):
    return pair_data


@pytest.fixture(scope="module")
def preprocessor(pair_preprocessor):
    return pair_preprocessor


@pytest.fixture(scope="module")
def graph_inputs(dataset, preprocessor):
    return GraphInputs.from_dataset(dataset, preprocessor, top_k=4, fanouts=(3, 2), seed=1)


def _build(name, dataset, preprocessor, graph_inputs):
    keras.utils.set_random_seed(2)

    def encoder():
        return models.make_graph_encoder(graph_inputs, preprocessor, units=6)

    common = {"tasks": dataset.tasks, "preprocessor": preprocessor, "tower_units": [4]}
    if name == "mogenet":
        return models.MoGENet(graph_encoder=encoder(), expert_units=[8], **common)
    if name == "mogenet-mlp-fixed":
        return models.MoGENet(
            graph_encoder=encoder(),
            expert_units=[8],
            interaction="mlp",
            loss_weighting="fixed",
            cooperative_weight=0.0,
            **common,
        )
    if name == "ngcf":
        return models.NGCF(
            num_users=graph_inputs.num_users,
            num_items=graph_inputs.num_items,
            units=4,
            **common,
        )
    if name == "mmoe+mgnn":
        return models.MMoE(num_experts=2, expert_units=[8], graph_encoder=encoder(), **common)
    if name == "single-task+mgnn":
        return models.SingleTask(hidden_units=[8], graph_encoder=encoder(), **common)
    if name == "mmoe-dlen+mgnn":
        return models.MMoEDLEN(
            num_experts=2, expert_units=[8], alpha=0.1, graph_encoder=encoder(), **common
        )
    if name == "mmoe+graph-score":
        score = GraphScore(NGCFEncoder(graph_inputs.num_users, graph_inputs.num_items, units=4))
        return models.MMoE(num_experts=2, expert_units=[8], heads=[score], **common)
    raise KeyError(name)


CONFIG = TrainingConfig(epochs=1, batch_size=128, early_stopping_patience=None, verbose=0)
# Each model's own graph path: MoGENet's switcher, NGCF's encoders, the "+MGNN" input of a
# shared switcher (MMoE), of per-task inputs (single-task) and of DLEN's hidden state, and
# NGCF's score as a head on a feature model.
NAMES = ["mogenet", "ngcf", "mmoe+mgnn", "single-task+mgnn", "mmoe-dlen+mgnn", "mmoe+graph-score"]


def _raw(dataset, rows):
    return {k: v[:rows] for k, v in dataset.test.features.items()}


def test_ngcf_adds_a_learned_bias_per_task_to_the_inner_product(
    dataset, preprocessor, graph_inputs
):
    model = _build("ngcf", dataset, preprocessor, graph_inputs)
    model.build()
    x = _raw(dataset, 8)
    before = {task: np.asarray(p) for task, p in model(x).items()}
    assert any(w is model.task_biases for w in model.trainable_weights)
    model.task_biases.assign([-3.0, 0.0])  # click's bias only
    after = {task: np.asarray(p) for task, p in model(x).items()}

    def logit(p):
        return np.log(p / (1 - p))

    np.testing.assert_allclose(logit(after["click"]), logit(before["click"]) - 3.0, atol=1e-3)
    np.testing.assert_allclose(after["buy"], before["buy"], atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_trains_on_subgraphs_then_serves_from_node_tables(
    name, dataset, preprocessor, graph_inputs, tmp_path
):
    model = _build(name, dataset, preprocessor, graph_inputs)
    assert model.uses_graph
    before = [np.array(w) for w in model.trainable_weights]
    result = fit(model, dataset, CONFIG, graph_inputs=graph_inputs)
    assert np.isfinite(result.history["loss"]).all()
    assert "val_task_loss" in result.history
    # Exact comparison: at initialization the node encodings are small, so the dot-product
    # attention scores are nearly equal and their kernels move by only ~1e-6 in two epochs.
    moved = [not np.array_equal(b, np.array(a)) for b, a in zip(before, model.trainable_weights)]
    assert all(moved), [w.path for w, m in zip(model.trainable_weights, moved) if not m]

    # fit() computed the node tables: the lookup path is what predict, evaluate and export use.
    metrics = evaluate(model, dataset, "test")
    assert 0 <= metrics["click"]["auc"] <= 1 and "gauc" in metrics["click"]
    predictions = predict(model, dataset, "test")
    x = _raw(dataset, 40)
    direct = model(x)
    for task in ("click", "buy"):
        assert predictions[task].shape == (len(dataset.test),)
        np.testing.assert_allclose(predictions[task][:40], direct[task][:, 0], atol=1e-6)

    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is type(model)
    assert reloaded.get_config() == model.get_config()
    for task, value in reloaded(x).items():
        np.testing.assert_allclose(value, direct[task], atol=1e-6)

    export_path = export_saved_model(model, str(tmp_path / "serving"), "graph")
    serve = tf.saved_model.load(export_path).signatures["serving_default"]
    raw = _raw(dataset, 40)
    raw["user_id"] = raw["user_id"].copy()
    raw["user_id"][:3] = [10**12, -5, 777]  # users never seen: the OOV node's row
    served = serve(
        **{k: tf.constant(v.tolist() if v.dtype == object else v) for k, v in raw.items()}
    )
    expected = model(raw)
    for task in ("click", "buy"):
        np.testing.assert_allclose(served[task].numpy(), expected[task][:, 0], atol=1e-5)
        assert np.isfinite(served[task].numpy()).all()


def test_mogenet_loss_terms(dataset, preprocessor, graph_inputs):
    model = _build("mogenet", dataset, preprocessor, graph_inputs)
    features, _ = next(iter(graph_inputs.attach(dataset.tf_dataset("train", preprocessor, 32))))
    with model.preprocessed_inputs():  # the attached sub-graphs come with preprocessed features
        model(features, training=False)
        inference_losses = len(model.losses)  # L2 on experts, gates and towers
        assert inference_losses > 0
        model(features, training=True)
    assert len(model.losses) == inference_losses + 1  # + the cooperative loss
    assert type(model.loss_weighting).__name__ == "UncertaintyWeighting"
    plain = _build("mogenet-mlp-fixed", dataset, preprocessor, graph_inputs)
    with plain.preprocessed_inputs():
        plain(features, training=True)
    assert type(plain.loss_weighting).__name__ == "FixedLossWeights"
    assert len(plain.losses) == inference_losses + 4  # no cooperative loss; 4 kappa MLPs' L2


def test_graph_models_refuse_to_serve_without_node_tables(dataset, preprocessor, graph_inputs):
    model = _build("mogenet", dataset, preprocessor, graph_inputs)
    with pytest.raises(ValueError, match="refresh_graph_tables"):
        predict(model, dataset, "test")
    with pytest.raises(ValueError, match="refresh_graph_tables"):
        export_saved_model(model, "unused", "m")
    with pytest.raises(ValueError, match="pass graph_inputs"):
        fit(model, dataset, CONFIG)
    model.refresh_graph_tables(graph_inputs)
    assert predict(model, dataset, "test")["click"].shape == (len(dataset.test),)


def test_models_that_cannot_take_a_graph_encoder_say_so(dataset, preprocessor, graph_inputs):
    encoder = models.make_graph_encoder(graph_inputs, preprocessor, units=4)
    with pytest.raises(ValueError, match="AutoMTL cannot take a graph encoder"):
        models.AutoMTL(
            tasks=dataset.tasks,
            preprocessor=preprocessor,
            architecture={
                "field_dim": 4,
                "expert_width": 4,
                "interaction": "skip",
                "experts": [["mlp-8"]],
                "task_experts": {"click": [0], "buy": [0]},
            },
            graph_encoder=encoder,
        )
    with pytest.raises(ValueError, match="sampled 2 hops deep.*num_layers=3"):
        models.make_graph_encoder(graph_inputs, preprocessor, num_layers=3)
    with pytest.raises(ValueError, match="needs a graph_encoder"):
        models.MoGENet(tasks=dataset.tasks, graph_encoder=None, preprocessor=preprocessor)


@pytest.mark.slow
def test_fresh_process_serves_the_export_without_zoo(dataset, preprocessor, graph_inputs, tmp_path):
    model = _build("mogenet", dataset, preprocessor, graph_inputs)
    fit(model, dataset, CONFIG, graph_inputs=graph_inputs)
    path = export_saved_model(model, str(tmp_path / "sm"), "mogenet")
    small, large = _raw(dataset, 3), _raw(dataset, 150)
    served = serve_in_fresh_process(path, {"small": small, "large": large}, tmp_path)
    assert served["zoo_imported"] is False
    for batch, raw in (("small", small), ("large", large)):
        expected = model(raw)
        for task in ("click", "buy"):
            np.testing.assert_allclose(served[batch][task], expected[task][:, 0], atol=1e-5)
