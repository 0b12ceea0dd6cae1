"""The backbone is a layer of its own: features in, one representation per task out."""

import keras
import numpy as np
import pytest

from zoo import models
from zoo.layers.backbones.multitask_backbone import MultiTaskBackbone
from zoo.layers.heads.bias_logit import BiasLogit
from zoo.layers.switchers.mmoe import MMoESwitcher


def _backbone(preprocessor, features=None):
    return MultiTaskBackbone(
        features or preprocessor.embedding_features(),
        MMoESwitcher(2, num_experts=3, expert_units=[8]),
        name="backbone",
    )


def test_a_backbone_gives_each_task_its_representation_and_the_gates_say_how(
    synthetic_dataset, synthetic_preprocessor
):
    keras.utils.set_random_seed(1)
    backbone = _backbone(synthetic_preprocessor)
    x = synthetic_preprocessor({k: v[:32] for k, v in synthetic_dataset.test.features.items()})
    branches, gates = backbone(x, return_gate_weights=True)
    assert [tuple(b.shape) for b in branches] == [(32, 8), (32, 8)]
    assert sorted(gates) == ["task_0", "task_1"]
    np.testing.assert_allclose(np.sum(gates["task_0"], axis=-1), 1.0, rtol=1e-5)
    # The two tasks see different mixtures of the same experts.
    assert not np.allclose(branches[0], branches[1])
    clone = MultiTaskBackbone.from_config(backbone.get_config())
    assert [f["name"] for f in clone.features] == [f["name"] for f in backbone.features]


def test_a_model_on_a_given_backbone_trains_saves_and_reloads(
    synthetic_dataset, synthetic_preprocessor, tmp_path
):
    keras.utils.set_random_seed(3)
    backbone = _backbone(synthetic_preprocessor)
    model = models.MultiTaskModel(
        synthetic_dataset.tasks, backbone=backbone, preprocessor=synthetic_preprocessor
    )
    assert model.backbone is backbone and model.switcher is backbone.switcher
    raw = {k: v[:64] for k, v in synthetic_dataset.test.features.items()}
    labels = {t: synthetic_dataset.test.labels[t][:64] for t in ("click", "like")}
    model.compile(optimizer="adam")
    model.build()
    before = [np.array(w) for w in backbone.switcher.weights]
    model.fit(raw, labels, epochs=1, verbose=0)
    # Training the model trains the backbone it was given.
    assert any(not np.allclose(b, np.array(w)) for b, w in zip(before, backbone.switcher.weights))
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.backbone) is MultiTaskBackbone
    np.testing.assert_allclose(
        reloaded.predict(raw, verbose=0)["click"], model.predict(raw, verbose=0)["click"], rtol=1e-5
    )


def test_a_backbone_of_other_features_than_the_model_gives_is_named(synthetic_preprocessor):
    head = BiasLogit(["device"], known_at_serving=False, dropout=0.1)
    with pytest.raises(ValueError, match="the model gives it"):
        models.MultiTaskModel(
            ["click", "like"],
            backbone=_backbone(synthetic_preprocessor),
            preprocessor=synthetic_preprocessor,
            heads=[head],
        )
    with pytest.raises(ValueError, match="not both"):
        models.MultiTaskModel(
            ["click", "like"],
            backbone=_backbone(synthetic_preprocessor),
            switcher=MMoESwitcher(2, num_experts=2, expert_units=[4]),
            preprocessor=synthetic_preprocessor,
        )
