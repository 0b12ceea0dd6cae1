"""Models take their switcher's gate: MMoE with the noisy top-k gate on real Census-Income rows."""

import dataclasses
import json
import zipfile

import keras
import numpy as np
import pytest

from zoo import models
from zoo.layers import NoisyTopKGate, SoftmaxGate

# Enough real rows for a couple of quick epochs on two cores (the full data is in the CLI tests).
TRAIN_ROWS, EVAL_ROWS = 4000, 1000


def _head(split, rows):
    return dataclasses.replace(
        split,
        features={k: v[:rows] for k, v in split.features.items()},
        labels={k: v[:rows] for k, v in split.labels.items()},
        label_masks={k: v[:rows] for k, v in split.label_masks.items()},
    )


@pytest.fixture(scope="module")
def census():
    from zoo.data import load_census_income

    full = load_census_income()
    return dataclasses.replace(
        full,
        train=_head(full.train, TRAIN_ROWS),
        validation=_head(full.validation, EVAL_ROWS),
        test=_head(full.test, EVAL_ROWS),
    )


def _gates(model):
    return list(model.switcher.gates.values())


def _without_gate_keys(value):
    """A config as saved before `gate=` existed."""
    if isinstance(value, dict):
        return {k: _without_gate_keys(v) for k, v in value.items() if k != "gate"}
    if isinstance(value, list):
        return [_without_gate_keys(v) for v in value]
    return value


@pytest.mark.slow
def test_mmoe_with_the_noisy_top_k_gate_trains_saves_and_reloads(census, tmp_path):
    preprocessor = census.make_preprocessor()
    keras.utils.set_random_seed(1)
    model = models.MMoE(
        tasks=census.tasks,
        preprocessor=preprocessor,
        num_experts=4,
        expert_units=[16],
        tower_units=[8],
        gate="noisy-top-k",
    )
    assert [type(g) for g in _gates(model)] == [NoisyTopKGate] * 2
    assert all(g.k == 2 for g in _gates(model))
    model.compile(jit_compile=True)
    train = census.tf_dataset("train", preprocessor, 512, shuffle=True, seed=1)
    with model.preprocessed_inputs():
        history = model.fit(train, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][1] < history.history["loss"][0]

    x = census.head("test", 200)
    predictions = model.predict(x, verbose=0)
    assert sorted(predictions) == ["income", "never_married"]
    for w in model.gate_weights(x).values():
        np.testing.assert_array_equal((np.asarray(w) > 0).sum(axis=1), np.full(200, 2))

    path = tmp_path / "mmoe.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.get_config()["gate"] == "noisy-top-k"
    assert [type(g) for g in _gates(reloaded)] == [NoisyTopKGate] * 2
    for task, p in reloaded.predict(x, verbose=0).items():
        np.testing.assert_allclose(p, predictions[task], atol=1e-6)


def test_a_model_saved_before_gates_were_arguments_still_loads(census, tmp_path):
    preprocessor = census.make_preprocessor()
    model = models.PLE(
        tasks=census.tasks,
        preprocessor=preprocessor,
        num_task_experts=1,
        num_shared_experts=1,
        expert_units=[8],
        tower_units=[4],
        gate_temperature=0.5,
    )
    x = census.head("test", 50)
    expected = model.predict(x, verbose=0)
    path = tmp_path / "ple.keras"
    model.save(path)
    # Rewrite the archive's config as it was before: no "gate" anywhere.
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(old, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                data = json.dumps(_without_gate_keys(json.loads(data))).encode()
            target.writestr(item, data)
    assert '"gate"' in zipfile.ZipFile(path).read("config.json").decode()
    assert '"gate"' not in zipfile.ZipFile(old).read("config.json").decode()

    reloaded = keras.saving.load_model(old)
    gates = [g for level in reloaded.switcher.levels for g in level.task_gates]
    assert gates and all(type(g) is SoftmaxGate and g.temperature == 0.5 for g in gates)
    for task, p in reloaded.predict(x, verbose=0).items():
        np.testing.assert_allclose(p, expected[task], atol=1e-6)


@pytest.mark.parametrize(
    "model_cls, kwargs",
    [
        (models.OMoE, {"num_experts": 3}),
        (models.CGC, {"num_task_experts": 1, "num_shared_experts": 2}),
        (models.MMoEDLEN, {"num_experts": 3, "alpha": 0.2}),
        (models.PLEDLEN, {"num_task_experts": 1, "num_shared_experts": 2, "alpha": 0.2}),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_gated_models_pass_their_gate_on(model_cls, kwargs, census):
    gate = {"class_name": "noisy-top-k", "config": {"k": 1, "noise": False}}
    model = model_cls(
        tasks=census.tasks,
        preprocessor=census.make_preprocessor(),
        expert_units=[4],
        tower_units=[4],
        gate=gate,
        **kwargs,
    )
    switcher = model.switcher
    levels = getattr(switcher, "levels", [switcher])
    gates = [
        g
        for level in levels
        for g in (
            list(level.gates.values())
            if hasattr(level, "gates")
            else level.task_gates + [s for s in [level.shared_gate] if s is not None]
        )
    ]
    assert gates and all(type(g) is NoisyTopKGate and g.k == 1 for g in gates)
    assert model.get_config()["gate"] == gate
    assert model_cls.from_config(model.get_config()).get_config()["gate"] == gate
