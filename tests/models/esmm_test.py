"""ESMM: pCTCVR = pCTR x pCVR, losses on every impression, pCVR served as `cvr`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.data import generate_funnel, load_synthetic_funnel
from zoo.export import export_saved_model
from zoo.metrics import roc_auc
from zoo.tasks import Task
from zoo.training import TrainingConfig, fit


def test_ctcvr_is_the_product_of_ctr_and_cvr(synthetic_dataset, synthetic_preprocessor):
    keras.utils.set_random_seed(0)
    model = models.ESMM(tasks=["click", "like"], preprocessor=synthetic_preprocessor)
    x = synthetic_preprocessor({k: v[:64] for k, v in synthetic_dataset.test.features.items()})
    with model.preprocessed_inputs():  # cvr_predictions below takes them too
        out = model(x)
    cvr = np.asarray(model.cvr_predictions(x))
    np.testing.assert_allclose(np.asarray(out["like"]), np.asarray(out["click"]) * cvr, rtol=1e-6)
    assert (np.asarray(out["like"]) <= np.asarray(out["click"])).all()
    assert ((cvr > 0) & (cvr < 1)).all()


def test_task_errors_are_named(synthetic_preprocessor):
    with pytest.raises(ValueError, match="two binary tasks"):
        models.ESMM(tasks=["a", "b", "c"], preprocessor=synthetic_preprocessor)
    with pytest.raises(ValueError, match="two binary tasks"):
        models.ESMM(tasks=[Task("a"), Task("b", "regression")], preprocessor=synthetic_preprocessor)
    with pytest.raises(ValueError, match="clash"):
        models.ESMM(tasks=["click", "cvr"], preprocessor=synthetic_preprocessor)


def test_learns_the_conversion_rate_of_every_impression_and_serves_it(tmp_path):
    dataset = load_synthetic_funnel(num_rows=24000, seed=4)
    preprocessor = dataset.make_preprocessor()
    keras.utils.set_random_seed(4)
    model = models.ESMM(tasks=dataset.tasks, preprocessor=preprocessor, hidden_units=[32])
    fit(model, dataset, TrainingConfig(epochs=4, batch_size=256, learning_rate=3e-3, verbose=0))
    truth = generate_funnel(24000, seed=4)
    start = dataset.settings["test_rows"][0]
    raw = dataset.test.features
    cvr = np.asarray(model.cvr_predictions(preprocessor(raw))).ravel()
    # Scored on every impression, against conversions drawn from the true CVR.
    assert roc_auc(truth["counterfactual_conversion"][start:], cvr) > 0.7
    assert np.corrcoef(cvr, truth["true_cvr"][start:])[0, 1] > 0.6

    loaded = tf.saved_model.load(export_saved_model(model, str(tmp_path), "esmm", 1))
    head = {k: tf.constant(v[:20]) for k, v in raw.items()}
    served = loaded.signatures["serving_default"](**head)
    assert sorted(served) == ["click", "cvr", "purchase"]
    np.testing.assert_allclose(served["cvr"], cvr[:20], rtol=1e-5)
    np.testing.assert_allclose(
        served["purchase"], served["click"].numpy() * served["cvr"].numpy(), rtol=1e-5
    )
