"""AITM's information transfer and calibrator, DBMTL's task relations: contracts and formulas."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layer_test_case import run_layer_test
from zoo.layers.heads.funnel_calibration import FunnelCalibration
from zoo.layers.switchers.adaptive_information_transfer import (
    AdaptiveInformationTransferSwitcher,
)
from zoo.layers.switchers.task_relation import TaskRelationSwitcher, check_relations
from zoo.tasks import Task

X = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def relu(z):
    return np.maximum(z, 0.0)


# --- Adaptive Information Transfer --------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_tasks": 3, "units": [7, 5]},
        {"num_tasks": 2, "units": [5], "transfer_units": [4], "dropout": 0.1, "seed": 2},
    ],
)
def test_ait_switcher_contract(kwargs, tmp_path):
    run_layer_test(
        AdaptiveInformationTransferSwitcher, kwargs, X, [(4, 5)] * kwargs["num_tasks"], tmp_path
    )


def reference_ait(x, tower_kernels, tower_biases, transfer_kernels, transfer_biases, attention):
    """NumPy, float64: z_1 = q_1, p_{t-1} = g(z_{t-1}), z_t = AIT(p_{t-1}, q_t), eqs. (1)-(4).

    One-layer towers and transfers (relu). `attention[t - 1]` stacks h_1, h_2, h_3 `(3, k, k)`.
    Returns the z_t and, per later task, the weights over (p_{t-1}, q_t).
    """
    x = x.astype("float64")
    q = [relu(x @ w + b) for w, b in zip(tower_kernels, tower_biases)]
    k = q[0].shape[-1]
    z, weights = [q[0]], []
    for t in range(1, len(q)):
        p = relu(z[-1] @ transfer_kernels[t - 1] + transfer_biases[t - 1])
        h1, h2, h3 = attention[t - 1]
        scores = np.stack([(u @ h2 * (u @ h3)).sum(-1) / np.sqrt(k) for u in (p, q[t])], axis=1)
        w = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)  # (batch, 2)
        z.append(w[:, :1] * (p @ h1) + w[:, 1:] * (q[t] @ h1))
        weights.append(w)
    return z, weights


def test_ait_matches_the_papers_attention_by_hand():
    rng = np.random.default_rng(1)
    switcher = AdaptiveInformationTransferSwitcher(num_tasks=3, units=[4])
    switcher.build(X.shape)

    def fixed(variable):
        value = rng.normal(scale=0.7, size=variable.shape).astype("float32")
        variable.assign(value)
        return value

    tower_kernel = fixed(switcher.towers.kernels[0])  # (tasks, in, k)
    tower_bias = fixed(switcher.towers.biases[0])
    transfer = [
        (fixed(g.dense_layers[0].kernel), fixed(g.dense_layers[0].bias)) for g in switcher.transfers
    ]
    attention = [fixed(kernel) for kernel in switcher.attention_kernels]

    outputs, weights = switcher(X, return_gate_weights=True)
    z, w = reference_ait(
        X, tower_kernel, tower_bias, [g for g, _ in transfer], [b for _, b in transfer], attention
    )
    for t in range(3):
        np.testing.assert_allclose(outputs[t], z[t], rtol=1e-4, atol=1e-5)
    assert sorted(weights) == ["task_1", "task_2"]
    for t in (1, 2):
        np.testing.assert_allclose(weights[f"task_{t}"], w[t - 1], rtol=1e-4, atol=1e-6)
        # Neither candidate is ignored on most rows: the test sees both terms of eq. (3).
        assert np.median(w[t - 1].min(axis=1)) > 0.05
    assert switcher.gate_expert_names()["task_2"] == ["transfer/task_1", "tower/task_2"]


def test_ait_transfers_down_the_funnel_only():
    keras.utils.set_random_seed(0)
    switcher = AdaptiveInformationTransferSwitcher(num_tasks=3, units=[5])
    x = tf.constant(X)
    with tf.GradientTape(persistent=True) as tape:
        outputs = switcher(x)
    towers = switcher.towers.kernels[0]  # (tasks, in, k): slice t is task t's tower
    first = tape.gradient(outputs[0], towers).numpy()
    last = tape.gradient(outputs[2], towers).numpy()
    # z_1 is q_1: it does not see the later towers; z_3 sees every earlier step through z_2.
    assert np.abs(first[0]).sum() > 0 and np.abs(first[1:]).sum() == 0
    assert all(np.abs(last[t]).sum() > 0 for t in range(3))
    # g_2 (task 2 to 3) plays no part in z_2.
    assert all(
        g is None for g in tape.gradient(outputs[1], switcher.transfers[1].trainable_weights)
    )


def test_ait_rejects_towers_without_width():
    with pytest.raises(ValueError, match="units"):
        AdaptiveInformationTransferSwitcher(num_tasks=2, units=[])


# --- The funnel calibrator ----------------------------------------------------------------------

STEPS = [Task("click"), Task("apply"), Task("approve")]


@keras.saving.register_keras_serializable(package="task_relation_layers_test")
class BoundFunnelCalibration(FunnelCalibration):
    """The head bound to three funnel steps, as a model binds it: run_layer_test builds it bare."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bind([], STEPS)


