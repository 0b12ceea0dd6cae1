import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layer_test_case import run_layer_test
from zoo.layers import MMoESwitcher
from zoo.layers.gates.dselect_k_gate import DSelectKGate, smooth_step
from zoo.layers.gates.factory import make_gate
from zoo.registry import GATES

X = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")


def reference_gate(inputs, z_kernel, z_bias, alpha_kernel, alpha_bias, num_experts, gamma):
    """NumPy, float64: the paper's per-example gate, one expert and one bit at a time.

    Returns the weights `(batch, num_experts)`, the selectors' r `(batch, k,
    num_experts)` (renormalized over the reachable experts) and the reachable
    mass `(batch, k)` before that renormalization.
    """
    x = inputs.astype("float64")
    z = np.einsum("bd,dkm->bkm", x, z_kernel) + z_bias
    t = z / gamma
    s = np.where(t <= -0.5, 0.0, np.where(t >= 0.5, 1.0, -2 * t**3 + 1.5 * t + 0.5))
    batch, k, num_binary = z.shape
    r = np.ones((batch, k, num_experts))
    for i in range(num_experts):
        for j in range(num_binary):
            r[:, :, i] *= s[:, :, j] if (i >> j) & 1 else 1 - s[:, :, j]
    reachable = r.sum(axis=-1, keepdims=True)
    # A selector binary on a code past the last expert counts as uniform.
    r = np.where(reachable > 0, r / np.where(reachable > 0, reachable, 1), 1 / num_experts)
    if alpha_kernel is None:  # k = 1
        alpha = np.ones((batch, 1))
    else:
        logits = x @ alpha_kernel + alpha_bias
        alpha = np.exp(logits - logits.max(axis=1, keepdims=True))
        alpha /= alpha.sum(axis=1, keepdims=True)
    return np.einsum("bk,bke->be", alpha, r), r, reachable[..., 0]


def set_weights(gate, rng, z_scale=1.0):
    """Random kernels and biases of the given scale; returns them as float32 arrays."""
    values = {}
    for w in gate.weights:
        scale = z_scale if w.name.startswith("z") else 1.0
        values[w.name] = (scale * rng.normal(size=w.shape)).astype("float32")
        w.assign(values[w.name])
    return values


def test_layer_contract(tmp_path):
    run_layer_test(
        DSelectKGate,
        {"num_experts": 5, "k": 2, "entropy_weight": 0.01, "z_initializer": "glorot_uniform"},
        X,
        (6, 5),
        tmp_path,
    )


def test_smooth_step_by_hand():
    t = np.array([-3.0, -0.5, -0.25, 0.0, 0.25, 0.5, 3.0], "float32")
    # -2 t^3 + 3 t / 2 + 1/2 at t = 0.25: -1/32 + 3/8 + 1/2 = 27/32.
    expected = [0.0, 0.0, 5 / 32, 0.5, 27 / 32, 1.0, 1.0]
    np.testing.assert_allclose(smooth_step(t, 1.0), expected, atol=1e-7)
    # gamma scales t: S_gamma(t) = S_1(t / gamma).
    np.testing.assert_allclose(smooth_step(2.0 * t, 2.0), expected, atol=1e-7)
    # The plateaus are exact, not within rounding: that is what makes the gate sparse.
    plateaus = np.asarray(smooth_step(np.array([-100.0, -0.5, 0.5, 100.0], "float32"), 1.0))
    assert plateaus.tolist() == [0.0, 0.0, 1.0, 1.0]


