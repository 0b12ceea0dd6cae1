"""ESCM2: ESMM's product plus the counterfactual CVR risk (IPS or doubly robust)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.data import generate_funnel, load_synthetic_funnel
from zoo.export import export_saved_model
from zoo.layers import EntireSpaceCounterfactual
from zoo.metrics import roc_auc
from zoo.tasks import as_tasks

CLICK = np.array([1.0, 1.0, 0.0, 0.0, 1.0], "float32")
CONVERTED = np.array([1.0, 0.0, 0.0, 0.0, 1.0], "float32")  # click and convert
P_CTR = np.array([0.5, 0.01, 0.2, 0.9, 0.3], "float32")
P_CVR = np.array([0.6, 0.3, 0.4, 0.1, 0.8], "float32")
PSEUDO = np.array([0.2, 0.5, 0.7, 0.05, 0.9], "float32")
WEIGHT = np.array([1.0, 1.0, 1.0, 0.0, 1.0], "float32")  # row 3 has no label


def _cross_entropy(label, p):
    return -(label * np.log(p) + (1 - label) * np.log(1 - p))


def _head(estimator, **kwargs):
    head = EntireSpaceCounterfactual(estimator=estimator, **kwargs)
    return head.bind([], as_tasks(["click", "purchase"]))


def _label_loss(head, p_ctr=P_CTR, p_cvr=P_CVR, pseudo=PSEUDO):
    column = lambda v: tf.reshape(tf.convert_to_tensor(v), (-1, 1))  # noqa: E731
    outputs = {"click": column(p_ctr), "purchase": column(p_ctr * p_cvr), "cvr": column(p_cvr)}
    if head.estimator == "dr":
        outputs["imputed_cvr"] = column(pseudo)
    labels = {"click": column(CLICK), "purchase": column(CONVERTED)}
    weights = {"click": tf.constant(WEIGHT), "purchase": tf.constant(WEIGHT)}
    return head.label_loss(labels, outputs, weights)


def test_ips_risk_is_the_inverse_propensity_weighted_cvr_loss():
    head = _head("ips", counterfactual_weight=0.5, min_propensity=0.05)
    propensity = np.maximum(P_CTR, 0.05)  # row 1: 0.01 is raised to 0.05
    risk = CLICK * _cross_entropy(CONVERTED, P_CVR) / propensity
    expected = 0.5 * (WEIGHT * risk).sum() / WEIGHT.sum()
    np.testing.assert_allclose(float(_label_loss(head)), expected, rtol=1e-5)


def test_dr_risk_adds_imputed_errors_and_the_imputation_loss():
    head = _head("dr", counterfactual_weight=0.2, min_propensity=0.05)
    propensity = np.maximum(P_CTR, 0.05)
    error = _cross_entropy(CONVERTED, P_CVR)
    imputed = _cross_entropy(PSEUDO, P_CVR)
    risk = imputed + CLICK * (error - imputed) / propensity
    imputation = CLICK * (error - imputed) ** 2 / propensity
    expected = 0.2 * (WEIGHT * (risk + imputation)).sum() / WEIGHT.sum()
    np.testing.assert_allclose(float(_label_loss(head)), expected, rtol=1e-5)


@pytest.mark.parametrize("estimator", ["ips", "dr"])
def test_gradients_reach_pcvr_and_never_the_propensity(estimator):
    head = _head(estimator)
    p_ctr, p_cvr, pseudo = (tf.Variable(v) for v in (P_CTR, P_CVR, PSEUDO))
    with tf.GradientTape() as tape:
        loss = _label_loss(head, p_ctr, p_cvr, pseudo)
    d_ctr, d_cvr, d_pseudo = tape.gradient(loss, [p_ctr, p_cvr, pseudo])
    unclicked = (CLICK == 0) & (WEIGHT > 0)
    # The propensity is a constant: pCTR moves only through pCTCVR's own task loss.
    assert d_ctr is None or not np.asarray(d_ctr).any()
    assert np.asarray(d_cvr)[CLICK == 1].all()
    assert not np.asarray(d_cvr)[WEIGHT == 0].any()
    if estimator == "ips":
        # Unclicked rows have no conversion label to learn from.
        assert not np.asarray(d_cvr)[unclicked].any()
        assert d_pseudo is None
    else:
        # Their imputed error teaches pCVR on every impression ...
        assert np.asarray(d_cvr)[unclicked].all()
        # ... and only the clicked rows teach the imputation tower (L_IMP).
        d_pseudo = np.asarray(d_pseudo)
        assert d_pseudo[CLICK == 1].all() and not d_pseudo[CLICK == 0].any()


def test_arguments_and_task_names_are_checked(synthetic_preprocessor):
    with pytest.raises(ValueError, match="estimator.*'ipw'"):
        EntireSpaceCounterfactual(estimator="ipw")
    with pytest.raises(ValueError, match="min_propensity"):
        EntireSpaceCounterfactual(min_propensity=0.0)
    with pytest.raises(ValueError, match="counterfactual_weight"):
        EntireSpaceCounterfactual(counterfactual_weight=-1)
    with pytest.raises(ValueError, match="clash"):
        models.ESCM2(
            tasks=["click", "imputed_cvr"], preprocessor=synthetic_preprocessor, estimator="dr"
        )
    with pytest.raises(ValueError, match="two binary tasks"):
        models.ESCM2(tasks=["a", "b", "c"], preprocessor=synthetic_preprocessor)


def test_trains_saves_and_serves_cvr_without_training_outputs(tmp_path):
    dataset = load_synthetic_funnel(num_rows=24000, seed=4)
    preprocessor = dataset.make_preprocessor()
    keras.utils.set_random_seed(4)
    model = models.ESCM2(
        tasks=dataset.tasks,
        preprocessor=preprocessor,
        hidden_units=[32],
        estimator="dr",
        imputation_units=[16],
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
    history = model.fit(
        dataset.train.features,
        dataset.train.labels,
        validation_data=(dataset.validation.features, dataset.validation.labels),
        epochs=4,
        batch_size=256,
        verbose=0,
    )
    # The logs are the tasks' (no metric or loss for the training-only pseudo-labels).
    task_logs = [
        f"{prefix}{task}_{kind}"
        for prefix in ("", "val_")
        for task in ("click", "purchase")
        for kind in ("auc", "loss")
    ]
    assert sorted(history.history) == sorted([*task_logs, "loss", "val_loss"])
    raw = dataset.test.features
    cvr = np.asarray(model.cvr_predictions(preprocessor(raw))).ravel()
    truth = generate_funnel(24000, seed=4)
    start = dataset.settings["test_rows"][0]
    # Scored on every impression, against conversions drawn from the true CVR.
    assert roc_auc(truth["counterfactual_conversion"][start:], cvr) > 0.7
    assert sorted(model.predict(raw, verbose=0)) == ["click", "purchase"]

    path = str(tmp_path / "escm2.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.get_config() == model.get_config()
    assert reloaded.output_head.estimator == "dr"
    np.testing.assert_array_equal(
        np.asarray(reloaded.cvr_predictions(preprocessor(raw))).ravel(), cvr
    )

    loaded = tf.saved_model.load(export_saved_model(model, str(tmp_path), "escm2", 1))
    for rows in (1, 37):
        served = loaded.signatures["serving_default"](
            **{k: tf.constant(v[:rows]) for k, v in raw.items()}
        )
        assert sorted(served) == ["click", "cvr", "purchase"]
        np.testing.assert_allclose(served["cvr"].numpy().ravel(), cvr[:rows], rtol=1e-5)


def test_the_head_goes_on_another_backbone(synthetic_dataset, synthetic_preprocessor):
    keras.utils.set_random_seed(1)
    model = models.MMoE(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        num_experts=2,
        expert_units=[8],
        heads=[EntireSpaceCounterfactual(estimator="dr", imputation_units=[4])],
    )
    model.compile(jit_compile=True)
    history = model.fit(
        synthetic_dataset.train.features, synthetic_dataset.train.labels, epochs=2, verbose=0
    )
    assert np.isfinite(history.history["loss"]).all()
    clone = models.MMoE.from_config(model.get_config())
    assert clone.output_head.get_config() == model.output_head.get_config()
