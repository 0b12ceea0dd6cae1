"""AITM and DBMTL: the shared round trip (fit, .keras, SavedModel), their heads' outputs, errors."""

import keras
import numpy as np
import pytest

from tests.model_test_case import run_model_round_trip
from zoo.data import generate_funnel, load_synthetic_funnel
from zoo.metrics import roc_auc
from zoo.models.aitm import AITM
from zoo.models.dbmtl import DBMTL
from zoo.tasks import Task
from zoo.training import TrainingConfig, fit

CASES = {
    "aitm": (AITM, {"hidden_units": [8, 6], "transfer_units": [4], "dropout": 0.1}),
    "dbmtl": (DBMTL, {"bottom_units": [8], "task_units": [6], "relation_units": [4]}),
    "dbmtl_mmoe": (
        DBMTL,
        {
            "bottom_units": [8],
            "num_experts": 3,
            "expert_units": [6],
            "task_units": [],
            "relation_units": [5],
            "relations": {"like": ["click"]},
        },
    ),
}
# AITM serves P(like | click) besides the tasks (the fixture's tasks stand for a funnel).
EXTRA_OUTPUTS = {"aitm": ["like_given_click"], "dbmtl": [], "dbmtl_mmoe": []}


def _build(case, dataset, preprocessor, **overrides):
    keras.utils.set_random_seed(3)
    model_cls, kwargs = CASES[case]
    return model_cls(
        tasks=dataset.tasks, preprocessor=preprocessor, tower_units=[4], **{**kwargs, **overrides}
    )


def _raw(dataset, rows):
    return {k: v[:rows] for k, v in dataset.test.features.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_fit_save_reload_export(case, synthetic_dataset, synthetic_preprocessor, tmp_path):
    model = _build(case, synthetic_dataset, synthetic_preprocessor)
    # One SavedModel export per model class (the slow part): DBMTL over an MMoE
    # bottom fits and reloads from .keras only.
    trip = run_model_round_trip(
        model,
        synthetic_dataset,
        synthetic_preprocessor,
        tmp_path,
        extra_outputs=EXTRA_OUTPUTS[case],
        export=case != "dbmtl_mmoe",
    )
    if case == "aitm":
        assert list(trip.served) == [1, 37]
        for rows, served in trip.served.items():
            raw = _raw(synthetic_dataset, rows)
            expected = model.conditional_predictions(synthetic_preprocessor(raw))
            np.testing.assert_allclose(
                served["like_given_click"],
                np.asarray(expected["like_given_click"])[:, 0],
                atol=1e-5,
            )


def test_aitm_adds_the_calibrator_to_its_training_loss(synthetic_dataset, synthetic_preprocessor):
    model = _build("aitm", synthetic_dataset, synthetic_preprocessor, dropout=0.0)
    x = synthetic_preprocessor(_raw(synthetic_dataset, 64))
    with model.preprocessed_inputs():
        outputs = model(x, training=True)
        (calibrator,) = model.losses
        p_click, p_like = (np.asarray(outputs[t], "float64") for t in ("click", "like"))
        np.testing.assert_allclose(
            float(calibrator), 0.6 * np.maximum(p_like - p_click, 0).mean(), rtol=1e-5
        )
        conditional = model.conditional_predictions(x)["like_given_click"]
        np.testing.assert_allclose(conditional, np.minimum(p_like / p_click, 1.0), rtol=1e-5)
        model(x, training=False)
        assert model.losses == []


def test_aitm_arguments_and_config(synthetic_dataset, synthetic_preprocessor):
    model = _build("aitm", synthetic_dataset, synthetic_preprocessor, calibrator_weight=0.3)
    config = model.get_config()
    assert config["calibrator_weight"] == 0.3 and config["heads"] == []
    assert config["hidden_units"] == [8, 6] and config["transfer_units"] == [4]
    arguments = AITM.constructor_arguments()
    assert arguments["calibrator_weight"].default == 0.6
    assert arguments["hidden_units"].default == (128, 64, 32)
    assert arguments["tower_units"].default == ()


def test_dbmtl_relations_by_name(synthetic_dataset, synthetic_preprocessor):
    chain = _build("dbmtl", synthetic_dataset, synthetic_preprocessor)
    assert chain.relations is None and chain.switcher.relations == [[], [0]]
    free = _build("dbmtl", synthetic_dataset, synthetic_preprocessor, relations={})
    assert free.get_config()["relations"] == {"click": [], "like": []}
    assert free.switcher.relations == [[], []]
    assert DBMTL.constructor_arguments()["relations"].owner == "DBMTL"


def test_errors_name_the_problem(synthetic_preprocessor):
    with pytest.raises(ValueError, match=r"two or more binary tasks.*\['click'\]"):
        AITM(tasks=["click"], preprocessor=synthetic_preprocessor)
    with pytest.raises(ValueError, match=r"'score'.*not binary"):
        AITM(
            tasks=[Task("click"), Task("score", "regression")], preprocessor=synthetic_preprocessor
        )
    with pytest.raises(ValueError, match="clash"):
        AITM(tasks=["click", "buy", "buy_given_click"], preprocessor=synthetic_preprocessor)
    with pytest.raises(ValueError, match=r"\['cart'\], which are not tasks.*\['click', 'like'\]"):
        DBMTL(
            tasks=["click", "like"],
            preprocessor=synthetic_preprocessor,
            relations={"like": ["cart"]},
        )
    with pytest.raises(ValueError, match=r"'click' depends on \['like'\].*forward reference"):
        DBMTL(
            tasks=["click", "like"],
            preprocessor=synthetic_preprocessor,
            relations={"click": ["like"]},
        )
    with pytest.raises(ValueError, match=r"'like' depends on \['like'\].*cycle"):
        DBMTL(
            tasks=["click", "like"],
            preprocessor=synthetic_preprocessor,
            relations={"like": ["like"]},
        )
    with pytest.raises(ValueError, match="dict from task name"):
        DBMTL(tasks=["click", "like"], preprocessor=synthetic_preprocessor, relations=[[], [0]])
    with pytest.raises(ValueError, match="list of task names"):
        DBMTL(
            tasks=["click", "like"],
            preprocessor=synthetic_preprocessor,
            relations={"like": "click"},
        )


@pytest.mark.slow
def test_aitm_learns_the_conversion_rate_of_every_impression():
    dataset = load_synthetic_funnel(num_rows=24000, seed=4)
    preprocessor = dataset.make_preprocessor()
    keras.utils.set_random_seed(4)
    model = AITM(tasks=dataset.tasks, preprocessor=preprocessor, hidden_units=[64, 32])
    fit(model, dataset, TrainingConfig(epochs=4, batch_size=256, learning_rate=3e-3, verbose=0))
    raw = dataset.test.features
    predictions = model.predict(raw, verbose=0)
    cvr = np.asarray(model.conditional_predictions(preprocessor(raw))["purchase_given_click"])
    truth = generate_funnel(24000, seed=4)
    start = dataset.settings["test_rows"][0]
    # P(purchase | click) on every impression, against conversions drawn from the true CVR.
    assert roc_auc(truth["counterfactual_conversion"][start:], cvr.ravel()) > 0.7
    assert np.corrcoef(cvr.ravel(), truth["true_cvr"][start:])[0, 1] > 0.6
    # The calibrator keeps the funnel in order almost everywhere.
    assert np.mean(predictions["purchase"] > predictions["click"]) < 0.02