def logits_of(values):
    return {t.name: np.asarray(v, "float32").reshape(-1, 1) for t, v in zip(STEPS, values)}


LOGITS = logits_of(np.random.default_rng(2).normal(size=(3, 6)))


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
def test_calibration_head_contract(tmp_path):
    # Predictions of the three steps and the two conditionals, in the flattened (sorted) order.
    run_layer_test(
        BoundFunnelCalibration, {"calibrator_weight": 0.5}, LOGITS, [(6, 1)] * 5, tmp_path
    )


def test_calibrator_loss_and_conditionals_by_hand():
    head = FunnelCalibration(calibrator_weight=0.6).bind([], STEPS)
    p = {name: sigmoid(z.astype("float64")) for name, z in LOGITS.items()}
    outputs = head(LOGITS, training=True)
    assert sorted(outputs) == sorted(
        ["click", "apply", "approve", "apply_given_click", "approve_given_apply"]
    )
    for name in p:
        assert outputs[name].dtype == "float32"
        np.testing.assert_allclose(outputs[name], p[name], rtol=1e-6)
    np.testing.assert_allclose(
        outputs["apply_given_click"], np.minimum(p["apply"] / p["click"], 1.0), rtol=1e-5
    )
    np.testing.assert_allclose(
        outputs["approve_given_apply"], np.minimum(p["approve"] / p["apply"], 1.0), rtol=1e-5
    )
    # alpha * sum over later steps of the batch mean of max(p_t - p_{t-1}, 0).
    expected = 0.6 * (relu(p["apply"] - p["click"]).mean() + relu(p["approve"] - p["apply"]).mean())
    assert expected > 0  # the random logits break the order somewhere
    assert len(head.losses) == 1
    np.testing.assert_allclose(float(head.losses[0]), expected, rtol=1e-5)
    head(LOGITS, training=False)
    assert head.losses == []  # nothing to calibrate at inference


def test_an_ordered_funnel_costs_nothing_and_a_zero_step_gives_no_nan():
    head = FunnelCalibration().bind([], STEPS)
    # Decreasing probabilities down the funnel; the last row's second step underflows to 0.
    logits = logits_of([[2.0, 0.0, -1.0], [1.0, -1.0, -200.0], [0.5, -3.0, -300.0]])
    outputs = head(logits, training=True)
    assert float(head.losses[0]) == 0.0
    given = np.asarray(outputs["approve_given_apply"]).ravel()
    assert float(outputs["apply"][2, 0]) == 0.0 and given[2] == 0.0
    assert np.isfinite(given).all() and (given <= 1.0).all()
    # A step predicted likelier than the one before is capped at certainty, never above.
    flipped = head(logits_of([[-1.0], [2.0], [0.0]]))
    assert float(flipped["apply_given_click"][0, 0]) == 1.0


def test_calibrator_needs_two_binary_steps_and_free_names():
    with pytest.raises(ValueError, match=r"two or more binary tasks.*\['click'\]"):
        FunnelCalibration().bind([], [Task("click")])
    with pytest.raises(ValueError, match=r"'amount'.*not binary"):
        FunnelCalibration().bind([], [Task("click"), Task("amount", "regression")])
    with pytest.raises(ValueError, match="clash"):
        FunnelCalibration().bind([], [Task("click"), Task("buy"), Task("buy_given_click")])
    with pytest.raises(ValueError, match="calibrator_weight"):
        FunnelCalibration(calibrator_weight=-1.0)


