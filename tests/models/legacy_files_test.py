"""`.keras` files written before the Keras-native model API load and predict as they did.

The files in tests/fixtures/legacy_keras/ were written by the zoo of commit 3ba9276, whose
models took preprocessed features and declared every switcher argument themselves (see
make_legacy.py there). The models now take raw rows and forward switcher arguments
generically; the saved configs and weights must still mean the same models.
"""

import pathlib

import keras
import numpy as np
import pytest

import zoo.models  # noqa: F401  (registers the model classes with Keras)

LEGACY = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "legacy_keras"
NAMES = sorted(path.stem for path in LEGACY.glob("*.keras"))


def test_every_kind_of_model_has_a_legacy_file():
    assert len(NAMES) == 11, NAMES


@pytest.mark.parametrize("name", [n for n in NAMES if n != "YouTubeMMoE"])
def test_a_legacy_file_loads_and_predicts_as_it_did(name):
    model = keras.saving.load_model(LEGACY / f"{name}.keras")
    assert type(model).__name__ == name
    inputs = dict(np.load(LEGACY / "inputs.npz"))
    expected = np.load(LEGACY / "outputs.npz")
    outputs = model(inputs)
    tasks = [key.split("/", 1)[1] for key in expected.files if key.startswith(f"{name}/")]
    assert sorted(tasks) == sorted(outputs)
    for task in tasks:
        np.testing.assert_allclose(
            np.asarray(outputs[task]), expected[f"{name}/{task}"], rtol=1e-5, atol=1e-6
        )


def test_a_legacy_youtube_model_is_refused_with_the_version_and_the_way_out():
    # Its shallow tower now sits in a BiasLogit head, where Keras looks for other weights.
    with pytest.raises(Exception, match="saved by zoo 0.1.*SavedModel serves unchanged"):
        keras.saving.load_model(LEGACY / "YouTubeMMoE.keras")
