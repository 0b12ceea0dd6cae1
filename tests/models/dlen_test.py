"""DLEN: P(t) = P(t|UP) P(UP) + P(t|not UP) (1 - P(UP)), with P(t|not UP) <= alpha_t."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.export import export_saved_model
from zoo.models.dlen import base_rates
from zoo.tasks import Task
from zoo.training import TrainingConfig, fit


def _model(preprocessor, model_cls=models.MMoEDLEN, **kwargs):
    keras.utils.set_random_seed(0)
    backbone = (
        {"num_experts": 2, "expert_units": [8]}
        if model_cls is models.MMoEDLEN
        else {"num_task_experts": 1, "num_shared_experts": 1, "expert_units": [8]}
    )
    kwargs = {"alpha": {"click": 0.05, "like": 0.2}, "hidden_state_units": [8], **kwargs}
    return model_cls(tasks=["click", "like"], preprocessor=preprocessor, **backbone, **kwargs)


def _x(dataset, preprocessor, rows=200):
    return preprocessor({k: v[:rows] for k, v in dataset.test.features.items()})


@pytest.mark.parametrize("model_cls", [models.MMoEDLEN, models.PLEDLEN], ids=lambda c: c.__name__)
def test_probability_identities(model_cls, synthetic_dataset, synthetic_preprocessor):
    model = _model(synthetic_preprocessor, model_cls)
    # Push the weights around so the identities are tested away from the initial values.
    fit(model, synthetic_dataset, TrainingConfig(epochs=2, batch_size=64, verbose=0))
    x = _x(synthetic_dataset, synthetic_preprocessor)
    with model.preprocessed_inputs():  # latent_probabilities below takes them too
        outputs = model(x)
    served = model.serving_outputs(x)
    conditionals, p_up = model.latent_probabilities(x)
    p_up = np.asarray(p_up)
    assert ((p_up > 0) & (p_up < 1)).all()
    np.testing.assert_allclose(np.asarray(served["p_up"]), p_up, rtol=1e-6)
    for task, alpha in (("click", 0.05), ("like", 0.2)):
        given_up, given_not_up = (np.asarray(p) for p in conditionals[task])
        p_task = np.asarray(outputs[task])
        joint = np.asarray(served[f"{task}_and_up"])
        assert ((p_task >= 0) & (p_task <= 1)).all()
        assert (given_not_up <= alpha + 1e-7).all() and (given_not_up > 0).all()
        np.testing.assert_allclose(p_task, given_up * p_up + given_not_up * (1 - p_up), rtol=1e-5)
        np.testing.assert_allclose(joint, given_up * p_up, rtol=1e-5)
        assert (joint <= p_task + 1e-7).all()


def test_alpha_from_base_rates_and_errors(synthetic_dataset, synthetic_preprocessor):
    rates = base_rates(synthetic_dataset)
    assert rates["click"] == pytest.approx(synthetic_dataset.train.labels["click"].mean())
    model = _model(synthetic_preprocessor, alpha=None, alpha_ratio=0.5, base_rates=rates)
    assert model.task_alphas["like"] == pytest.approx(0.5 * rates["like"])
    with pytest.raises(ValueError, match="needs each task's positive rate"):
        _model(synthetic_preprocessor, alpha=None)
    with pytest.raises(ValueError, match="not both"):
        _model(synthetic_preprocessor, alpha_ratio=0.2)
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        _model(synthetic_preprocessor, alpha=1.5)
    with pytest.raises(ValueError, match="not binary"):
        models.MMoEDLEN(
            tasks=[Task("click"), Task("watch", "regression")],
            preprocessor=synthetic_preprocessor,
            alpha=0.1,
        )


def test_round_trip_and_export(synthetic_dataset, synthetic_preprocessor, tmp_path):
    model = _model(
        synthetic_preprocessor,
        alpha=None,
        alpha_ratio=0.3,
        base_rates=base_rates(synthetic_dataset),
    )
    fit(model, synthetic_dataset, TrainingConfig(epochs=1, batch_size=64, verbose=0))
    x = _x(synthetic_dataset, synthetic_preprocessor, rows=16)
    expected = model.serving_outputs(x)
    path = str(tmp_path / "dlen.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is models.MMoEDLEN
    assert reloaded.get_config() == model.get_config()
    assert reloaded.task_alphas == pytest.approx(model.task_alphas)
    with reloaded.preprocessed_inputs():
        like = np.asarray(reloaded(x)["like"])
    np.testing.assert_allclose(like, np.asarray(expected["like"]), rtol=1e-6)

    loaded = tf.saved_model.load(export_saved_model(model, str(tmp_path), "dlen", 1))
    raw = {k: v[:16] for k, v in synthetic_dataset.test.features.items()}
    served = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in raw.items()})
    assert sorted(served) == ["click", "click_and_up", "like", "like_and_up", "p_up"]
    for name in served:
        np.testing.assert_allclose(
            served[name].numpy(), np.asarray(expected[name])[:, 0], rtol=1e-5
        )