def test_smooth_step_slope_is_continuous():
    t = tf.constant([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(t)
        s = smooth_step(t, 2.0)
    # S' = -6 t^2 / gamma^3 + 3 / (2 gamma): 3/4 at 0, 9/16 at +-1/2, and 0 where the
    # cubic meets the plateaus at +-gamma/2, as on them.
    np.testing.assert_allclose(
        tape.gradient(s, t), [0.0, 0.0, 0.5625, 0.75, 0.5625, 0.0, 0.0], atol=1e-6
    )


def test_one_selector_over_four_experts_by_hand():
    gate = DSelectKGate(4, k=1, use_bias=False)
    gate.build((None, 2))
    # z = (0.25, -0.25): S = (27/32, 5/32); expert i reads bit 0 of i from S_0, bit 1 from S_1.
    gate.z_kernel.assign(np.array([[[0.25, 0.0]], [[0.0, -0.25]]], "float32"))
    s0, s1 = 27 / 32, 5 / 32
    expected = [(1 - s0) * (1 - s1), s0 * (1 - s1), (1 - s0) * s1, s0 * s1]
    w = gate(np.array([[1.0, 1.0]], "float32")).numpy()
    np.testing.assert_allclose(w[0], expected, rtol=1e-6)


@pytest.mark.parametrize("num_experts, k", [(4, 2), (5, 3), (8, 1), (3, 2)])
def test_weights_match_the_papers_formula(num_experts, k):
    gate = DSelectKGate(num_experts, k=k, gamma=0.7)
    gate.build(X.shape)
    # z of order 1 against gamma 0.7: some logits on the plateaus, most between.
    v = set_weights(gate, np.random.default_rng(num_experts), z_scale=0.3)
    expected, _, _ = reference_gate(
        X, v["z_kernel"], v["z_bias"], v.get("alpha_kernel"), v.get("alpha_bias"), num_experts, 0.7
    )
    for training in (False, True):
        np.testing.assert_allclose(gate(X, training=training), expected, atol=1e-6)


@pytest.mark.parametrize("num_experts, k", [(8, 2), (4, 3), (16, 4)])
def test_binary_selectors_give_at_most_k_experts(num_experts, k):
    gate = DSelectKGate(num_experts, k=k)
    gate.build(X.shape)
    v = set_weights(gate, np.random.default_rng(1), z_scale=1000.0)
    z = np.einsum("bd,dkm->bkm", X, v["z_kernel"]) + v["z_bias"]
    assert (np.abs(z) > 0.5).all(), "a logit fell inside the cubic part; pick another seed"
    # Each selector's expert is the number its logits' signs spell, bit j from z_j.
    chosen = ((z > 0) * 2 ** np.arange(z.shape[-1])).sum(axis=-1)  # (batch, k)
    w = gate(X).numpy()
    for row, experts in zip(w, chosen):
        assert set(np.flatnonzero(row)) == set(experts)
    assert ((w > 0).sum(axis=1) <= k).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)


def test_unreachable_codes_are_renormalized_away():
    # 5 experts, 3 bits: codes 5, 6 and 7 name no expert.
    gate = DSelectKGate(5, k=2, use_bias=True)
    gate.build((None, 1))
    gate.z_kernel.assign(np.zeros((1, 2, 3), "float32"))
    gate.alpha_kernel.assign(np.zeros((1, 2), "float32"))
    x = np.ones((1, 1), "float32")
    # Selector 0 binary on code 4 (bits 0, 0, 1), selector 1 binary on code 7: no reachable mass.
    gate.z_bias.assign(np.array([[-9.0, -9.0, 9.0], [9.0, 9.0, 9.0]], "float32"))
    w = gate(x).numpy()[0]
    np.testing.assert_allclose(w, 0.5 * np.eye(5)[4] + 0.5 * np.full(5, 0.2), rtol=1e-6)
    # Selector 1 halfway between codes 3 and 7 (bit 2 at S = 1/2): renormalized onto expert 3.
    gate.z_bias.assign(np.array([[-9.0, -9.0, 9.0], [9.0, 9.0, 0.0]], "float32"))
    w = gate(x, training=True).numpy()[0]
    np.testing.assert_allclose(w, [0.0, 0.0, 0.0, 0.5, 0.5], atol=1e-7)
    # Reachability loss: selector 0 has mass 1 (adds 0), selector 1 mass 1/2 (adds 1 / 0.5 - 1).
    assert len(gate.losses) == 1
    np.testing.assert_allclose(float(gate.losses[0]), 1.0, rtol=1e-6)


@pytest.mark.parametrize("num_experts", [4, 6])
def test_losses_only_while_training_and_equal_numpy(num_experts):
    gate = DSelectKGate(num_experts, k=3, entropy_weight=0.05)
    gate.build(X.shape)
    v = set_weights(gate, np.random.default_rng(2), z_scale=0.1)
    _, r, reachable = reference_gate(
        X, v["z_kernel"], v["z_bias"], v["alpha_kernel"], v["alpha_bias"], num_experts, 1.0
    )
    gate(X, training=False)
    assert gate.losses == []
    gate(X, training=True)
    entropy = -(r * np.log(r + 1e-6)).sum(axis=-1).sum(axis=-1).mean()
    expected = [0.05 * entropy]
    if num_experts == 6:  # not a power of 2: the reachability loss too
        assert (reachable < 1 - 1e-3).any()
        expected.append((1 / np.maximum(reachable, 1e-6) - 1).sum(axis=-1).mean())
    np.testing.assert_allclose([float(loss) for loss in gate.losses], expected, rtol=1e-5)


def test_no_entropy_loss_without_its_weight():
    gate = DSelectKGate(4, k=2)
    gate(X, training=True)
    assert gate.losses == []


def test_entropy_is_zero_for_binary_selectors():
    gate = DSelectKGate(4, k=2, entropy_weight=1.0)
    gate.build(X.shape)
    set_weights(gate, np.random.default_rng(3), z_scale=100.0)
    gate(X, training=True)
    # One-hot r: -1 * log(1 + 1e-6), about -1e-6 per selector, against up to log(4) each.
    assert abs(float(gate.losses[0])) < 1e-5


def test_gradients_reach_the_kernels():
    gate = DSelectKGate(5, k=2, entropy_weight=0.1)
    gate.build(X.shape)
    target = tf.constant(np.random.default_rng(4).random((6, 5)), "float32")
    with tf.GradientTape() as tape:
        w = gate(X, training=True)
        loss = tf.reduce_sum(w * target) + tf.add_n(gate.losses)
    grads = tape.gradient(loss, gate.trainable_weights)
    names = [w.name for w in gate.trainable_weights]
    assert sorted(names) == ["alpha_bias", "alpha_kernel", "z_bias", "z_kernel"]
    for name, grad in zip(names, grads):
        assert grad is not None and np.abs(grad.numpy()).max() > 0, name


def test_one_expert_has_weight_one_and_no_weights():
    gate = DSelectKGate(1)
    for training in (False, True):
        np.testing.assert_array_equal(gate(X, training=training), np.ones((6, 1)))
    assert gate.weights == [] and gate.losses == []
    assert gate.compute_output_shape((None, 5)) == (None, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_experts": 0}, r"Expected num_experts >= 1\. Received: num_experts=0"),
        ({"num_experts": 4, "k": 0}, r"Expected k >= 1\. Received: k=0"),
        ({"num_experts": 4, "gamma": 0.0}, r"Expected gamma > 0\. Received: gamma=0.0"),
        ({"num_experts": 4, "entropy_weight": -1.0}, r"entropy_weight >= 0\. Received: "),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DSelectKGate(**kwargs)


def test_config_round_trip():
    gate = DSelectKGate(
        6, k=3, gamma=0.5, entropy_weight=0.1, use_bias=False, kernel_regularizer="l2", name="g"
    )
    config = gate.get_config()
    assert {
        key: config[key]
        for key in ("num_experts", "k", "gamma", "entropy_weight", "use_bias", "z_initializer")
    } == {
        "num_experts": 6,
        "k": 3,
        "gamma": 0.5,
        "entropy_weight": 0.1,
        "use_bias": False,
        "z_initializer": None,
    }
    assert DSelectKGate.from_config(config).get_config() == config


def test_default_z_starts_inside_the_cubic_part():
    gate = DSelectKGate(8, k=2, gamma=2.0)
    gate.build((None, 3))
    # U(-gamma/100, gamma/100): far from the plateaus, where S has gradients.
    assert np.abs(gate.z_kernel.numpy()).max() <= 0.02
    assert np.abs(gate.z_kernel.numpy()).max() > 0


def test_registered_by_name_and_given_the_switchers_regularizer():
    assert GATES["dselect-k"] is DSelectKGate
    gate = make_gate("dselect-k", 3, "g", kernel_regularizer="l2")
    assert (type(gate), gate.num_experts, gate.k) == (DSelectKGate, 3, 2)
    assert isinstance(gate.kernel_regularizer, keras.regularizers.L2)


def test_in_an_mmoe_switcher_by_name_trains_saves_and_reloads(tmp_path):
    keras.utils.set_random_seed(0)
    gate = {"class_name": "dselect-k", "config": {"k": 2, "entropy_weight": 0.01}}
    switcher = MMoESwitcher(2, 5, [4], gate=gate, name="switcher")
    outputs, weights = switcher(X, return_gate_weights=True)
    gates = list(switcher.gates.values())
    assert [type(g) for g in gates] == [DSelectKGate] * 2
    for w in weights.values():
        np.testing.assert_allclose(np.asarray(w).sum(axis=1), 1.0, rtol=1e-5)
    # The switcher passes `training` on to its gates: entropy and reachability losses, per gate.
    switcher(X, training=True)
    assert len(switcher.losses) == 4

    inputs = keras.Input((5,))
    model = keras.Model(inputs, switcher(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=["mse"] * 2)
    before = [np.array(w) for g in gates for w in g.trainable_weights]
    model.fit(X, [np.ones((6, 4), "float32")] * 2, epochs=1, batch_size=6, verbose=0)
    after = [np.array(w) for g in gates for w in g.trainable_weights]
    assert any(not np.allclose(b, a) for b, a in zip(before, after)), "the gates did not train"

    path = str(tmp_path / "mmoe.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    again = reloaded.get_layer("switcher")
    assert again.get_config()["gate"] == gate
    assert [g.get_config() for g in again.gates.values()] == [g.get_config() for g in gates]
    for a, b in zip(model.predict(X, verbose=0), reloaded.predict(X, verbose=0)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_mmoe_model_trains_a_step_with_the_gate(synthetic_dataset, synthetic_preprocessor):
    from zoo import models

    keras.utils.set_random_seed(0)
    model = models.MMoE(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        num_experts=3,
        expert_units=[4],
        tower_units=[4],
        gate="dselect-k",
    )
    assert [type(g) for g in model.switcher.gates.values()] == [DSelectKGate] * 2
    model.compile(jit_compile=False)
    train = synthetic_dataset.tf_dataset("train", synthetic_preprocessor, 256).take(1)
    with model.preprocessed_inputs():
        history = model.fit(train, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_runs_inside_an_xla_function():
    gate = DSelectKGate(6, k=2, entropy_weight=0.1)
    gate.build(X.shape)

    @tf.function(jit_compile=True)
    def step(x):
        return gate(x, training=True), gate(x, training=False)

    trained, inferred = step(tf.constant(X))
    np.testing.assert_allclose(trained, inferred, atol=1e-6)
    np.testing.assert_allclose(inferred, gate(X), atol=1e-6)


def test_mixed_precision_weights_in_the_compute_dtype():
    gate = DSelectKGate(4, k=2, dtype="mixed_float16")
    w = gate(X, training=True)
    assert w.dtype == "float16"
    np.testing.assert_allclose(np.asarray(w, "float32").sum(axis=1), 1.0, rtol=1e-3)