# --- DBMTL's task relations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, width",
    [
        ({"num_tasks": 3, "task_units": [6], "relation_units": [5], "bottom_units": [8]}, 5),
        (
            {
                "num_tasks": 3,
                "task_units": [],
                "relation_units": [7, 4],
                "relations": [[], [], [0, 1]],
                "num_experts": 3,
                "expert_units": [5],
                "dropout": 0.1,
                "seed": 1,
            },
            4,
        ),
    ],
)
def test_task_relation_switcher_contract(kwargs, width, tmp_path):
    run_layer_test(TaskRelationSwitcher, kwargs, X, [(4, width)] * kwargs["num_tasks"], tmp_path)


def test_relation_input_is_own_tower_then_parents_relation_outputs():
    switcher = TaskRelationSwitcher(3, [6], [5], relations=[[], [0], [1, 0]], bottom_units=[8])
    outputs = switcher(X)
    bottom = switcher.bottom(X)
    towers = [switcher.towers[t](bottom) for t in range(3)]
    np.testing.assert_allclose(outputs[0], switcher.relation_networks[0](towers[0]), rtol=1e-6)
    joined = np.concatenate([towers[2], outputs[1], outputs[0]], axis=-1)
    np.testing.assert_allclose(outputs[2], switcher.relation_networks[2](joined), rtol=1e-6)
    assert switcher.relation_networks[2].dense_layers[0].kernel.shape == (6 + 5 + 5, 5)


@pytest.mark.parametrize("relations", [None, [[], [], [0, 1]]], ids=["chain", "v"])
def test_a_task_does_not_depend_on_later_or_unrelated_tasks(relations):
    keras.utils.set_random_seed(0)
    switcher = TaskRelationSwitcher(3, [6], [5], relations=relations, bottom_units=[8])
    x = tf.constant(X)
    with tf.GradientTape(persistent=True) as tape:
        outputs = switcher(x)
    parents = check_relations(relations, 3)

    def moves(output, layer):
        grads = tape.gradient(output, layer.trainable_weights)
        return any(g is not None and np.abs(g.numpy()).sum() > 0 for g in grads)

    # Task 0's output does not see task 1's tower, nor any later relation network.
    assert not moves(outputs[0], switcher.towers[1])
    assert not moves(outputs[0], switcher.relation_networks[1])
    for t in range(3):
        for j in range(3):
            # Task t sees task j's tower exactly when j is t or an ancestor of t.
            ancestors = set(parents[t])
            for a in parents[t]:
                ancestors |= set(parents[a])
            assert moves(outputs[t], switcher.towers[j]) == (j == t or j in ancestors), (t, j)


def test_relations_are_acyclic_and_point_backwards():
    assert check_relations(None, 3) == [[], [0], [1]]
    with pytest.raises(ValueError, match="itself, a cycle"):
        check_relations([[], [1]], 2)
    with pytest.raises(ValueError, match="task 2, a forward reference"):
        check_relations([[], [2], []], 3)
    with pytest.raises(ValueError, match="does not exist"):
        check_relations([[], [-1]], 2)
    with pytest.raises(ValueError, match="one list of earlier task indices per task"):
        check_relations([[]], 2)
    with pytest.raises(ValueError, match="at most once"):
        check_relations([[], [0, 0]], 2)
    with pytest.raises(ValueError, match="ints"):
        check_relations([[], ["0"]], 2)
    with pytest.raises(ValueError, match="expert_units"):
        TaskRelationSwitcher(2, [4], num_experts=2)
    with pytest.raises(ValueError, match="relation width"):
        TaskRelationSwitcher(2, [4], relation_units=[])


def test_gates_and_shared_weights_come_from_the_bottom_and_experts():
    plain = TaskRelationSwitcher(2, [4], [3], bottom_units=[5])
    _, weights = plain(X, return_gate_weights=True)
    assert weights == {} and plain.gate_expert_names() == {}
    assert len(plain.shared_weights()) == 2  # the bottom's kernel and bias
    mixed = TaskRelationSwitcher(2, [4], [3], bottom_units=[5], num_experts=3, expert_units=[4])
    _, weights = mixed(X, return_gate_weights=True)
    assert sorted(weights) == ["task_0", "task_1"]
    np.testing.assert_allclose(np.asarray(weights["task_1"]).sum(axis=1), 1.0, rtol=1e-6)
    assert len(mixed.shared_weights()) == 2 + 2  # the bottom's, then the experts' kernel and bias
