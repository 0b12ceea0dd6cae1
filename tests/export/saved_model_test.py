"""The contract TF Serving relies on, checked without the TF Serving binary.

The binary is not installable on these machines; what it needs is a
SavedModel in `<name>/<version>/` whose `serving_default` signature has
named raw-feature inputs with real dtypes and named outputs, loadable by
TensorFlow alone, plus optional warm-up records in assets.extra.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.fresh_process import serve_in_fresh_process
from zoo import export, models


@pytest.fixture(scope="module")
def trained(synthetic_dataset, synthetic_preprocessor):
    keras.utils.set_random_seed(1)
    model = models.MMoE(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        num_experts=3,
        expert_units=[8],
    )
    model.compile()
    model.fit(
        synthetic_dataset.train.features,
        synthetic_dataset.train.labels,
        batch_size=64,
        epochs=2,
        verbose=0,
    )
    return model


def _warmup_rows(dataset, n=4):
    return {k: v[:n] for k, v in dataset.validation.features.items()}


def test_layout_signature_and_warmup(trained, synthetic_dataset, tmp_path):
    base = str(tmp_path / "savedmodels")
    first = export.export_saved_model(
        trained, base, "mmoe", warmup_rows=_warmup_rows(synthetic_dataset)
    )
    second = export.export_saved_model(trained, base, "mmoe")
    assert first == os.path.join(base, "mmoe", "1") and second == os.path.join(base, "mmoe", "2")
    assert sorted(os.listdir(os.path.join(base, "mmoe"))) == ["1", "2"]
    assert os.path.exists(os.path.join(first, "saved_model.pb"))

    signature = tf.saved_model.load(first).signatures["serving_default"]
    _, inputs = signature.structured_input_signature
    assert {name: spec.dtype for name, spec in inputs.items()} == {
        "city": tf.string,
        "device": tf.int64,
        "query": tf.string,
        "age": tf.float32,
        "score": tf.float32,
    }
    assert all(spec.shape.as_list() == [None] for spec in inputs.values())
    assert sorted(signature.structured_outputs) == ["click", "like"]

    requests = export.read_warmup_requests(first)
    assert len(requests) == 1
    request = requests[0]
    assert request.model_spec.name == "mmoe"
    assert request.model_spec.signature_name == "serving_default"
    assert sorted(request.inputs) == sorted(inputs)
    ages = tf.make_ndarray(request.inputs["age"])
    np.testing.assert_allclose(ages, synthetic_dataset.validation.features["age"][:4])
    assert (
        tf.make_ndarray(request.inputs["city"]).tolist()[0].decode()
        == (synthetic_dataset.validation.features["city"][0])
    )
    assert not os.path.exists(os.path.join(second, "assets.extra"))


def test_failed_export_leaves_nothing(trained, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("zoo.export.saved_model.write_warmup_requests", broken)
    base = tmp_path / "savedmodels"
    with pytest.raises(OSError, match="disk full"):
        export.export_saved_model(trained, str(base), "mmoe", warmup_rows={"age": [1.0]})
    assert os.listdir(base / "mmoe") == []


def test_refuses_to_overwrite_and_bad_names(trained, tmp_path):
    base = str(tmp_path)
    export.export_saved_model(trained, base, "m", version=3)
    with pytest.raises(FileExistsError, match="3"):
        export.export_saved_model(trained, base, "m", version=3)
    with pytest.raises(ValueError, match="model name"):
        export.export_saved_model(trained, base, "../escape")


@pytest.mark.slow
def test_fresh_process_without_zoo_matches_predict(
    trained, synthetic_dataset, synthetic_preprocessor, tmp_path
):
    path = export.export_saved_model(trained, str(tmp_path / "sm"), "mmoe")
    features = synthetic_dataset.test.features
    small = {k: v[:3] for k, v in features.items()}
    large = {k: v[:150] for k, v in features.items()}
    # Values the training data never had: they must land in the OOV bucket.
    large["city"] = large["city"].copy()
    large["city"][:5] = ["atlantis", "el dorado", "", "PARIS", "paris "]
    large["device"] = large["device"].copy()
    large["device"][5] = 123456
    served = serve_in_fresh_process(path, {"small": small, "large": large}, tmp_path)
    assert served["zoo_imported"] is False

    for batch, raw in (("small", small), ("large", large)):
        expected = trained.predict(raw, verbose=0)
        for task in ("click", "like"):
            np.testing.assert_allclose(served[batch][task], expected[task][:, 0], atol=1e-5)
    # The unseen values were served, through the OOV bucket (index 0).
    ids = synthetic_preprocessor(large)
    assert ids["city"].numpy()[:5].tolist() == [0, 0, 0, 0, 0]
    assert ids["device"].numpy()[5] == 0
    assert np.isfinite(served["large"]["click"][:6]).all()


@pytest.mark.slow
def test_the_xla_twin_serves_the_same_answers_in_a_fresh_process(
    trained, synthetic_dataset, tmp_path
):
    path = export.export_saved_model(trained, str(tmp_path / "sm"), "mmoe", xla_signatures=True)
    raw = {k: v[:40] for k, v in synthetic_dataset.test.features.items()}
    plain = serve_in_fresh_process(path, {"rows": raw}, tmp_path)
    compiled = serve_in_fresh_process(path, {"rows": raw}, tmp_path, "serving_default_xla")
    assert compiled["zoo_imported"] is False
    for task in ("click", "like"):
        np.testing.assert_allclose(compiled["rows"][task], plain["rows"][task], atol=1e-5)
    # The twin is the model's dense part under XLA: its function carries XLA's mark.
    graph = tf.saved_model.load(path).signatures["serving_default_xla"].graph.as_graph_def()
    marked = [f.signature.name for f in graph.library.function if f.attr["_XlaMustCompile"].b]
    assert marked, "no function of the twin is marked for XLA"


def test_no_xla_twin_unless_asked(small_model, tmp_path):
    path = export.export_saved_model(small_model, str(tmp_path / "sm"), "mmoe")
    assert sorted(tf.saved_model.load(path).signatures) == ["serving_default"]
