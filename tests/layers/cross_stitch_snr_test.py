import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layer_test_case import run_layer_test
from zoo.layers.switchers.cross_stitch import CrossStitchSwitcher
from zoo.layers.switchers.snr import SNRAverSwitcher, SNRTransSwitcher, hard_concrete, l0_penalty
from zoo.layers.switchers.switcher import Switcher

X = np.random.default_rng(0).random((4, 6)).astype("float32")
SNR_CLASSES = [SNRTransSwitcher, SNRAverSwitcher]


def _relu(x):
    return np.maximum(x, 0.0)


@pytest.mark.parametrize(
    "layer_cls, kwargs, width",
    [
        (CrossStitchSwitcher, {"num_tasks": 2, "units": [8, 5]}, 5),
        (CrossStitchSwitcher, {"num_tasks": 1, "units": [4]}, 4),
        (CrossStitchSwitcher, {"num_tasks": 3, "units": [5], "dropout": 0.2, "seed": 1}, 5),
        (SNRTransSwitcher, {"num_tasks": 2, "num_experts": 3, "expert_units": [5, 4]}, 4),
        (SNRTransSwitcher, {"num_tasks": 3, "num_layers": 1, "expert_units": 5}, 5),
        (SNRAverSwitcher, {"num_tasks": 2, "num_experts": 3, "expert_units": [5, 4]}, 4),
        (
            SNRAverSwitcher,
            {"num_tasks": 2, "num_layers": 3, "expert_units": 4, "dropout": 0.2, "seed": 2},
            4,
        ),
    ],
)
def test_layer_contract(layer_cls, kwargs, width, tmp_path):
    run_layer_test(layer_cls, kwargs, X, [(4, width)] * kwargs["num_tasks"], tmp_path)


def test_cross_stitch_takes_one_input_per_column(tmp_path):
    inputs = [X, X[::-1].copy()]
    run_layer_test(
        CrossStitchSwitcher, {"num_tasks": 2, "units": [3]}, inputs, [(4, 3)] * 2, tmp_path
    )


# ---------------------------------------------------------------------------
# Cross-stitch
# ---------------------------------------------------------------------------


def test_cross_stitch_alpha_starts_at_the_papers_mix():
    switcher = CrossStitchSwitcher(3, [4, 4], self_weight=0.8)
    switcher.build(X.shape)
    expected = np.full((3, 3), 0.1, "float32")
    np.fill_diagonal(expected, 0.8)
    assert len(switcher.alphas) == 2
    for alpha in switcher.alphas:
        np.testing.assert_allclose(alpha.numpy(), expected, rtol=1e-6)
    single = CrossStitchSwitcher(1, [4])
    single.build(X.shape)
    np.testing.assert_array_equal(single.alphas[0].numpy(), [[1.0]])


def test_cross_stitch_output_by_hand():
    switcher = CrossStitchSwitcher(2, [3, 2], self_weight=0.7)
    outputs = switcher(X)
    h = np.stack([X, X], axis=1)  # (batch, K, input_dim)
    for kernel, bias, alpha in zip(switcher.kernels, switcher.biases, switcher.alphas):
        h = _relu(np.einsum("bki,kio->bko", h, kernel.numpy()) + bias.numpy())
        h = np.einsum("kj,bjo->bko", alpha.numpy(), h)
    for k in range(2):
        np.testing.assert_allclose(outputs[k], h[:, k], rtol=1e-5, atol=1e-6)


def _grad_of_task_0(switcher):
    """Gradient of task 0's output on every kernel, one (K, in, out) array per layer."""
    with tf.GradientTape() as tape:
        out = switcher(X)[0]
        loss = tf.reduce_sum(out**2)
    return [g.numpy() for g in tape.gradient(loss, switcher.kernels)]


def test_identity_cross_stitch_keeps_the_columns_independent():
    # Seeded: with unlucky initial weights every ReLU of a column is dead on X
    # and no gradient flows at all; which weights came depended on test order.
    keras.utils.set_random_seed(0)
    switcher = CrossStitchSwitcher(2, [5, 4])
    switcher.build(X.shape)
    mixed = _grad_of_task_0(switcher)
    assert all(np.abs(g[1]).sum() > 0 for g in mixed), "task 1's column should reach task 0"
    for alpha in switcher.alphas:
        alpha.assign(np.eye(2, dtype="float32"))
    independent = _grad_of_task_0(switcher)
    for g in independent:
        assert np.abs(g[0]).sum() > 0
        np.testing.assert_array_equal(g[1], 0.0)


