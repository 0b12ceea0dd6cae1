"""HoME's parts: the feature-gate, experts with private inputs, and the HoME switcher.

The switcher is checked against a NumPy re-implementation of the paper's
structure written out by hand (which expert each gate sees is spelled out
here, not read from the layer), and the hierarchy mask again through
gradients: a task's output has exactly zero gradient in the experts it must
not see.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layer_test_case import run_layer_test
from zoo.layers.core.feature_gate import FeatureGate
from zoo.layers.experts.experts import Experts
from zoo.layers.experts.private_input_experts import PrivateInputExperts
from zoo.layers.gates.noisy_top_k_gate import NoisyTopKGate
from zoo.layers.switchers.home import HoMESwitcher
from zoo.layers.switchers.switcher import Switcher

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 5)).astype("float32")
EPSILON = 1e-3  # BatchNormalization's default


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def swish(x):
    return x * sigmoid(x)


# --- the shared layer contract ---------------------------------------------------------------

# Three tasks in two categories; task 1 owns two experts, so both self-gate forms run.
SWITCHER_KWARGS = {
    "num_tasks": 3,
    "num_shared_experts": [2, 1],
    "num_category_experts": 1,
    "num_task_experts": [1, 2, 1],
    "expert_units": [[5], [4]],
    "task_categories": [[0, 1], [2]],
    "feature_gate_rank": 2,
}


@pytest.mark.parametrize(
    "layer_cls, kwargs, inputs, shape",
    [
        (FeatureGate, {"num_gates": 3, "rank": 2}, X, (6, 3, 5)),
        (FeatureGate, {"num_gates": 2, "rank": 1}, X.reshape(6, 1, 5)[:, [0, 0]], (6, 2, 5)),
        (PrivateInputExperts, {"num_experts": 2, "units": [4, 3]}, np.stack([X, -X], 1), (6, 2, 3)),
        (HoMESwitcher, SWITCHER_KWARGS, X, [(6, 4)] * 3),
        (
            HoMESwitcher,
            {"num_tasks": 2, "num_shared_experts": 1, "num_category_experts": 1,
             "num_task_experts": 1, "expert_units": [4], "feature_gate": False,
             "self_gate": False, "expert_batch_norm": False, "activation": "relu"},
            X,
            [(6, 4)] * 2,
        ),
    ],
    ids=["feature-gate", "feature-gate-3d", "private-experts", "home", "home-ablated"],
)  # fmt: skip
def test_layer_contract(layer_cls, kwargs, inputs, shape, tmp_path):
    run_layer_test(layer_cls, kwargs, inputs, shape, tmp_path)


# --- feature-gate ----------------------------------------------------------------------------


def test_feature_gate_by_hand():
    gate = FeatureGate(num_gates=3, rank=2)
    gate.build(X.shape)
    down = RNG.normal(size=(3, 5, 2)).astype("float32")
    up = RNG.normal(size=(3, 2, 5)).astype("float32")
    gate.down_kernel.assign(down)
    gate.up_kernel.assign(up)
    x = X.astype("float64")
    # Fea_Gate_i(v) = 2 sigmoid(v B_i A_i); expert i reads v * Fea_Gate_i(v).
    expected = np.stack([x * 2 * sigmoid(x @ down[i] @ up[i]) for i in range(3)], axis=1)
    np.testing.assert_allclose(gate(X), expected, rtol=1e-5, atol=1e-6)
    # One input per gate: gate i re-weights row i with its own B_i A_i.
    rows = RNG.normal(size=(6, 3, 5)).astype("float32")
    expected = np.stack(
        [rows[:, i] * 2 * sigmoid(rows[:, i] @ down[i] @ up[i]) for i in range(3)], axis=1
    )
    np.testing.assert_allclose(gate(rows), expected, rtol=1e-5, atol=1e-6)


def test_feature_gate_starts_as_identity_with_distinct_gates():
    gate = FeatureGate(num_gates=4, rank=3)
    np.testing.assert_allclose(gate(X), np.repeat(X[:, None], 4, axis=1), rtol=1e-6)
    down = gate.down_kernel.numpy()
    assert all(not np.allclose(down[i], down[j]) for i in range(4) for j in range(i + 1, 4))
    # The zero up-projection still learns: its gradient is not zero.
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(gate(X) * RNG.normal(size=(6, 4, 5)).astype("float32"))
    assert np.abs(tape.gradient(loss, gate.up_kernel).numpy()).sum() > 0


def test_feature_gate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Expected rank >= 1. Received: rank=0"):
        FeatureGate(2, 0)
    with pytest.raises(ValueError, match=r"\(batch, 2, dim\)"):
        FeatureGate(2, 1)(np.ones((3, 4, 5), "float32"))


# --- experts: private inputs, expert normalization -------------------------------------------


def test_private_input_experts_pair_row_i_with_expert_i():
    experts = PrivateInputExperts(num_experts=3, units=[4, 2], activation="tanh")
    rows = RNG.normal(size=(6, 3, 5)).astype("float32")
    out = experts(rows).numpy()
    reference = Experts(num_experts=3, units=[4, 2], activation="tanh")
    reference(X)
    reference.set_weights(experts.get_weights())
    for i in range(3):
        # Expert i on its own row is the plain expert i on that row as a shared input.
        np.testing.assert_allclose(out[:, i], reference(rows[:, i]).numpy()[:, i], rtol=1e-5)
    # A 2-D input is shared by every expert, exactly as in `Experts`.
    np.testing.assert_allclose(experts(X), reference(X), rtol=1e-6)


def test_expert_outputs_are_batch_normalized_then_swish_in_training():
    experts = PrivateInputExperts(num_experts=3, units=[4], activation="swish", use_batch_norm=True)
    rows = (5 * RNG.normal(size=(64, 3, 5)) + 3).astype("float32")
    out = experts(rows, training=True).numpy()
    pre = np.einsum("bei,eio->beo", rows.astype("float64"), experts.kernels[0].numpy())
    # Every (expert, unit) column standardized over the batch, then Swish.
    normalized = (pre - pre.mean(axis=0)) / np.sqrt(pre.var(axis=0) + EPSILON)
    np.testing.assert_allclose(out, swish(normalized), rtol=1e-4, atol=1e-5)
    # So every expert, whatever its input's scale, leaves the normalization at mean 0, std 1.
    linear = PrivateInputExperts(num_experts=3, units=[4], activation=None, use_batch_norm=True)
    z = linear(rows * np.array([1, 100, 0.2], "float32")[None, :, None], training=True).numpy()
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=0.01)


def test_switcher_experts_are_normalized_with_swish_by_default():
    switcher = HoMESwitcher(**SWITCHER_KWARGS)
    for experts in (switcher.meta_experts, switcher.task_experts):
        config = experts.get_config()
        assert config["use_batch_norm"] is True
        assert config["activation"] in ("silu", "swish")


# --- the whole switcher against the paper's structure, by hand -------------------------------


def _randomize(switcher, rng):
    """Random values for every weight (moving variances positive); returns them by path."""
    values = {}
    for w in switcher.weights:
        name = w.path.split("/", 1)[1]
        value = rng.normal(scale=0.7, size=w.shape)
        if "moving_variance" in name:
            value = rng.uniform(0.5, 2.0, size=w.shape)
        values[name] = value
        w.assign(value.astype("float32"))
    return values


def reference_home(x, w, feature_gate, self_gate):
    """NumPy, float64, inference mode, for SWITCHER_KWARGS: the structure spelled out.

    Level 0 experts: [shared_0, shared_1, category_0, category_1]. Level 1 experts:
    [shared_0, category_0, category_1, task_0, task_1 (two), task_2]. Task 0 and
    task 1 are in category 0, task 2 in category 1.
    """

    def experts(inputs, level):  # inputs (batch, experts, dim): one row per expert
        if feature_gate:
            down, up = (
                w[f"feature_gate_level_{level}/down_kernel"],
                w[f"feature_gate_level_{level}/up_kernel"],
            )
            inputs = inputs * 2 * sigmoid(np.einsum("bei,eir,ero->beo", inputs, down, up))
        kernel = w[f"experts_level_{level}/kernel_0"]
        pre = np.einsum("bei,eio->beo", inputs, kernel)
        bn = {
            k: w[f"experts_level_{level}/batch_norm_0/{k}"].reshape(kernel.shape[0], -1)
            for k in ("gamma", "beta", "moving_mean", "moving_variance")
        }
        y = (pre - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + EPSILON)
        return swish(bn["gamma"] * y + bn["beta"])

    def gate(name, inputs):
        return softmax(inputs @ w[f"gate_{name}/logits/kernel"])

    def mix(weights, pool):
        return np.einsum("be,beu->bu", weights, pool)

    def self_gated(own, kernel_name):
        if not self_gate:
            return 0.0
        scores = own @ w[kernel_name]  # (batch, own experts)
        return mix(sigmoid(scores) if own.shape[1] == 1 else softmax(scores), own)

    every = lambda v, n: np.repeat(v[:, None], n, axis=1)  # noqa: E731
    e0 = experts(every(x, 4), 0)
    z_c0 = mix(gate("level_0_category_0", x), e0[:, [0, 1, 2]]) + self_gated(
        e0[:, [2]], "self_gate_level_0_category_0"
    )
    z_c1 = mix(gate("level_0_category_1", x), e0[:, [0, 1, 3]]) + self_gated(
        e0[:, [3]], "self_gate_level_0_category_1"
    )
    z_s = mix(gate("level_0_shared", x), e0)
    level_1_inputs = np.stack([z_s, z_c0, z_c1, z_c0, z_c0, z_c0, z_c1], axis=1)
    e1 = experts(level_1_inputs, 1)
    h0 = mix(gate("level_1_task_0", z_c0), e1[:, [0, 1, 3]]) + self_gated(
        e1[:, [3]], "self_gate_level_1_task_0"
    )
    h1 = mix(gate("level_1_task_1", z_c0), e1[:, [0, 1, 4, 5]]) + self_gated(
        e1[:, [4, 5]], "self_gate_level_1_task_1"
    )
    h2 = mix(gate("level_1_task_2", z_c1), e1[:, [0, 2, 6]]) + self_gated(
        e1[:, [6]], "self_gate_level_1_task_2"
    )
    return [h0, h1, h2]


@pytest.mark.parametrize("feature_gate, self_gate", [(True, True), (False, False), (True, False)])
def test_switcher_matches_the_structure_by_hand(feature_gate, self_gate):
    switcher = HoMESwitcher(**SWITCHER_KWARGS, feature_gate=feature_gate, self_gate=self_gate)
    switcher(X)
    values = _randomize(switcher, np.random.default_rng(1))
    assert any(name.startswith("self_gate") for name in values) == self_gate
    assert any(name.startswith("feature_gate") for name in values) == feature_gate
    outputs = switcher(X, training=False)
    expected = reference_home(X.astype("float64"), values, feature_gate, self_gate)
    for k in range(3):
        np.testing.assert_allclose(outputs[k], expected[k], rtol=1e-4, atol=1e-5)


def test_gates_see_shared_category_and_own_experts_only():
    names = HoMESwitcher(**SWITCHER_KWARGS).gate_expert_names()
    shared_0 = ["level_0/shared/expert_0", "level_0/shared/expert_1"]
    shared_1 = ["level_1/shared/expert_0"]
    assert names == {
        "level_0/category_0": shared_0 + ["level_0/category_0/expert_0"],
        "level_0/category_1": shared_0 + ["level_0/category_1/expert_0"],
        "level_0/shared": shared_0 + ["level_0/category_0/expert_0", "level_0/category_1/expert_0"],
        "level_1/task_0": shared_1 + ["level_1/category_0/expert_0", "level_1/task_0/expert_0"],
        "level_1/task_1": shared_1
        + ["level_1/category_0/expert_0", "level_1/task_1/expert_0", "level_1/task_1/expert_1"],
        "level_1/task_2": shared_1 + ["level_1/category_1/expert_0", "level_1/task_2/expert_0"],
    }


def test_gate_weights_are_distributions_over_the_named_experts():
    switcher = HoMESwitcher(**SWITCHER_KWARGS)
    _, weights = switcher(X, return_gate_weights=True)
    names = switcher.gate_expert_names()
    assert sorted(weights) == sorted(names)
    for name, w in weights.items():
        w = np.asarray(w)
        assert w.shape == (6, len(names[name]))
        assert (w >= 0).all()
        np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)


def _expert_gradients(switcher, task, kernel):
    """Per-expert gradient norms of task `task`'s output in a batched expert kernel."""
    with tf.GradientTape() as tape:
        outputs = switcher(X, training=True)
        loss = tf.reduce_sum(outputs[task] * np.linspace(-1, 1, 24).reshape(6, 4))
    grad = tape.gradient(loss, kernel).numpy()
    return np.abs(grad).reshape(len(grad), -1).sum(axis=1)


