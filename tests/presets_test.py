"""Presets: listed without TensorFlow, each builds, the shipped model scores what it records."""

import json
import subprocess
import sys

import numpy as np
import pytest

from zoo import presets


def test_listing_presets_imports_no_tensorflow():
    script = (
        "import json, sys, zoo.presets\n"
        "listed = zoo.presets.list_presets()\n"
        "print(json.dumps([list(listed), 'tensorflow' in sys.modules, 'keras' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    names, tensorflow, keras = json.loads(out.stdout.strip().splitlines()[-1])
    assert names == list(presets.PRESETS)
    assert not tensorflow and not keras


def test_every_preset_names_a_registered_model_and_its_arguments():
    import inspect

    from zoo.models import MODELS

    for preset in presets.PRESETS.values():
        model_class = MODELS.lookup(preset.model)
        assert preset.name.startswith(preset.model.replace("-", "_")), preset.name
        accepted = set(inspect.signature(model_class).parameters)
        unknown = set(preset.arguments) - accepted
        assert not unknown, f"{preset.name}: {unknown}"


@pytest.fixture(scope="module")
def census():
    from zoo.data import load_census_income

    return load_census_income()


@pytest.mark.parametrize(
    "name", [n for n, p in presets.PRESETS.items() if p.dataset == "census-income"]
)
def test_each_census_preset_builds_a_fresh_model_that_predicts_raw_rows(name, census):
    preprocessor = census.make_preprocessor()
    model = presets.from_preset(name, load_weights=False, preprocessor=preprocessor)
    raw = {k: v[:5] for k, v in census.test.features.items()}
    outputs = model(raw)
    assert sorted(outputs) == ["income", "never_married"]
    assert all(np.asarray(v).shape == (5, 1) for v in outputs.values())


def test_the_shipped_model_scores_what_its_record_says(census):
    from zoo.models import MMoE
    from zoo.training import evaluate

    preset = presets.get_preset("mmoe_census_income")
    assert preset.has_weights
    record = preset.training_record()
    assert record["data"]["attribution"].startswith("Census-Income (KDD)")
    assert record["best_epoch"] < record["epochs_run"], "stopped at the epoch cap"
    model = MMoE.from_preset("mmoe_census_income")
    scores = evaluate(model, census, "test")
    for task in ("income", "never_married"):
        assert scores[task]["auc"] == pytest.approx(record["test"][task]["auc"], abs=1e-6)
    # Raw rows in, probabilities out: the preset is ready to use.
    raw = {k: v[:3] for k, v in census.test.features.items()}
    predictions = model.predict(raw, verbose=0)
    assert ((predictions["income"] > 0) & (predictions["income"] < 1)).all()


def test_preset_errors_name_what_to_do(census):
    from zoo.models import PLE, MMoE

    with pytest.raises(ValueError, match="Unknown preset 'mmoe_census'. Presets: .*mmoe_census"):
        presets.from_preset("mmoe_census")
    with pytest.raises(ValueError, match="takes no arguments .*load_weights=False"):
        presets.from_preset("mmoe_census_income", tower_units=[8])
    with pytest.raises(ValueError, match="needs your data's preprocessor"):
        presets.from_preset("ple_census_income")
    with pytest.raises(ValueError, match="is a MMoE, not a PLE. PLE's presets: \\['ple_census"):
        PLE.from_preset("mmoe_census_income")
    fresh = MMoE.from_preset(
        "mmoe_census_income",
        load_weights=False,
        preprocessor=census.make_preprocessor(),
        num_experts=3,
    )
    assert fresh.num_experts == 3 and fresh.expert_units == [32]
