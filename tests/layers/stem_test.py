"""STEM: task and shared embeddings, experts on each, gates that read all and train their own."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layer_test_case import run_layer_test
from zoo.layers.backbones.shared_and_task_embedding_backbone import (
    SharedAndTaskEmbeddingBackbone,
)
from zoo.layers.gates.dselect_k_gate import DSelectKGate
from zoo.layers.switchers.stem import STEMSwitcher

RNG = np.random.default_rng(0)
# Task 0's embedding, task 1's, then the shared one.
INPUTS = [RNG.normal(size=(6, 5)).astype("float32") for _ in range(3)]
SMALL = {"num_tasks": 2, "num_task_experts": [1, 2], "num_shared_experts": 2, "expert_units": [6]}


def _preprocessed(dataset, preprocessor, rows=16):
    raw = {k: v[:rows] for k, v in dataset.test.features.items()}
    return {k: np.asarray(v) for k, v in preprocessor(raw).items()}


def _backbone(preprocessor, **switcher_kwargs):
    switcher = STEMSwitcher(**{**SMALL, **switcher_kwargs})
    return SharedAndTaskEmbeddingBackbone(
        preprocessor.embedding_features(), switcher, task_names=["click", "like"], name="backbone"
    )


def test_switcher_layer_contract(tmp_path):
    run_layer_test(STEMSwitcher, SMALL, INPUTS, [(6, 6), (6, 6)], tmp_path)


def test_switcher_with_concatenated_gate_input_takes_embeddings_of_other_widths(tmp_path):
    inputs = [INPUTS[0][:, :3], INPUTS[1][:, :3], INPUTS[2]]  # task tables 3 wide, shared 5
    kwargs = {**SMALL, "gate_input": "concat", "expert_units": [4, 3]}
    run_layer_test(STEMSwitcher, kwargs, inputs, [(6, 3), (6, 3)], tmp_path)


def test_backbone_layer_contract(synthetic_dataset, synthetic_preprocessor, tmp_path):
    kwargs = {
        "features": synthetic_preprocessor.embedding_features(),
        "switcher": keras.layers.serialize(STEMSwitcher(**SMALL)),
        "task_names": ["click", "like"],
        "task_embedding_dim": 2,
    }
    # Task tables of another width than the shared ones need the concatenated gate input.
    kwargs["switcher"]["config"]["gate_input"] = "concat"
    x = _preprocessed(synthetic_dataset, synthetic_preprocessor)
    backbone = run_layer_test(
        SharedAndTaskEmbeddingBackbone, kwargs, x, [(16, 6), (16, 6)], tmp_path
    )
    # Three categorical features 2 wide and two numeric ones; the shared tables keep 4, 3, 4.
    assert [e.output_dim for e in backbone.task_embeddings] == [8, 8]
    assert backbone.embedding.output_dim == 13
    assert [e.name for e in backbone.task_embeddings] == ["embedding_click", "embedding_like"]


def _relu_mlp(x, kernels, biases):
    for kernel, bias in zip(kernels, biases):
        x = np.maximum(x @ kernel + bias, 0.0)
    return x


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("gate_input", ["sum", "concat"])
def test_outputs_match_the_formula_by_hand(gate_input):
    switcher = STEMSwitcher(
        num_tasks=2,
        num_task_experts=[2, 1],
        num_shared_experts=2,
        expert_units=[4, 3],
        gate_input=gate_input,
    )
    switcher(INPUTS)
    rng = np.random.default_rng(1)
    for w in switcher.weights:
        w.assign(rng.normal(scale=0.7, size=w.shape).astype("float32"))

    def expert_outputs(experts, x):
        kernels = [np.asarray(k) for k in experts.kernels]
        biases = [np.asarray(b) for b in experts.biases]
        return [  # one (batch, units) per expert
            _relu_mlp(x, [k[i] for k in kernels], [b[i] for b in biases])
            for i in range(experts.num_experts)
        ]

    x0, x1, xs = (x.astype("float64") for x in INPUTS)
    # Every gate weighs task 0's experts, task 1's, then the shared ones.
    pool = np.stack(
        expert_outputs(switcher.task_experts[0], x0)
        + expert_outputs(switcher.task_experts[1], x1)
        + expert_outputs(switcher.shared_experts, xs),
        axis=1,
    )  # (batch, 5, 3)
    outputs, gates = switcher(INPUTS, return_gate_weights=True)
    for t, x_t in enumerate((x0, x1)):
        gate_in = x_t + xs if gate_input == "sum" else np.concatenate([x_t, xs], axis=1)
        g = _softmax(gate_in @ np.asarray(switcher.task_gates[t].dense.kernel))  # (batch, 5)
        np.testing.assert_allclose(gates[f"task_{t}"], g, atol=1e-5)
        np.testing.assert_allclose(np.sum(gates[f"task_{t}"], axis=1), 1.0, atol=1e-6)
        np.testing.assert_allclose(outputs[t], np.einsum("be,beu->bu", g, pool), atol=1e-4)


@pytest.mark.parametrize("task", [0, 1])
def test_a_tasks_loss_trains_its_own_and_the_shared_parts_only(
    task, synthetic_dataset, synthetic_preprocessor
):
    keras.utils.set_random_seed(2)
    backbone = _backbone(synthetic_preprocessor)
    x = _preprocessed(synthetic_dataset, synthetic_preprocessor, rows=32)
    backbone(x)
    with tf.GradientTape() as tape:
        outputs = backbone(x)
        loss = tf.reduce_sum(tf.square(outputs[task] - 1.0))
    variables = backbone.trainable_variables
    grads = tape.gradient(loss, variables)
    own, other = ("click", "like")[task], ("click", "like")[1 - task]

    def norm(part):
        """The gradient norm of every variable whose path has `part` as one of its layers."""
        found = [g for v, g in zip(variables, grads) if part in v.path.split("/")[:-1]]
        assert found, f"no variable under {part}"
        return sum(0.0 if g is None else float(tf.norm(tf.convert_to_tensor(g))) for g in found)

    # The paper's sg(.): the other task's tables, experts and gate learn nothing from this loss.
    assert norm(f"embedding_{other}") == 0.0
    assert norm(f"experts_task_{1 - task}") == 0.0
    assert norm(f"gate_task_{1 - task}") == 0.0
    # Its own tables, experts and gate, and the shared tables and experts, do.
    for part in (f"embedding_{own}", f"experts_task_{task}", f"gate_task_{task}"):
        assert norm(part) > 0.0, part
    assert norm("embedding") > 0.0 and norm("experts_shared") > 0.0


def test_a_task_reads_the_other_tasks_embedding_forward(synthetic_dataset, synthetic_preprocessor):
    # All forward: task 0's output moves with task 1's tables, though it cannot train them.
    keras.utils.set_random_seed(4)
    backbone = _backbone(synthetic_preprocessor)
    x = _preprocessed(synthetic_dataset, synthetic_preprocessor)
    before = [np.asarray(o) for o in backbone(x)]
    for table in backbone.task_embeddings[1].tables:
        table.embeddings.assign(table.embeddings + 0.5)
    after = [np.asarray(o) for o in backbone(x)]
    assert not np.allclose(before[0], after[0])
    assert not np.allclose(before[1], after[1])


def test_gate_weights_and_expert_names(synthetic_dataset, synthetic_preprocessor):
    keras.utils.set_random_seed(5)
    backbone = _backbone(synthetic_preprocessor)
    _, gates = backbone(
        _preprocessed(synthetic_dataset, synthetic_preprocessor), return_gate_weights=True
    )
    names = backbone.switcher.gate_expert_names()
    assert sorted(gates) == sorted(names) == ["task_0", "task_1"]
    expected = [
        "task_0/expert_0",
        "task_1/expert_0",
        "task_1/expert_1",
        "shared/expert_0",
        "shared/expert_1",
    ]
    for name, w in gates.items():
        assert names[name] == expected
        assert w.shape == (16, 5)
        assert (np.asarray(w) >= 0).all()
        np.testing.assert_allclose(np.sum(w, axis=1), 1.0, rtol=1e-5)
    shared = backbone.switcher.shared_weights()
    assert shared and all("experts_shared" in w.path for w in shared)


def test_any_registered_gate_weighs_all_the_experts():
    gate = {"class_name": "dselect-k", "config": {"k": 2, "entropy_weight": 0.01}}
    switcher = STEMSwitcher(**SMALL, gate=gate)
    outputs, weights = switcher(INPUTS, training=True, return_gate_weights=True)
    assert [type(g) for g in switcher.task_gates] == [DSelectKGate] * 2
    assert all(g.num_experts == 5 and g.k == 2 for g in switcher.task_gates)
    assert [tuple(o.shape) for o in outputs] == [(6, 6), (6, 6)]
    for w in weights.values():
        np.testing.assert_allclose(np.sum(w, axis=1), 1.0, rtol=1e-5)
    assert switcher.losses  # the gates' entropy losses
    assert STEMSwitcher.from_config(switcher.get_config()).gate == switcher.gate


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="one expert count per task"):
        STEMSwitcher(2, num_task_experts=[1], num_shared_experts=1, expert_units=[4])
    with pytest.raises(ValueError, match="at least one expert"):
        STEMSwitcher(2, num_task_experts=0, num_shared_experts=0, expert_units=[4])
    with pytest.raises(ValueError, match="gate_input"):
        STEMSwitcher(2, num_task_experts=1, num_shared_experts=1, expert_units=[4], gate_input="x")
    switcher = STEMSwitcher(2, num_task_experts=1, num_shared_experts=1, expert_units=[4])
    with pytest.raises(ValueError, match="task 0 width 3, shared width 5"):
        switcher([INPUTS[0][:, :3], INPUTS[1][:, :3], INPUTS[2]])


def test_no_shared_experts_leaves_the_shared_embedding_to_the_gates():
    switcher = STEMSwitcher(2, num_task_experts=1, num_shared_experts=0, expert_units=[4])
    outputs, weights = switcher(INPUTS, return_gate_weights=True)
    assert [tuple(w.shape) for w in weights.values()] == [(6, 2), (6, 2)]
    assert switcher.shared_weights() == []
    assert [tuple(o.shape) for o in outputs] == [(6, 4), (6, 4)]