def test_hierarchy_mask_holds_for_gradients():
    switcher = HoMESwitcher(**SWITCHER_KWARGS)
    switcher(X)
    _randomize(switcher, np.random.default_rng(2))  # non-zero feature-gate and self-gate paths
    level_1 = switcher.task_experts.kernels[0]
    # Level 1 experts: [shared, category_0, category_1, task_0, task_1 (two), task_2].
    seen = {0: [0, 1, 3], 1: [0, 1, 4, 5], 2: [0, 2, 6]}
    for task, experts in seen.items():
        norms = _expert_gradients(switcher, task, level_1)
        assert (norms[experts] > 0).all(), (task, norms)
        assert (np.delete(norms, experts) == 0).all(), (task, norms)


def test_without_a_shared_branch_a_category_never_reaches_the_other_categories_experts():
    kwargs = dict(SWITCHER_KWARGS, num_shared_experts=[2, 0])
    switcher = HoMESwitcher(**kwargs)
    switcher(X)
    assert "level_0/shared" not in switcher.gate_expert_names()
    # Level 0 experts: [shared_0, shared_1, category_0, category_1]; task 2 is in category 1.
    norms = _expert_gradients(switcher, 2, switcher.meta_experts.kernels[0])
    assert (norms[[0, 1, 3]] > 0).all() and norms[2] == 0, norms
    norms = _expert_gradients(switcher, 0, switcher.meta_experts.kernels[0])
    assert (norms[[0, 1, 2]] > 0).all() and norms[3] == 0, norms


