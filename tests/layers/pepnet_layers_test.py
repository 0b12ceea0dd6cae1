"""PEPNet's parts: the Gate NU, EPNet (`PersonalizedEmbedding`) and PPNet (`PPNetSwitcher`)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.layer_test_case import run_layer_test
from zoo.layers.core.gate_nu import GateNU
from zoo.layers.features.personalized_embedding import PersonalizedEmbedding
from zoo.layers.switchers.ppnet import PPNetSwitcher

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 5)).astype("float32")

# Field order of FieldEmbedding: categorical features as listed, then numeric ones.
FEATURES = [
    {"name": "domain", "kind": "categorical", "input_dim": 3, "output_dim": 4},
    {"name": "user", "kind": "categorical", "input_dim": 7, "output_dim": 2},
    {"name": "age", "kind": "numeric"},
    {"name": "item", "kind": "categorical", "input_dim": 5, "output_dim": 4},
]
FIELD_NAMES = ["domain", "user", "item", "age"]
RAW = {
    "domain": np.array([0, 2, 1, 2], "int32"),
    "user": np.array([6, 0, 3, 3], "int32"),
    "age": np.array([0.5, -1.0, 2.0, 0.0], "float32"),
    "item": np.array([1, 4, 0, 2], "int32"),
}


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference_gate_nu(x, gate, gamma):
    """NumPy, float64: gamma * sigmoid(relu(x W1 + b1) W2 + b2) (the paper's Gate NU)."""
    w1, b1 = (np.asarray(w, "float64") for w in gate.hidden.weights)
    w2, b2 = (np.asarray(w, "float64") for w in gate.output_dense.weights)
    hidden = np.maximum(np.asarray(x, "float64") @ w1 + b1, 0.0)
    return gamma * sigmoid(hidden @ w2 + b2)


def randomize(layer, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign((scale * rng.normal(size=w.shape)).astype("float32"))


# ----------------------------------------------------------------------------
# Gate NU
# ----------------------------------------------------------------------------


def test_gate_nu_layer_contract(tmp_path):
    run_layer_test(GateNU, {"units": 3, "hidden_dim": 7, "gamma": 2.0}, X, (6, 3), tmp_path)


@pytest.mark.parametrize("gamma, hidden_dim", [(2.0, None), (3.5, 4), (1.0, 9)])
def test_gate_nu_matches_the_papers_formula(gamma, hidden_dim):
    gate = GateNU(6, hidden_dim=hidden_dim, gamma=gamma)
    gate.build(X.shape)
    randomize(gate, seed=int(gamma * 10))
    assert gate.hidden.units == (hidden_dim or 6)
    np.testing.assert_allclose(gate(X), reference_gate_nu(X, gate, gamma), rtol=1e-5, atol=1e-6)


def test_gate_nu_by_hand():
    # x = (1, -1); hidden = relu((1*1 + -1*2, 1*3 + -1*-1) + 0) = relu(-1, 4) = (0, 4);
    # logit = 0 * 0.5 + 4 * 0.25 + (-1) = 0; delta = gamma * sigmoid(0) = gamma / 2.
    gate = GateNU(1, hidden_dim=2, gamma=3.0)
    gate.build((None, 2))
    gate.hidden.kernel.assign(np.array([[1.0, 3.0], [2.0, -1.0]], "float32"))
    gate.output_dense.kernel.assign(np.array([[0.5], [0.25]], "float32"))
    gate.output_dense.bias.assign(np.array([-1.0], "float32"))
    np.testing.assert_allclose(gate(np.array([[1.0, -1.0]], "float32")), [[1.5]], rtol=1e-6)


@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_gate_nu_stays_inside_zero_gamma(gamma):
    gate = GateNU(16, gamma=gamma)
    x = 3.0 * np.random.default_rng(1).normal(size=(64, 5)).astype("float32")
    delta = np.asarray(gate(x))
    assert (delta > 0).all() and (delta < gamma).all()
    # Large logits approach the bounds from inside.
    gate.output_dense.bias.assign(np.full(16, 8.0, "float32"))
    gate.output_dense.kernel.assign(np.zeros_like(gate.output_dense.kernel))
    np.testing.assert_allclose(gate(x), gamma * sigmoid(8.0), rtol=1e-6)
    assert float(np.max(gate(x))) < gamma


def test_gate_nu_rejects_bad_arguments():
    with pytest.raises(ValueError, match="gamma > 0"):
        GateNU(3, gamma=0.0)
    with pytest.raises(ValueError, match="units >= 1"):
        GateNU(0)


def test_gate_nu_kernels_do_not_start_equal():
    gate = GateNU(
        5, hidden_dim=5, kernel_initializer={"class_name": "GlorotUniform", "config": {"seed": 3}}
    )
    gate.build((None, 5))
    assert not np.allclose(gate.hidden.kernel, gate.output_dense.kernel)


# ----------------------------------------------------------------------------
# EPNet: PersonalizedEmbedding
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, width",
    [
        ({"domain_features": ["domain"], "personal_features": ["user", "item"]}, 4 * 3 + 2 * 3),
        ({"domain_features": ["domain", "age"], "granularity": "unit"}, 4 * 3),
        ({"personal_features": ["user"]}, 4 * 3 + 3),
    ],
    ids=["field", "unit", "no-domain"],
)
def test_personalized_embedding_layer_contract(kwargs, width, tmp_path):
    init = {"features": FEATURES, "field_dim": 3, "gate_hidden_dim": 5, **kwargs}
    run_layer_test(PersonalizedEmbedding, init, RAW, (4, width), tmp_path)


def _epnet(granularity="field", gamma=2.0):
    layer = PersonalizedEmbedding(
        FEATURES,
        field_dim=3,
        domain_features=["domain"],
        personal_features=["item", "user"],
        granularity=granularity,
        gamma=gamma,
    )
    layer.build()
    randomize(layer.domain_gate, seed=5)
    return layer


@pytest.mark.parametrize("granularity", ["field", "unit"])
def test_epnet_matches_the_papers_formula(granularity):
    layer = _epnet(granularity, gamma=2.0)
    assert layer.field_names == FIELD_NAMES
    fields = np.asarray(layer.fields(RAW), "float64")  # (batch, k, d): E
    batch, k, d = fields.shape
    # delta_domain = GateNU([E(F_d), E]); O_ep = delta_domain * E.
    gate_input = np.concatenate([fields[:, 0], fields.reshape(batch, -1)], axis=1)
    delta = reference_gate_nu(gate_input, layer.domain_gate, 2.0)
    if granularity == "field":
        assert delta.shape == (batch, k)
        expected = (fields * delta[:, :, None]).reshape(batch, -1)
    else:
        assert delta.shape == (batch, k * d)
        expected = fields.reshape(batch, -1) * delta
    out = np.asarray(layer(RAW))
    assert out.shape == (batch, layer.gated_dim + layer.prior_dim) == (batch, 4 * 3 + 2 * 3)
    np.testing.assert_allclose(out[:, : layer.gated_dim], expected, rtol=1e-5, atol=1e-6)
    # O_prior: the personal features' raw embeddings, in the order named.
    np.testing.assert_allclose(
        out[:, layer.gated_dim :],
        np.concatenate([fields[:, 2], fields[:, 1]], axis=1),
        rtol=1e-6,
    )
    np.testing.assert_allclose(layer.domain_gate_weights(RAW), delta, rtol=1e-5, atol=1e-6)
    assert (delta > 0).all() and (delta < 2.0).all()


def test_epnet_gate_does_not_train_the_general_embedding_through_its_input():
    layer = _epnet("field")
    fields = tf.constant(layer.fields(RAW))
    weights = tf.constant(RNG.normal(size=(4, layer.gated_dim)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(fields)
        out = layer.personalize(fields)[:, : layer.gated_dim]
        loss = tf.reduce_sum(weights * out)
    grad = tape.gradient(loss, fields).numpy()  # (batch, k, d)
    delta = layer.domain_gate_weights(RAW).numpy()  # (batch, k)
    # With the stop gradient, d O_ep / d E is delta alone for every field but the domain's
    # (whose E(F_d) also feeds the gate, un-stopped).
    expected = weights.numpy().reshape(4, 4, 3) * delta[:, :, None]
    np.testing.assert_allclose(grad[:, 1:], expected[:, 1:], rtol=1e-5, atol=1e-6)
    assert not np.allclose(grad[:, 0], expected[:, 0])

    # The gate's own gradient reaches the table rows of the domain feature only.
    table = layer.fields.categorical.tables[0].embeddings  # domain, user, item rows in order
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(layer.domain_gate_weights(RAW))
    rows = tf.convert_to_tensor(tape.gradient(total, table)).numpy()
    assert np.abs(rows[0:3]).sum() > 0  # domain rows
    np.testing.assert_array_equal(rows[3:], 0.0)  # user and item rows
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(layer.domain_gate_weights(RAW))
    numeric = tape.gradient(total, [layer.fields.numeric_kernel, layer.fields.numeric_bias])
    assert all(g is None or np.allclose(g, 0.0) for g in numeric)


def test_epnet_gate_weights_before_the_first_call():
    # Inspecting the gate first builds the parts; the first call must not build them again.
    layer = PersonalizedEmbedding(FEATURES, field_dim=3, domain_features=["user"])
    assert tuple(layer.domain_gate_weights(RAW).shape) == (4, 4)
    assert tuple(layer(RAW).shape) == (4, 12)


def test_epnet_without_domain_features_is_the_plain_embedding():
    layer = PersonalizedEmbedding(FEATURES, field_dim=3)
    out = np.asarray(layer(RAW))
    assert layer.domain_gate is None and layer.prior_dim == 0
    np.testing.assert_allclose(out, np.asarray(layer.fields(RAW)).reshape(4, -1))
    np.testing.assert_array_equal(layer.domain_gate_weights(RAW), np.ones((4, 4)))


def test_epnet_names_an_unknown_feature_and_lists_the_features():
    with pytest.raises(ValueError, match=r"'dom'.*domain, user, age, item"):
        PersonalizedEmbedding(FEATURES, domain_features=["dom"])
    with pytest.raises(ValueError, match=r"'usr' in personal_features"):
        PersonalizedEmbedding(FEATURES, personal_features=["user", "usr"])
    with pytest.raises(ValueError, match="distinct"):
        PersonalizedEmbedding(FEATURES, personal_features=["user", "user"])
    with pytest.raises(ValueError, match="granularity"):
        PersonalizedEmbedding(FEATURES, granularity="feature")


# ----------------------------------------------------------------------------
# PPNet: PPNetSwitcher
# ----------------------------------------------------------------------------

PP_INPUT = RNG.normal(size=(5, 9)).astype("float32")  # x: 6 columns, priors: 3


def test_ppnet_layer_contract(tmp_path):
    run_layer_test(
        PPNetSwitcher,
        {"num_tasks": 3, "units": [4, 2], "prior_dim": 3, "gate_hidden_dim": 5, "dropout": 0.1},
        PP_INPUT,
        [(5, 2)] * 3,
        tmp_path,
    )


def test_ppnet_without_priors_layer_contract(tmp_path):
    run_layer_test(PPNetSwitcher, {"num_tasks": 2, "units": [3]}, PP_INPUT, [(5, 3)] * 2, tmp_path)


def reference_ppnet(inputs, switcher):
    """NumPy, float64: H_t^(l) = delta_t^(l) * relu(H_t^(l-1) W_t^(l) + b_t^(l)), H^(0) = x."""
    inputs = np.asarray(inputs, "float64")
    split = inputs.shape[1] - switcher.prior_dim
    x, prior = inputs[:, :split], inputs[:, split:]
    gate_input = np.concatenate([prior, x], axis=1)
    outputs, gates = [], {}
    for t in range(switcher.num_tasks):
        h = x
        for layer, width in enumerate(switcher.units):
            kernel = np.asarray(switcher.kernels[layer], "float64")[t]
            bias = np.asarray(switcher.biases[layer], "float64")[t]
            delta_all = reference_gate_nu(gate_input, switcher.gates[layer], switcher.gamma)
            delta = delta_all[:, t * width : (t + 1) * width]  # task t's slice of T * h_l
            gates[f"task_{t}/layer_{layer}"] = delta
            h = delta * np.maximum(h @ kernel + bias, 0.0)
        outputs.append(h)
    return outputs, gates


@pytest.mark.parametrize("prior_dim", [3, 0])
def test_ppnet_matches_the_papers_equations(prior_dim):
    switcher = PPNetSwitcher(2, [4, 3], prior_dim=prior_dim, gamma=2.0)
    switcher.build(PP_INPUT.shape)
    randomize(switcher, seed=7)
    expected, expected_gates = reference_ppnet(PP_INPUT, switcher)
    outputs = switcher(PP_INPUT)
    assert len(outputs) == 2
    for out, ref in zip(outputs, expected):
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    gates = switcher.task_gates(PP_INPUT)
    assert sorted(gates) == sorted(expected_gates)
    for name, delta in gates.items():
        np.testing.assert_allclose(delta, expected_gates[name], rtol=1e-5, atol=1e-6)
        assert (np.asarray(delta) > 0).all() and (np.asarray(delta) < 2.0).all()
    _, weights = switcher(PP_INPUT, return_gate_weights=True)
    assert weights == {}


def test_ppnet_gates_do_not_train_x_and_do_train_the_priors():
    switcher = PPNetSwitcher(2, [4, 3], prior_dim=3)
    inputs = tf.constant(PP_INPUT)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        total = tf.add_n([tf.reduce_sum(g) for g in switcher.task_gates(inputs).values()])
    grad = tape.gradient(total, inputs).numpy()
    np.testing.assert_array_equal(grad[:, :6], 0.0)  # x: stop gradient
    assert np.abs(grad[:, 6:]).min() > 0  # O_prior: trained through the gates


def test_ppnet_task_dnns_start_distinct_and_gradnorm_sees_the_gates():
    switcher = PPNetSwitcher(3, [4], prior_dim=3)
    switcher.build(PP_INPUT.shape)
    kernel = np.asarray(switcher.kernels[0])  # (tasks, in, units)
    assert kernel.shape == (3, 6, 4)
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.allclose(kernel[i], kernel[j])
    shared = switcher.shared_weights()
    assert shared and all("gate_0/hidden" in w.path for w in shared)


def test_ppnet_rejects_bad_inputs():
    with pytest.raises(ValueError, match="prior_dim"):
        PPNetSwitcher(2, [4], prior_dim=9)(PP_INPUT)
    with pytest.raises(ValueError, match="one input tensor"):
        PPNetSwitcher(2, [4])([PP_INPUT, PP_INPUT])
    with pytest.raises(ValueError, match="prior_dim >= 0"):
        PPNetSwitcher(2, [4], prior_dim=-1)
    with pytest.raises(ValueError, match="positive widths"):
        PPNetSwitcher(2, [])
