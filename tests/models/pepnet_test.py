"""PEPNet: the shared round trip (tests/model_test_case.py), its gates, its feature lists."""

import keras
import numpy as np
import pytest

from tests.model_test_case import run_model_round_trip
from zoo.layers.heads.bias_logit import BiasLogit
from zoo.models.pepnet import PEPNet

# The synthetic dataset's features: city, device, query (categorical), age, score (numeric).
CONFIGS = {
    "epnet-and-ppnet": {
        "domain_features": ["device"],
        "personal_features": ["city", "query"],
        "hidden_units": [8, 6],
        "gate_hidden_dim": 6,
        "field_dim": 4,
    },
    "defaults-unit-gates": {"hidden_units": [8], "field_dim": 3, "epnet_granularity": "unit"},
}


def _build(dataset, preprocessor, **kwargs):
    keras.utils.set_random_seed(3)
    return PEPNet(tasks=dataset.tasks, preprocessor=preprocessor, tower_units=[4], **kwargs)


def _features(dataset, rows=None):
    data = dataset.split("test").features
    return data if rows is None else {k: v[:rows] for k, v in data.items()}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_fit_save_reload_export(config, synthetic_dataset, synthetic_preprocessor, tmp_path):
    model = _build(synthetic_dataset, synthetic_preprocessor, **CONFIGS[config])
    # One SavedModel export per model class (the slow part): the variant with
    # every gate exports; the other fits and reloads from .keras only.
    trip = run_model_round_trip(
        model,
        synthetic_dataset,
        synthetic_preprocessor,
        tmp_path,
        extra_outputs=(),
        export=config == "epnet-and-ppnet",
    )
    # Every part trains: the embedding, the task DNNs, their gates (and EPNet's gate).
    moved = {
        w.path.split("/")[-2]
        for b, w in zip(trip.before, model.trainable_weights)
        if b.shape == w.shape and not np.allclose(b, np.array(w))
    }
    assert {f"table_dim_{CONFIGS[config]['field_dim']}", "hidden", "output"} <= moved, moved


def test_defaults_epnet_off_and_categorical_priors(synthetic_dataset, synthetic_preprocessor):
    model = _build(synthetic_dataset, synthetic_preprocessor)
    assert model.embedding.domain_gate is None  # no domain feature named: O_ep = E
    assert model.personal_features == ["city", "device", "query"]
    assert model.switcher.prior_dim == 3 * model.field_dim
    assert model.tower_units == [4]
    assert PEPNet(tasks=["a"], preprocessor=synthetic_preprocessor).tower_units == []

    named = _build(synthetic_dataset, synthetic_preprocessor, domain_features="device")
    # A domain feature is not a default prior; numeric features never are.
    assert named.domain_features == ["device"]
    assert named.personal_features == ["city", "query"]
    assert (
        _build(synthetic_dataset, synthetic_preprocessor, personal_features=[]).switcher.prior_dim
        == 0
    )


def test_personalization_gates_are_named_by_task_and_in_range(
    synthetic_dataset, synthetic_preprocessor
):
    model = _build(synthetic_dataset, synthetic_preprocessor, **CONFIGS["epnet-and-ppnet"])
    gates = model.personalization_gates(_features(synthetic_dataset, rows=7))
    assert sorted(gates) == [
        "click/layer_0",
        "click/layer_1",
        "domain",
        "like/layer_0",
        "like/layer_1",
    ]
    assert tuple(gates["domain"].shape) == (7, 5)  # one gate per feature (field)
    assert tuple(gates["like/layer_1"].shape) == (7, 6)
    for delta in gates.values():
        delta = np.asarray(delta)
        assert (delta > 0).all() and (delta < 2.0).all()
    # The tasks' gates differ: each task reads its own slice of the Gate NU.
    assert not np.allclose(gates["click/layer_0"], gates["like/layer_0"])
    assert model.gate_weights(_features(synthetic_dataset, rows=3)) == {}


def test_bad_feature_names_raise(synthetic_dataset, synthetic_preprocessor):
    listing = r"city, device, query, age, score"
    with pytest.raises(ValueError, match=rf"'devise' in domain_features.*{listing}"):
        _build(synthetic_dataset, synthetic_preprocessor, domain_features=["devise"])
    with pytest.raises(ValueError, match=rf"'user_id' in personal_features.*{listing}"):
        _build(synthetic_dataset, synthetic_preprocessor, personal_features=["city", "user_id"])
    with pytest.raises(ValueError, match="field_dim >= 1"):
        _build(synthetic_dataset, synthetic_preprocessor, field_dim=0)
    with pytest.raises(ValueError, match="granularity"):
        _build(synthetic_dataset, synthetic_preprocessor, epnet_granularity="row")


def test_default_priors_leave_out_what_a_head_keeps_from_the_backbone(
    synthetic_dataset, synthetic_preprocessor
):
    # A selection-bias head keeps "device" out of the backbone (serving does not know it).
    head = BiasLogit(["device"], known_at_serving=False, dropout=0.1, name="shallow")
    model = _build(synthetic_dataset, synthetic_preprocessor, heads=[head])
    assert model.personal_features == ["city", "query"]
    assert model.switcher.prior_dim == model.embedding.prior_dim == 2 * model.field_dim
    x = _features(synthetic_dataset, rows=5)
    assert model.predict(x, verbose=0)["click"].shape == (5, 1)