def test_one_category_by_default_and_shared_weights():
    switcher = HoMESwitcher(2, 1, 1, 1, [4])
    assert switcher.task_categories == [[0, 1]]
    assert switcher.get_config()["task_categories"] == [[0, 1]]
    switcher(X)
    assert switcher.shared_weights()
    # No shared experts anywhere and two categories: no weight serves every task.
    apart = HoMESwitcher(2, 0, 2, 1, [4], task_categories=[[0], [1]])
    apart(X)
    assert apart.shared_weights() == []


def test_switcher_takes_any_registered_gate():
    keras.utils.set_random_seed(0)
    switcher = HoMESwitcher(
        **SWITCHER_KWARGS, gate={"class_name": "noisy-top-k", "config": {"k": 2}}
    )
    gates = switcher.category_gates + [switcher.shared_gate] + switcher.task_gates
    assert all(type(g) is NoisyTopKGate for g in gates)
    assert len({id(g) for g in gates}) == len(gates)
    _, weights = switcher(X, return_gate_weights=True)
    for w in weights.values():
        np.testing.assert_array_equal((np.asarray(w) > 0).sum(axis=1), 2)
    clone = HoMESwitcher.from_config(switcher.get_config())
    assert all(type(g) is NoisyTopKGate for g in clone.task_gates)


