import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layer_test_case import run_layer_test
from zoo.layers import Dropout
from zoo.layers.core import random


def test_shared_layer_checks(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    layer = run_layer_test(Dropout, {"rate": 0.2, "seed": 1}, x, (4, 8), tmp_path)
    assert isinstance(layer, keras.layers.Dropout)  # a drop-in for Keras's layer


@pytest.mark.parametrize("jit_compile", [False, True])
def test_drops_at_the_rate_and_scales_the_rest(jit_compile):
    layer = Dropout(0.3, seed=1)
    call = tf.function(lambda x: layer(x, training=True), jit_compile=jit_compile)
    x = np.ones((1000, 100), "float32")
    first, second = np.asarray(call(x)), np.asarray(call(x))
    dropped = first == 0
    assert 0.29 < dropped.mean() < 0.31
    np.testing.assert_allclose(first[~dropped], 1 / 0.7, rtol=1e-6)
    assert not np.array_equal(dropped, second == 0), "the seed did not advance between steps"
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_same_seed_same_masks_and_noise_shape_broadcasts():
    x = np.ones((200, 16), "float32")
    a = np.asarray(Dropout(0.5, seed=4)(x, training=True))
    b = np.asarray(Dropout(0.5, seed=4)(x, training=True))
    np.testing.assert_array_equal(a, b)
    rows = np.asarray(Dropout(0.5, noise_shape=(None, 1), seed=4)(x, training=True))
    assert set(np.unique(rows.min(axis=1) == rows.max(axis=1))) == {True}  # whole rows
    assert 0 < (rows[:, 0] == 0).mean() < 1


def _algorithms(function, *args):
    """The `alg` inputs of the stateless random ops in `function`'s graph."""
    graph = tf.function(function).get_concrete_function(*args).graph
    found = []
    for op in graph.get_operations():
        if op.type.startswith("StatelessRandom") and op.type.endswith("V2"):
            alg = op.inputs[-1].op  # StatelessRandom*V2(shape, key, counter, alg)
            found.append(int(tf.make_ndarray(alg.get_attr("value"))))
    return found


def test_draws_name_philox_and_give_the_default_numbers():
    philox = 1  # tensorflow/core/framework/rng_alg.h: RNG_ALG_PHILOX
    x = tf.ones((32, 8))
    generator = keras.random.SeedGenerator(7)
    layer = Dropout(0.2)
    for function, args in [
        (lambda: random.uniform((4, 2), generator), ()),
        (lambda: random.normal((4, 2), generator), ()),
        (lambda x: layer(x, training=True), (x,)),
    ]:
        found = _algorithms(function, *args)
        assert found and set(found) == {philox}, found

    # Under XLA "auto_select" is the same Philox stream, only 30x slower on
    # CPU, so the masks (and any stored result) do not change.
    @tf.function(jit_compile=True)
    def draws(seed):
        ours = random.uniform((64, 8), generator)
        return ours, tf.random.stateless_uniform((64, 8), seed=seed)

    seed = random._draw_seed(keras.random.SeedGenerator(7))
    ours, default = (np.asarray(d) for d in draws(seed))
    np.testing.assert_array_equal(ours, default)


def test_uniform_and_normal_have_their_moments():
    u = np.asarray(random.uniform((100_000,), keras.random.SeedGenerator(1), 2.0, 4.0))
    assert u.min() >= 2.0 and u.max() < 4.0 and abs(u.mean() - 3.0) < 0.01
    n = np.asarray(random.normal((100_000,), keras.random.SeedGenerator(1), mean=1.0, stddev=2.0))
    assert abs(n.mean() - 1.0) < 0.03 and abs(n.std() - 2.0) < 0.03


def test_an_int_seed_is_refused_with_its_value():
    with pytest.raises(TypeError, match=r"SeedGenerator.*seed_generator=3 of type int"):
        random.uniform((2,), 3)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_half_precision_masks_compile_under_xla(policy):
    # TensorFlow once had no stateless uniform for half types under XLA (issue 59678).
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        layer = Dropout(0.5, seed=1)
        x = tf.ones((64, 8), dtype=layer.compute_dtype)
        y = tf.function(lambda x: layer(x, training=True), jit_compile=True)(x)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert y.dtype == x.dtype
    assert set(np.unique(np.asarray(y, "float32"))) == {0.0, 2.0}