def test_cross_stitch_shares_only_its_alphas():
    switcher = CrossStitchSwitcher(2, [4, 4])
    switcher.build(X.shape)
    shared = switcher.shared_weights()
    assert [w.path for w in shared] == [w.path for w in switcher.alphas]
    assert switcher.gate_expert_names() == {}
    outputs, weights = switcher(X, return_gate_weights=True)
    assert len(outputs) == 2 and weights == {}


def test_cross_stitch_rejects_bad_configurations():
    with pytest.raises(ValueError, match="self_weight"):
        CrossStitchSwitcher(2, [4], self_weight=1.5)
    with pytest.raises(ValueError, match="units"):
        CrossStitchSwitcher(2, [])
    with pytest.raises(ValueError, match="one input width"):
        CrossStitchSwitcher(2, [4])([X, X[:, :3]])


# ---------------------------------------------------------------------------
# Hard-concrete coding variables
# ---------------------------------------------------------------------------


def test_hard_concrete_samples_lie_in_the_unit_interval_and_hit_both_ends():
    log_alpha = tf.constant(np.linspace(-3, 3, 2000, dtype="float32"))
    z = hard_concrete(log_alpha, training=True, seed=keras.random.SeedGenerator(0)).numpy()
    assert z.min() >= 0.0 and z.max() <= 1.0
    assert (z == 0.0).any() and (z == 1.0).any(), "the stretch should give exact zeros and ones"
    assert ((z > 0) & (z < 1)).any()


def test_hard_concrete_at_inference_by_hand():
    log_alpha = tf.constant([-5.0, 0.0, 0.5, 5.0])
    z = hard_concrete(log_alpha, training=False).numpy()
    middle = 1 / (1 + math.exp(-0.5)) * 1.2 - 0.1
    np.testing.assert_allclose(z, [0.0, 0.5, middle, 1.0], rtol=1e-6)


def test_l0_penalty_by_hand_and_monotone():
    log_alpha = np.array([[-1.0, 0.0], [2.0, 0.5]], "float32")
    shift = (2 / 3) * math.log(0.1 / 1.1)
    expected = sum(1 / (1 + math.exp(-(a - shift))) for a in log_alpha.ravel())
    np.testing.assert_allclose(l0_penalty(tf.constant(log_alpha)).numpy(), expected, rtol=1e-6)
    assert l0_penalty(tf.constant(log_alpha - 1.0)).numpy() < expected


# ---------------------------------------------------------------------------
# SNR switchers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("layer_cls", SNR_CLASSES)
def test_snr_is_deterministic_at_inference_and_noisy_in_training(layer_cls):
    switcher = layer_cls(2, num_experts=3, expert_units=[5, 4], seed=4)
    first = switcher(X)
    np.testing.assert_array_equal(first[0], switcher(X, training=False)[0])
    for z in switcher.coding_variables():
        assert ((z >= 0) & (z <= 1)).all()
    a = switcher(X, training=True)[0].numpy()
    b = switcher(X, training=True)[0].numpy()
    assert not np.allclose(a, b), "each training call should draw new coding variables"


