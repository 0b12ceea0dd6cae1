"""Cross-Stitch, SNR-Trans and SNR-Aver: what their shared weights and coding variables do."""

import keras
import numpy as np
import pytest

from zoo.models.cross_stitch import CrossStitch
from zoo.models.snr import SNRAver, SNRTrans

MODEL_KWARGS = {
    CrossStitch: {"units": [8, 8], "self_weight": 0.8},
    SNRTrans: {"num_layers": 2, "num_experts": 3, "expert_units": [8, 6], "l0_strength": 1e-3},
    SNRAver: {"num_layers": 2, "num_experts": 3, "expert_units": 8, "dropout": 0.1},
}
ALL_MODELS = list(MODEL_KWARGS)


def _build(model_cls, dataset, preprocessor, **kwargs):
    keras.utils.set_random_seed(3)
    return model_cls(
        tasks=dataset.tasks,
        preprocessor=preprocessor,
        tower_units=[4],
        **{**MODEL_KWARGS[model_cls], **kwargs},
    )


def _features(dataset, split="test", rows=None):
    """Raw feature columns: what the models take."""
    data = dataset.split(split).features
    if rows is not None:
        data = {k: v[:rows] for k, v in data.items()}
    return data


# Training, .keras round trip and export are in models_test.py with every model.
@pytest.mark.parametrize("model_cls", ALL_MODELS, ids=lambda c: c.__name__)
def test_shared_weights_learn_under_xla(model_cls, synthetic_dataset, synthetic_preprocessor):
    model = _build(model_cls, synthetic_dataset, synthetic_preprocessor)
    model.build()
    model.compile(jit_compile=True)
    assert model.jit_compile, "Keras fell back from XLA: a layer does not support it"
    train = synthetic_dataset.tf_dataset("train", synthetic_preprocessor, 64, shuffle=True, seed=1)
    before = {w.path: np.array(w) for w in model.trainable_weights}
    assert before
    with model.preprocessed_inputs():  # the zoo's pipeline preprocesses once, cached
        history = model.fit(train, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    changed = {w.path for w in model.trainable_weights if not np.allclose(before[w.path], w)}
    # The weights every task shares (alpha, or SNR's first layer) learn too.
    for w in model.switcher.shared_weights():
        assert w.path in changed, w.path
    if model_cls is not CrossStitch:
        assert all(a.path in changed for a in model.switcher.log_alphas), "z never moved"

    # Inference is deterministic: no coding-variable noise, no dropout.
    x = _features(synthetic_dataset)
    predictions = model.predict(x, verbose=0)
    again = model.predict(x, verbose=0)
    for task in predictions:
        np.testing.assert_array_equal(predictions[task], again[task])


@pytest.mark.parametrize("model_cls", [SNRTrans, SNRAver], ids=lambda c: c.__name__)
def test_l0_penalty_enters_the_training_loss(model_cls, synthetic_dataset, synthetic_preprocessor):
    model = _build(model_cls, synthetic_dataset, synthetic_preprocessor, l0_strength=0.5)
    x = _features(synthetic_dataset, rows=16)
    model(x, training=False)
    assert model.losses == []
    model(x, training=True)
    assert len(model.losses) == 1
    expected = 0.5 * model.switcher.l0_penalty().numpy()
    np.testing.assert_allclose(model.losses[0].numpy(), expected, rtol=1e-5)


def test_cross_stitch_config_keeps_every_argument(synthetic_preprocessor):
    model = CrossStitch(
        tasks=["click", "like"],
        preprocessor=synthetic_preprocessor,
        units=[6],
        self_weight=0.7,
        tower_units=[3],
        dropout=0.1,
        tower_dropout=0.2,
    )
    config = model.get_config()
    assert (config["units"], config["self_weight"], config["dropout"]) == ([6], 0.7, 0.1)
    assert (config["tower_units"], config["tower_dropout"]) == ([3], 0.2)
    clone = CrossStitch.from_config(config)
    assert clone.get_config() == config
    np.testing.assert_allclose(clone.switcher.initial_alpha(), [[0.7, 0.3], [0.3, 0.7]])


def test_snr_config_keeps_every_argument(synthetic_preprocessor):
    model = SNRAver(
        tasks=["click", "like"],
        preprocessor=synthetic_preprocessor,
        num_layers=3,
        num_experts=2,
        expert_units=5,
        l0_strength=0.01,
    )
    config = model.get_config()
    assert config["expert_units"] == [5, 5, 5]
    assert (config["num_layers"], config["num_experts"], config["l0_strength"]) == (3, 2, 0.01)
    clone = SNRAver.from_config(config)
    assert clone.get_config() == config
    assert type(clone.switcher).__name__ == "SNRAverSwitcher"
