"""The YouTube ranker: a shallow tower over bias features, left out when serving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.data import Split, TabularDataset
from zoo.export import export_saved_model
from zoo.features import CategoricalFeature, NumericFeature
from zoo.tasks import Task
from zoo.training import TrainingConfig, evaluate, fit


def _model(preprocessor, **kwargs):
    keras.utils.set_random_seed(0)
    kwargs = {"bias_features": ["device"], "num_experts": 2, "expert_units": [8], **kwargs}
    return models.YouTubeMMoE(tasks=["click", "like"], preprocessor=preprocessor, **kwargs)


def _raw(dataset, rows=16):
    return {k: v[:rows] for k, v in dataset.test.features.items()}


def test_the_backbone_never_sees_the_bias_features(synthetic_preprocessor):
    model = _model(synthetic_preprocessor)
    assert "device" not in [f["name"] for f in model.embedding.features]
    assert [f["name"] for f in model.shallow_embedding.features] == ["device"]


def test_bias_features_move_only_the_bias_tasks_by_one_shared_logit(
    synthetic_dataset, synthetic_preprocessor
):
    model = _model(synthetic_preprocessor, bias_tasks=["click"])
    raw = _raw(synthetic_dataset)
    moved = dict(raw, device=(raw["device"] + 2) % 5)
    before = model.task_logits(synthetic_preprocessor(raw))
    after = model.task_logits(synthetic_preprocessor(moved))
    np.testing.assert_allclose(np.asarray(before["like"]), np.asarray(after["like"]), rtol=1e-6)
    shift = np.asarray(after["click"]) - np.asarray(before["click"])
    assert np.abs(shift).max() > 0
    shallow = lambda r: np.asarray(  # noqa: E731
        model.shallow_tower(model.shallow_embedding(synthetic_preprocessor(r)))
    )
    np.testing.assert_allclose(shift, shallow(moved) - shallow(raw), rtol=1e-4, atol=1e-6)


def test_default_bias_tasks_are_binary_and_regression_tasks(synthetic_preprocessor):
    tasks = [Task("click"), Task("watch", "regression"), Task("rating", "multiclass", 3)]
    model = models.YouTubeMMoE(
        tasks=tasks, preprocessor=synthetic_preprocessor, bias_features=["device"]
    )
    assert model.bias_tasks == ["click", "watch"]


def test_configuration_errors_name_the_problem(synthetic_preprocessor):
    with pytest.raises(ValueError, match=r"features \['position'\] are not features"):
        models.YouTubeMMoE(tasks=["click"], preprocessor=synthetic_preprocessor)
    with pytest.raises(ValueError, match="shallow_tower_head names 'watch', which is not a task"):
        _model(synthetic_preprocessor, bias_tasks=["watch"])
    with pytest.raises(ValueError, match="multiclass"):
        models.YouTubeMMoE(
            tasks=[Task("rating", "multiclass", 3)],
            preprocessor=synthetic_preprocessor,
            bias_features=["device"],
            bias_tasks=["rating"],
        )
    with pytest.raises(ValueError, match="needs a feature known at serving time"):
        _model(synthetic_preprocessor, bias_tower_feature="device")
    with pytest.raises(ValueError, match="rate in"):
        _model(synthetic_preprocessor, bias_dropout=1.0)
    with pytest.raises(ValueError, match="ranking_weights names 'watch'"):
        _model(synthetic_preprocessor, ranking_weights={"watch": 1.0})


def test_serving_leaves_bias_features_out_and_adds_the_ranking_score(
    synthetic_dataset, synthetic_preprocessor, tmp_path
):
    model = _model(synthetic_preprocessor, ranking_weights={"click": 1.0, "like": 0.25})
    fit(model, synthetic_dataset, TrainingConfig(epochs=1, batch_size=64, verbose=0))
    raw = _raw(synthetic_dataset)
    x = synthetic_preprocessor(raw)
    without = {k: v for k, v in raw.items() if k != "device"}
    # Raw features without the bias feature: the debiased predictions.
    debiased = model(without)
    with model.preprocessed_inputs():
        # "Unknown" is the id dropout trains: the out-of-vocabulary id 0.
        unknown = model(dict(x, device=tf.zeros_like(x["device"])))
    np.testing.assert_allclose(debiased["click"], unknown["click"], rtol=1e-6)
    biased = model(raw)
    assert not np.allclose(debiased["click"], biased["click"])

    path = str(tmp_path / "m.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_allclose(reloaded(without)["click"], debiased["click"], rtol=1e-6)

    loaded = tf.saved_model.load(export_saved_model(model, str(tmp_path), "yt", 1))
    default = loaded.signatures["serving_default"]
    assert "device" not in default.structured_input_signature[1]
    served = default(**{k: tf.constant(v) for k, v in raw.items() if k != "device"})
    np.testing.assert_allclose(served["click"], np.asarray(debiased["click"])[:, 0], rtol=1e-5)
    np.testing.assert_allclose(
        served["ranking_score"],
        served["click"].numpy() + 0.25 * served["like"].numpy(),
        rtol=1e-5,
    )
    with_bias = loaded.signatures["with_bias_features"](
        **{k: tf.constant(v) for k, v in raw.items()}
    )
    np.testing.assert_allclose(with_bias["click"], np.asarray(biased["click"])[:, 0], rtol=1e-5)


def _position_biased_dataset(num_rows, seed):
    # Relevance from the features; clicks only where relevant and examined,
    # P(examined at position p) = 1 / p^2, positions drawn at random.
    rng = np.random.default_rng(seed)

    def split(n):
        quality = rng.normal(size=n).astype("float32")
        noise = rng.normal(size=n).astype("float32")
        position = rng.integers(1, 6, n).astype("int64")
        relevant = rng.random(n) < 1 / (1 + np.exp(-2 * quality))
        examined = rng.random(n) < 1.0 / position**2
        return Split(
            features={"quality": quality, "noise": noise, "position": position},
            labels={"click": (relevant & examined).astype("float32")},
        )

    return TabularDataset(
        name="biased",
        features=[
            NumericFeature("quality"),
            NumericFeature("noise"),
            CategoricalFeature("position", dtype="int64", embedding_dim=2),
        ],
        tasks=[Task("click")],
        train=split(num_rows),
        validation=split(num_rows // 4),
        test=split(num_rows // 4),
    )


def test_the_shallow_tower_learns_that_lower_positions_are_clicked_less():
    dataset = _position_biased_dataset(6000, seed=0)
    preprocessor = dataset.make_preprocessor()
    keras.utils.set_random_seed(1)
    model = models.YouTubeMMoE(
        tasks=dataset.tasks, preprocessor=preprocessor, num_experts=2, expert_units=[8]
    )
    fit(model, dataset, TrainingConfig(epochs=8, batch_size=128, learning_rate=1e-2, verbose=0))
    positions = np.arange(1, 6, dtype="int64")
    ids = preprocessor(
        {"quality": np.zeros(5, "float32"), "noise": np.zeros(5, "float32"), "position": positions}
    )
    shallow = np.asarray(
        model.shallow_tower(model.shallow_embedding({"position": ids["position"]}))
    ).ravel()
    # log(1/p^2) falls by 3.2 from position 1 to 5; the logit should follow.
    assert shallow[0] - shallow[4] > 1.5, shallow
    # Served without position, the model still ranks by relevance.
    metrics = evaluate(model, dataset, "test")
    assert metrics["click"]["auc"] > 0.65