@pytest.mark.parametrize("layer_cls", SNR_CLASSES)
def test_snr_noise_is_reproducible_under_a_seed(layer_cls):
    one = layer_cls(2, num_experts=3, expert_units=4, seed=11)
    two = layer_cls(2, num_experts=3, expert_units=4, seed=11)
    one.build(X.shape)
    two.build(X.shape)
    two.set_weights(one.get_weights())
    for _ in range(2):
        for a, b in zip(one(X, training=True), two(X, training=True)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layer_cls", SNR_CLASSES)
def test_l0_penalty_is_a_loss_in_training_only(layer_cls):
    switcher = layer_cls(2, num_experts=3, expert_units=4, l0_strength=0.01)
    switcher(X)
    assert switcher.losses == []
    switcher(X, training=True)
    assert len(switcher.losses) == 1
    # 2 layers: a 3 x 3 connection matrix and a 3 x 2 one to the tasks, all log_alpha = 0.
    p_open = 1 / (1 + math.exp((2 / 3) * math.log(0.1 / 1.1)))
    np.testing.assert_allclose(switcher.losses[0].numpy(), 0.01 * 15 * p_open, rtol=1e-5)
    for log_alpha in switcher.log_alphas:
        log_alpha.assign(log_alpha - 2.0)
    switcher(X, training=True)
    assert switcher.losses[0].numpy() < 0.01 * 15 * p_open
    switcher(X)
    assert switcher.losses == []
    silent = layer_cls(2, num_experts=3, expert_units=4, l0_strength=0.0)
    silent(X, training=True)
    assert silent.losses == []


def _forward_by_hand(switcher, transform):
    u = switcher.experts(X).numpy()  # (batch, experts, units[0])
    codes = switcher.coding_variables()
    for r, z in enumerate(codes):
        if transform:
            v = np.einsum("bid,ij,ijdo->bjo", u, z, switcher.kernels[r].numpy())
        else:
            v = np.einsum("bid,ij->bjd", u, z)
        if r == len(codes) - 1:
            return v
        if not transform:
            v = np.einsum("bjd,jdo->bjo", v, switcher.kernels[r].numpy())
        u = _relu(v + switcher.biases[r].numpy())


@pytest.mark.parametrize("layer_cls", SNR_CLASSES)
def test_snr_output_by_hand(layer_cls):
    switcher = layer_cls(2, num_experts=3, expert_units=[5, 4], log_alpha_init=0.3)
    outputs = switcher(X)
    rng = np.random.default_rng(1)
    for log_alpha in switcher.log_alphas:  # z all different, some exactly 0 or 1
        log_alpha.assign(rng.normal(0, 3, log_alpha.shape).astype("float32"))
    outputs = switcher(X)
    expected = _forward_by_hand(switcher, transform=layer_cls is SNRTransSwitcher)
    for k in range(2):
        np.testing.assert_allclose(outputs[k], expected[:, k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer_cls", SNR_CLASSES)
def test_closed_connections_cut_a_task_off(layer_cls):
    switcher = layer_cls(2, num_experts=3, expert_units=4)
    switcher.build(X.shape)
    to_tasks = switcher.log_alphas[-1]
    to_tasks.assign(np.array([[-10.0, 10.0]] * 3, "float32"))  # z = 0 to task 0, 1 to task 1
    np.testing.assert_array_equal(switcher.coding_variables()[-1][:, 0], 0.0)
    outputs = switcher(X)
    np.testing.assert_array_equal(outputs[0], 0.0)
    assert np.abs(outputs[1].numpy()).sum() > 0


@pytest.mark.parametrize("layer_cls", SNR_CLASSES)
def test_snr_shares_its_first_layer(layer_cls):
    switcher = layer_cls(2, num_experts=3, expert_units=4)
    switcher.build(X.shape)
    shared = switcher.shared_weights()
    assert [w.path for w in shared] == [w.path for w in switcher.experts.trainable_weights]
    for k in range(2):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(switcher(X)[k])
        assert all(np.abs(g.numpy()).sum() > 0 for g in tape.gradient(loss, shared))


def test_snr_weight_shapes_show_the_two_variants():
    trans = SNRTransSwitcher(2, num_experts=3, expert_units=[5, 4])
    aver = SNRAverSwitcher(2, num_experts=3, expert_units=[5, 4])
    trans.build(X.shape)
    aver.build(X.shape)
    # One W_ij per connection ...
    assert [tuple(k.shape) for k in trans.kernels] == [(3, 3, 5, 4), (3, 2, 4, 4)]
    # ... or one dense layer per sub-network and identity connections to the tasks.
    assert tuple(aver.kernels[0].shape) == (3, 5, 4) and aver.kernels[1] is None
    assert [tuple(a.shape) for a in aver.log_alphas] == [(3, 3), (3, 2)]


@pytest.mark.parametrize("layer_cls", SNR_CLASSES)
def test_snr_rejects_bad_configurations(layer_cls):
    # One width per layer: the sub-networks of a layer all have the same width,
    # which SNR-Aver's identity connections need.
    with pytest.raises(ValueError, match="one width per layer"):
        layer_cls(2, num_layers=2, expert_units=[[8, 8, 6], 8])
    with pytest.raises(ValueError, match="one width per layer"):
        layer_cls(2, num_layers=2, expert_units=[8, 8, 8])
    with pytest.raises(ValueError, match="num_layers"):
        layer_cls(2, num_layers=0)
    with pytest.raises(ValueError, match="num_experts"):
        layer_cls(2, num_experts=0)
    with pytest.raises(ValueError, match="gamma"):
        layer_cls(2, gamma=0.1)
    with pytest.raises(ValueError, match="l0_strength"):
        layer_cls(2, l0_strength=-1.0)


def test_new_switchers_share_the_base_contract():
    switchers = [
        CrossStitchSwitcher(2, [4], dropout=0.1, seed=3),
        SNRTransSwitcher(2, expert_units=4, dropout=0.1, seed=3),
        SNRAverSwitcher(2, expert_units=4, dropout=0.1, seed=3),
    ]
    for switcher in switchers:
        assert isinstance(switcher, Switcher)
        config = switcher.get_config()
        assert (config["num_tasks"], config["dropout"], config["seed"]) == (2, 0.1, 3)
        outputs, weights = switcher(X, return_gate_weights=True)
        assert len(outputs) == 2 and weights == {}
        assert switcher.gate_expert_names() == {}
