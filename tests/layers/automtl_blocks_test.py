"""AutoMTL's expert candidates, field embedding, choice block and expert selection."""

import numpy as np
import pytest

from tests.layer_test_case import run_layer_test
from zoo.layers import BitGate, ChoiceBlock, ExpertSelection, FieldEmbedding, VectorConv1D
from zoo.layers.search import candidates
from zoo.losses.divergence import extended_jsd_loss

VECTORS = np.random.default_rng(1).normal(size=(3, 8)).astype("float32")
FIELDS = np.random.default_rng(2).normal(size=(3, 4, 2)).astype("float32")


def test_bit_gate_contract_and_values(tmp_path):
    run_layer_test(BitGate, {}, VECTORS, (3, 8), tmp_path)
    gate = BitGate()
    out = np.asarray(gate(VECTORS))
    kernel, bias = (np.asarray(w) for w in gate.dense.weights)
    np.testing.assert_allclose(out, VECTORS / (1 + np.exp(-(VECTORS @ kernel + bias))), rtol=1e-5)


def test_vector_conv_contract_and_values(tmp_path):
    run_layer_test(VectorConv1D, {"kernel_size": 3}, VECTORS, (3, 8), tmp_path)
    conv = VectorConv1D(kernel_size=3)
    out = np.asarray(conv(VECTORS))
    kernel, bias = (np.asarray(w) for w in conv.conv.weights)
    taps = kernel[:, 0, 0]
    padded = np.pad(VECTORS, ((0, 0), (1, 1)))
    # A Keras convolution is a cross-correlation: out[i] = sum_t taps[t] x[i - 1 + t].
    expected = sum(taps[t] * padded[:, t : t + 8] for t in range(3)) + bias[0]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_vector_conv_needs_an_odd_kernel():
    with pytest.raises(ValueError, match="odd kernel_size"):
        VectorConv1D(kernel_size=4)


FEATURES = [
    {"name": "city", "kind": "categorical", "input_dim": 5, "output_dim": 3},
    {"name": "age", "kind": "numeric"},
    {"name": "device", "kind": "categorical", "input_dim": 4, "output_dim": 2},
]
RAW = {
    "city": np.array([1, 4, 0]),
    "age": np.array([0.5, -1.0, 2.0], "float32"),
    "device": np.array([3, 0, 1]),
}


def test_field_embedding_contract(tmp_path):
    run_layer_test(FieldEmbedding, {"features": FEATURES, "field_dim": 6}, RAW, (3, 3, 6), tmp_path)


def test_field_embedding_fields_by_hand():
    layer = FieldEmbedding(FEATURES, field_dim=6)
    out = np.asarray(layer(RAW))
    assert layer.field_names == ["city", "device", "age"]
    table = np.asarray(layer.categorical.tables[0].embeddings)  # city rows, then device rows
    np.testing.assert_allclose(out[:, 0], table[RAW["city"]])
    np.testing.assert_allclose(out[:, 1], table[5 + RAW["device"]])
    kernel, bias = np.asarray(layer.numeric_kernel), np.asarray(layer.numeric_bias)
    np.testing.assert_allclose(out[:, 2], RAW["age"][:, None] * kernel[0] + bias[0], rtol=1e-6)


def test_field_embedding_names_a_missing_numeric_feature():
    layer = FieldEmbedding(FEATURES, field_dim=2)
    with pytest.raises(KeyError, match=r"numeric features \['age'\]"):
        layer({k: v for k, v in RAW.items() if k != "age"})


def test_every_default_candidate_builds_with_the_block_width():
    wide_fields = np.random.default_rng(4).normal(size=(3, 2, 8)).astype("float32")  # 8 heads fit
    for name in candidates.INTERACTION_OPS:
        block = ChoiceBlock([name], width=16)
        assert block(wide_fields).shape == (3, 16), name
    for name in candidates.EXPERT_OPS:
        block = ChoiceBlock([name], width=8)
        assert block(VECTORS).shape == (3, 8), name


def test_choice_block_contract(tmp_path):
    run_layer_test(
        ChoiceBlock,
        {"candidates": ["skip", "mlp-4", "conv1d-3", "bit-gate"], "width": 8, "normalize": True},
        VECTORS,
        (3, 8),
        tmp_path,
    )


def test_choice_block_mixes_its_candidates_by_the_weights():
    block = ChoiceBlock(["skip", "mlp-4", "inner-product"], width=8)
    weights = np.array([0.2, 0.5, 0.3], "float32")
    mixed = np.asarray(block(FIELDS, weights=weights, skip_weight=0.7))
    flat = FIELDS.reshape(3, 8)
    each = [
        flat,
        np.asarray(block.operations[1](flat)),
        np.asarray(block.operations[2](FIELDS)),
    ]
    expected = sum(w * out for w, out in zip(weights, each)) + 0.7 * flat
    np.testing.assert_allclose(mixed, expected, rtol=1e-5, atol=1e-6)


def test_choice_block_errors_name_the_problem():
    with pytest.raises(ValueError, match="reads the fields apart"):
        ChoiceBlock(["skip", "attention-1"], width=8)(VECTORS)
    with pytest.raises(ValueError, match="the input is 8 wide but the candidates output 6"):
        ChoiceBlock(["skip"], width=6)(VECTORS)
    with pytest.raises(ValueError, match="Received twice"):
        ChoiceBlock(["skip", "skip"], width=8)


@pytest.mark.parametrize(
    "name, message",
    [
        ("mlp", "needs a number"),
        ("mlp-x", "Unknown candidate"),
        ("bit-gate-3", "takes no number"),
        ("skip-2", "takes no number"),
        ("lstm-2", "Unknown candidate"),
    ],
)
def test_candidate_names_are_checked(name, message):
    with pytest.raises(ValueError, match=message):
        candidates.parse_candidate(name)


def test_a_new_candidate_is_one_layer_and_one_line(monkeypatch):
    import keras

    monkeypatch.setitem(
        candidates.CANDIDATES,
        "dense",
        candidates.Candidate(lambda n, width, name: keras.layers.Dense(width, name=name)),
    )
    block = ChoiceBlock(["skip", "dense", "mlp-4"], width=8)
    assert block(VECTORS, weights=np.full(3, 1 / 3, "float32")).shape == (3, 8)


def test_expert_selection_contract(tmp_path):
    experts = np.random.default_rng(3).normal(size=(3, 4, 5)).astype("float32")
    run_layer_test(
        ExpertSelection, {"num_tasks": 2, "num_experts": 4}, experts, [(3, 5), (3, 5)], tmp_path
    )


def test_expert_selection_mixes_by_softmax_beta_and_adds_the_weighted_jsd():
    experts = np.random.default_rng(3).normal(size=(3, 4, 5)).astype("float32")
    selection = ExpertSelection(num_tasks=2, num_experts=4, jsd_weight=0.5)
    selection.build()
    beta = np.array([[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 1.0, -2.0]], "float32")
    selection.beta.assign(beta)
    outputs = selection(experts)
    p = np.exp(beta) / np.exp(beta).sum(axis=1, keepdims=True)
    for k in range(2):
        np.testing.assert_allclose(outputs[k], np.einsum("e,beu->bu", p[k], experts), rtol=1e-5)
    (loss,) = selection.losses
    np.testing.assert_allclose(float(loss), 0.5 * float(extended_jsd_loss(p)), rtol=1e-6)
