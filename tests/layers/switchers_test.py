import keras
import numpy as np
import pytest
from keras import tree

from tests.layer_test_case import run_layer_test
from zoo.layers import (
    AutoMTLSearchSwitcher,
    CGCSwitcher,
    GraphEnhancedExpertsSwitcher,
    IndependentSwitcher,
    MMoESwitcher,
    NoisyTopKGate,
    PLESwitcher,
    SearchedExpertsSwitcher,
    SharedBottomSwitcher,
    SoftmaxGate,
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


# --- gate= : every switcher that has gates takes any registered gate ---------------------------

GATED_SWITCHERS = {
    "mmoe": (MMoESwitcher, {"num_tasks": 2, "num_experts": 3, "expert_units": [5]}, X),
    "omoe": (
        MMoESwitcher,
        {"num_tasks": 2, "num_experts": 3, "expert_units": [5], "num_gates": 1},
        X,
    ),
    "cgc": (
        CGCSwitcher,
        {"num_tasks": 2, "num_task_experts": 1, "num_shared_experts": 2, "expert_units": [5]},
        X,
    ),
    "ple": (
        PLESwitcher,
        {
            "num_tasks": 2,
            "num_levels": 2,
            "num_task_experts": 1,
            "num_shared_experts": 2,
            "expert_units": [5],
        },
        X,
    ),
    "graph-enhanced": (
        GraphEnhancedExpertsSwitcher,
        {"num_tasks": 2, "num_experts": 3, "expert_units": [5]},
        (X, np.random.default_rng(1).random((4, 3, 2)).astype("float32")),
    ),
    "searched": (
        SearchedExpertsSwitcher,
        {
            "num_tasks": 2,
            "num_fields": 3,
            "field_dim": 2,
            "interaction": None,
            "experts": [["mlp-8"], ["skip"], ["mlp-4"]],
            "task_experts": [[0, 1], [1, 2]],
            "expert_width": 5,
        },
        X.reshape(4, 3, 2),
    ),
    "automtl-search": (
        AutoMTLSearchSwitcher,
        {
            "num_tasks": 2,
            "num_fields": 3,
            "field_dim": 2,
            "interaction_ops": None,
            "expert_ops": ["skip", "mlp-8"],
            "num_experts": 3,
            "num_blocks": 1,
            "expert_width": 5,
            "expert_selection": False,
        },
        X.reshape(4, 3, 2),
    ),
}
GATE_FORMS = {
    "name": lambda: "noisy-top-k",
    "config": lambda: {"class_name": "noisy-top-k", "config": {"k": 2, "seed": 5}},
    "keras-config": lambda: keras.layers.serialize(NoisyTopKGate(7, k=2, noise=False)),
    "prototype": lambda: NoisyTopKGate(9, k=2, importance_weight=0.01, seed=2),
}


def _gates_of(switcher):
    gates = switcher.gates.values() if isinstance(switcher.gates, dict) else switcher.gates
    return list(gates)


def _all_gates(switcher):
    if isinstance(switcher, PLESwitcher):
        return [g for level in switcher.levels for g in _all_gates(level)]
    if isinstance(switcher, CGCSwitcher):
        return switcher.task_gates + [g for g in [switcher.shared_gate] if g is not None]
    return _gates_of(switcher)


# Every form on MMoE, one form on each other switcher: the suite stays fast on two cores.
GATE_CASES = [("mmoe", form) for form in sorted(GATE_FORMS)] + [
    ("omoe", "config"),
    ("cgc", "prototype"),
    ("ple", "keras-config"),
    ("graph-enhanced", "name"),
    ("searched", "prototype"),
    ("automtl-search", "config"),
]


@pytest.mark.parametrize("switcher_name, form", GATE_CASES)
def test_switchers_take_their_gate_train_save_and_reload(switcher_name, form, tmp_path):
    layer_cls, kwargs, inputs = GATED_SWITCHERS[switcher_name]
    keras.utils.set_random_seed(0)
    switcher = layer_cls(**kwargs, gate=GATE_FORMS[form](), name="switcher")
    outputs, weights = switcher(inputs, return_gate_weights=True)
    gates = _all_gates(switcher)
    assert gates and all(type(g) is NoisyTopKGate for g in gates)
    assert len({id(g) for g in gates}) == len(gates), "gates must not be shared"
    for name, w in weights.items():
        w = np.asarray(w)
        np.testing.assert_array_equal((w > 0).sum(axis=1), np.full(4, 2), err_msg=name)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)

    model_inputs = tree.map_structure(lambda x: keras.Input(x.shape[1:]), inputs)
    model = keras.Model(model_inputs, switcher(model_inputs))
    model.compile(optimizer="sgd", loss=["mse"] * 2)
    targets = [np.ones(o.shape, "float32") for o in outputs]
    before = [np.array(w) for w in model.trainable_weights]
    model.fit(inputs, targets, epochs=3, batch_size=4, verbose=0)
    assert any(not np.allclose(b, a) for b, a in zip(before, model.trainable_weights))

    path = str(tmp_path / "switcher.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    again = reloaded.get_layer("switcher")
    assert again.get_config()["gate"] == switcher.get_config()["gate"]
    assert [type(g) for g in _all_gates(again)] == [type(g) for g in gates]
    assert [g.get_config() for g in _all_gates(again)] == [g.get_config() for g in gates]
    for a, b in zip(model.predict(inputs, verbose=0), reloaded.predict(inputs, verbose=0)):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("switcher_name", sorted(GATED_SWITCHERS))
def test_configs_saved_before_gates_were_arguments_still_load(switcher_name):
    layer_cls, kwargs, inputs = GATED_SWITCHERS[switcher_name]
    switcher = layer_cls(**kwargs)
    switcher(inputs)
    config = switcher.get_config()
    assert config.pop("gate") is None
    old = layer_cls.from_config(config)
    assert all(type(g) is SoftmaxGate for g in _all_gates(old))
    old(inputs)
    old.set_weights(switcher.get_weights())
    for a, b in zip(switcher(inputs), old(inputs)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_default_gates_keep_the_switchers_temperature_and_regularizer():
    switcher = CGCSwitcher(2, 1, 2, [4], gate_temperature=0.5, kernel_regularizer="l2")
    for gate in _all_gates(switcher):
        assert type(gate) is SoftmaxGate and gate.temperature == 0.5
        assert isinstance(gate.kernel_regularizer, keras.regularizers.L2)
    # A named gate gets the switcher's regularizer too, where it has none of its own.
    named = MMoESwitcher(2, 3, [4], gate="noisy-top-k", kernel_regularizer="l2")
    assert all(isinstance(g.kernel_regularizer, keras.regularizers.L2) for g in _gates_of(named))
    own = MMoESwitcher(
        2,
        3,
        [4],
        gate={"class_name": "softmax", "config": {"kernel_regularizer": "l1"}},
        kernel_regularizer="l2",
    )
    assert all(isinstance(g.kernel_regularizer, keras.regularizers.L1) for g in _gates_of(own))


def test_bad_gates_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown gate 'top-k'. Valid gates: .*noisy-top-k"):
        MMoESwitcher(2, 3, [4], gate="top-k")
    with pytest.raises(ValueError, match="gate_temperature .*Received: gate='noisy-top-k'"):
        MMoESwitcher(2, 3, [4], gate="noisy-top-k", gate_temperature=0.5)
    with pytest.raises(ValueError, match=r"1 <= k <= num_experts\. Received: k=4, num_experts=3"):
        MMoESwitcher(2, 3, [4], gate={"class_name": "noisy-top-k", "config": {"k": 4}})
    with pytest.raises(ValueError, match="Expected an expert gate"):
        MMoESwitcher(2, 3, [4], gate={"class_name": "BitGate", "config": {}})
    with pytest.raises(ValueError, match='Expected a gate dict {"class_name"'):
        MMoESwitcher(2, 3, [4], gate={"name": "noisy-top-k"})
    with pytest.raises(ValueError, match="expert_selection=False"):
        AutoMTLSearchSwitcher(2, 3, 2, gate="softmax")
