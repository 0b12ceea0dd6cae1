import numpy as np
import pytest

from tests.layer_test_case import run_layer_test
from zoo.layers import (
    CGCSwitcher,
    IndependentSwitcher,
    MMoESwitcher,
    PLESwitcher,
    SharedBottomSwitcher,
    Switcher,
)

X = np.random.default_rng(0).random((4, 6)).astype("float32")


@pytest.mark.parametrize(
    "layer_cls, kwargs, width",
    [
        (SharedBottomSwitcher, {"num_tasks": 2, "units": [8, 5]}, 5),
        (IndependentSwitcher, {"num_tasks": 3, "units": [5]}, 5),
        (MMoESwitcher, {"num_tasks": 2, "num_experts": 3, "expert_units": [5]}, 5),
        (MMoESwitcher, {"num_tasks": 2, "num_experts": 3, "expert_units": [5], "num_gates": 1}, 5),
        (
            CGCSwitcher,
            {
                "num_tasks": 2,
                "num_task_experts": [1, 2],
                "num_shared_experts": 2,
                "expert_units": [5],
            },
            5,
        ),
        (
            PLESwitcher,
            {
                "num_tasks": 2,
                "num_levels": 3,
                "num_task_experts": 1,
                "num_shared_experts": 2,
                "expert_units": [[7], [6], [5]],
            },
            5,
        ),
    ],
)
def test_layer_contract(layer_cls, kwargs, width, tmp_path):
    run_layer_test(layer_cls, kwargs, X, [(4, width)] * kwargs["num_tasks"], tmp_path)


def test_mmoe_output_is_the_gate_weighted_sum_of_experts():
    switcher = MMoESwitcher(num_tasks=2, num_experts=3, expert_units=[4])
    outputs, weights = switcher(X, return_gate_weights=True)
    experts = switcher.experts(X).numpy()  # (batch, experts, units)
    for k, name in enumerate(["task_0", "task_1"]):
        w = weights[name].numpy()
        np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(outputs[k], np.einsum("be,beu->bu", w, experts), rtol=1e-5)
    assert not np.allclose(weights["task_0"], weights["task_1"])


def test_omoe_shares_one_gate():
    outputs, weights = MMoESwitcher(3, 4, [4], num_gates=1)(X, return_gate_weights=True)
    assert list(weights) == ["shared"]
    np.testing.assert_array_equal(outputs[0], outputs[2])


def test_cgc_gates_see_own_then_shared_experts():
    switcher = CGCSwitcher(2, [1, 3], 2, [4], output_shared=True)
    outputs, weights = switcher(X, return_gate_weights=True)
    assert len(outputs) == 3  # two tasks, then the shared branch
    assert weights["task_0"].shape == (4, 1 + 2)
    assert weights["task_1"].shape == (4, 3 + 2)
    assert weights["shared"].shape == (4, 1 + 3 + 2)
    own = switcher.task_experts[1](X).numpy()
    shared = switcher.shared_experts(X).numpy()
    pool = np.concatenate([own, shared], axis=1)
    np.testing.assert_allclose(
        outputs[1], np.einsum("be,beu->bu", weights["task_1"].numpy(), pool), rtol=1e-5
    )


def test_ple_levels_feed_the_next_level():
    switcher = PLESwitcher(2, 2, 1, 1, [4])
    outputs, weights = switcher(X, return_gate_weights=True)
    assert sorted(weights) == [
        "level_0/shared",
        "level_0/task_0",
        "level_0/task_1",
        "level_1/task_0",
        "level_1/task_1",
    ]
    branches = switcher.levels[0](X)
    np.testing.assert_allclose(outputs[0], switcher.levels[1](branches)[0], rtol=1e-6)


def test_switchers_reject_bad_configurations():
    with pytest.raises(ValueError, match="num_gates"):
        MMoESwitcher(2, 3, [4], num_gates=2)
    with pytest.raises(ValueError, match="no expert"):
        CGCSwitcher(2, [0, 1], 0, [4])
    with pytest.raises(ValueError, match="shared experts"):
        PLESwitcher(2, 2, 1, 0, [4])
    with pytest.raises(ValueError, match="3 input shapes"):
        CGCSwitcher(2, 1, 1, [4])([X, X])


def test_every_switcher_shares_the_base_contract():
    switchers = [
        SharedBottomSwitcher(2, [4], dropout=0.1, seed=3),
        IndependentSwitcher(2, [4], dropout=0.1, seed=3),
        MMoESwitcher(2, 3, [4], dropout=0.1, seed=3),
        CGCSwitcher(2, 1, 1, [4], dropout=0.1, seed=3),
        PLESwitcher(2, 2, 1, 1, [4], dropout=0.1, seed=3),
    ]
    for switcher in switchers:
        assert isinstance(switcher, Switcher)
        config = switcher.get_config()
        assert (config["num_tasks"], config["dropout"], config["seed"]) == (2, 0.1, 3)
        outputs, weights = switcher(X, return_gate_weights=True)
        assert len(outputs) == 2 and isinstance(weights, dict)
    with pytest.raises(ValueError, match="num_tasks"):
        MMoESwitcher(0, 3, [4])