def test_switcher_shares_the_base_contract():
    switcher = HoMESwitcher(2, 1, 1, 1, [4], dropout=0.1, seed=3)
    assert isinstance(switcher, Switcher)
    config = switcher.get_config()
    assert (config["num_tasks"], config["dropout"], config["seed"]) == (2, 0.1, 3)
    outputs, weights = switcher(X, return_gate_weights=True)
    assert len(outputs) == 2 and isinstance(weights, dict)


def test_switcher_rejects_bad_configurations():
    with pytest.raises(ValueError, match=r"tasks \[2\] are in no category"):
        HoMESwitcher(3, 1, 1, 1, [4], task_categories=[[0, 1]])
    with pytest.raises(ValueError, match=r"tasks \[1\] are in more than one category"):
        HoMESwitcher(2, 1, 1, 1, [4], task_categories=[[0, 1], [1]])
    with pytest.raises(ValueError, match=r"task indices \[5\] are not in \[0, 2\)"):
        HoMESwitcher(2, 1, 1, 1, [4], task_categories=[[0, 1, 5]])
    with pytest.raises(ValueError, match="a category is empty"):
        HoMESwitcher(2, 1, 1, 1, [4], task_categories=[[0, 1], []])
    with pytest.raises(ValueError, match="level-0 gate would see no expert"):
        HoMESwitcher(2, 0, [0, 1], 1, [4])
    with pytest.raises(ValueError, match="Task 1 would see no expert at level 1"):
        HoMESwitcher(2, [1, 0], [1, 0], [1, 0], [4])
    with pytest.raises(ValueError, match="num_shared_experts to be an int or a list of 2"):
        HoMESwitcher(2, [1, 1, 1], 1, 1, [4])
    with pytest.raises(ValueError, match="expert_units"):
        HoMESwitcher(2, 1, 1, 1, [[4], [4], [4]])
    with pytest.raises(ValueError, match="reads one input tensor"):
        HoMESwitcher(2, 1, 1, 1, [4])([X, X])
