"""Gate diagnostics: averages that sum to one, a collapse warning that fires when it should."""

import keras
import numpy as np
import pytest

from zoo import models
from zoo.training.gate_diagnostics import (
    average_gate_weights,
    find_collapse,
    gate_report,
    plot_gate_heatmap,
)


def _mmoe(dataset, preprocessor, num_gates=None):
    keras.utils.set_random_seed(0)
    cls = models.OMoE if num_gates == 1 else models.MMoE
    model = cls(tasks=dataset.tasks, preprocessor=preprocessor, num_experts=4, expert_units=[8])
    model.build()
    return model


def test_averages_are_per_gate_distributions(synthetic_dataset, synthetic_preprocessor):
    model = _mmoe(synthetic_dataset, synthetic_preprocessor)
    averages = average_gate_weights(model, synthetic_dataset, "test")
    assert list(averages) == ["click", "like"]
    for weights in averages.values():
        assert list(weights) == [f"expert_{i}" for i in range(4)]
        assert sum(weights.values()) == pytest.approx(1.0, rel=1e-5)
    # The average over rows, not over batches: the same as one call on all rows.
    direct = np.asarray(model.gate_weights(synthetic_dataset.test.features)["like"]).mean(axis=0)
    np.testing.assert_allclose(list(averages["like"].values()), direct, rtol=1e-5)


def test_cgc_and_ple_name_shared_experts_alike(synthetic_dataset, synthetic_preprocessor):
    model = models.PLE(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        num_levels=2,
        num_task_experts=1,
        num_shared_experts=2,
        expert_units=[8],
    )
    model.build()
    averages = average_gate_weights(model, synthetic_dataset, "test")
    assert averages["level_1/click"].keys() == {
        "level_1/click/expert_0",
        "level_1/shared/expert_0",
        "level_1/shared/expert_1",
    }
    assert "level_0/shared" in averages  # the lower level's shared gate feeds the next level


def test_find_collapse():
    healthy = {"a": {"e0": 0.6, "e1": 0.4}, "b": {"e0": 0.2, "e1": 0.8}}
    assert find_collapse(healthy, ["a", "b"]) is None
    one_task_only = {"a": {"e0": 0.95, "e1": 0.05}, "b": {"e0": 0.3, "e1": 0.7}}
    assert find_collapse(one_task_only, ["a", "b"]) is None
    collapsed = {"a": {"e0": 0.02, "e1": 0.98}, "b": {"e0": 0.05, "e1": 0.95}}
    assert find_collapse(collapsed, ["a", "b"]) == "e1"
    # Only the last level's task gates decide.
    ple = {
        "level_0/a": {"x": 0.99},
        "level_0/b": {"x": 0.99},
        "level_1/a": {"s": 0.5, "t": 0.5},
        "level_1/b": {"s": 0.5, "u": 0.5},
    }
    assert find_collapse(ple, ["a", "b"]) is None


def test_collapse_warns(synthetic_dataset, synthetic_preprocessor):
    model = _mmoe(synthetic_dataset, synthetic_preprocessor)
    assert gate_report(model, synthetic_dataset, "test")["collapsed_onto"] is None
    _force_gates_onto(model, expert=2)
    with pytest.warns(UserWarning, match="Expert collapse: 'expert_2'"):
        report = gate_report(model, synthetic_dataset, "test")
    assert report["collapsed_onto"] == "expert_2"


def _force_gates_onto(model, expert):
    # The gates see [embeddings..., 2 normalized numerics]. With every
    # embedding entry 1 and a gate kernel that is 0 except +5 from each
    # embedding entry to `expert`, that expert's logit is large on every row.
    for table in model.embedding.weights:
        table.assign(np.ones(table.shape, "float32"))
    for gate in model.switcher.gates.values():
        kernel = np.zeros(gate.dense.kernel.shape, "float32")
        kernel[:-2, expert] = 5.0
        gate.dense.kernel.assign(kernel)


def test_heatmap_png(tmp_path):
    path = plot_gate_heatmap(
        {"a": {"e0": 0.7, "e1": 0.3}, "b": {"e1": 0.5, "e2": 0.5}}, str(tmp_path / "g.png"), "t"
    )
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
