"""PCGrad and MetaBalance: the formulas by hand, and inside a model's compiled `fit`."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import models
from zoo.losses import LOSS_WEIGHTINGS, MetaBalance, PCGrad, get_loss_weighting

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH_SIZE = 60


def _pcgrad_by_hand(task_gradients, orders):
    """NumPy, float64, Algorithm 1 one task and one projection at a time.

    `task_gradients[i]` is task i's list of per-weight gradients; the dot
    products are over all of them flattened into one vector.
    """
    flat = [
        np.concatenate([np.ravel(g) for g in task]).astype("float64") for task in task_gradients
    ]
    total = np.zeros_like(flat[0])
    for i, g_i in enumerate(flat):
        g = g_i.copy()
        for j in orders[i]:
            dot = g @ flat[j]  # the projected g_i against the original g_j
            if dot < 0:
                g = g - dot / (flat[j] @ flat[j]) * flat[j]
        total += g
    shapes = [np.shape(g) for g in task_gradients[0]]
    pieces = np.split(total, np.cumsum([int(np.prod(s)) for s in shapes])[:-1])
    return [p.reshape(s) for p, s in zip(pieces, shapes)]


def _numpy(tensors):
    return [keras.ops.convert_to_numpy(t) for t in tensors]


def _as_tensors(task_gradients):
    return [[tf.constant(g, tf.float32) for g in task] for task in task_gradients]


def test_pcgrad_two_conflicting_tasks_by_hand():
    # Two weights (a kernel and a bias). The flattened gradients conflict,
    # although on the bias alone they agree: a projection per weight would
    # give another result.
    g_a = [np.array([[1.0, 0.0, 2.0], [0.5, -1.0, 0.0]]), np.array([1.0, 1.0, 0.0])]
    g_b = [np.array([[-2.0, 0.5, -1.0], [0.0, 1.0, 0.5]]), np.array([0.5, 0.0, 1.0])]
    flat_a = np.concatenate([np.ravel(g) for g in g_a])
    flat_b = np.concatenate([np.ravel(g) for g in g_b])
    assert flat_a @ flat_b < 0 and g_a[1] @ g_b[1] > 0
    weighting = PCGrad(["a", "b"])
    result = _numpy(weighting.combine_gradients(_as_tensors([g_a, g_b])))
    expected = _pcgrad_by_hand([g_a, g_b], orders=[[1], [0]])
    for got, want in zip(result, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Each projected gradient is orthogonal to the other task's original one.
    projected_a = flat_a - (flat_a @ flat_b) / (flat_b @ flat_b) * flat_b
    assert projected_a @ flat_b == pytest.approx(0.0, abs=1e-9)
    plain = [a + b for a, b in zip(g_a, g_b)]
    assert not np.allclose(result[0], plain[0], atol=1e-3)


def test_pcgrad_leaves_agreeing_gradients_as_their_sum():
    g_a = [np.array([[1.0, 2.0]]), np.array([0.5])]
    g_b = [np.array([[0.5, -0.2]]), np.array([1.0])]
    g_c = [np.array([[0.1, 0.3]]), np.array([0.2])]
    assert all(
        np.concatenate([np.ravel(x) for x in p]) @ np.concatenate([np.ravel(x) for x in q]) >= 0
        for p, q in [(g_a, g_b), (g_a, g_c), (g_b, g_c)]
    )
    result = _numpy(PCGrad(["a", "b", "c"]).combine_gradients(_as_tensors([g_a, g_b, g_c])))
    for w, got in enumerate(result):
        np.testing.assert_allclose(got, g_a[w] + g_b[w] + g_c[w], rtol=1e-6)


def test_pcgrad_three_tasks_in_a_fixed_order_by_hand():
    rng = np.random.default_rng(3)
    grads = [[rng.normal(size=(4, 2)), rng.normal(size=(2,))] for _ in range(3)]
    # Task 0 conflicts with both others, so the order it meets them in matters.
    grads[1] = [-0.8 * grads[0][0] + 0.3 * grads[1][0], -0.8 * grads[0][1]]
    grads[2] = [-0.5 * grads[0][0] + 0.6 * grads[2][0], 0.4 * grads[2][1]]
    weighting = PCGrad(["a", "b", "c"])
    results = {}
    for orders in ([[1, 2], [2, 0], [0, 1]], [[2, 1], [0, 2], [1, 0]]):
        got = _numpy(weighting.combine_gradients(_as_tensors(grads), orders=np.array(orders)))
        for g, want in zip(got, _pcgrad_by_hand(grads, orders)):
            np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)
        results[str(orders)] = got
    first, second = results.values()
    assert not np.allclose(first[0], second[0], atol=1e-4), "the order made no difference"

    # The same under XLA, with the orders given and with orders drawn in the graph.
    orders = np.array([[1, 2], [2, 0], [0, 1]])
    jitted = tf.function(weighting.combine_gradients, jit_compile=True)
    for g, want in zip(_numpy(jitted(_as_tensors(grads), orders)), _pcgrad_by_hand(grads, orders)):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)
    drawn = tf.function(lambda g: weighting.combine_gradients(g), jit_compile=True)
    outcomes = {tuple(np.round(_numpy(drawn(_as_tensors(grads)))[0].ravel(), 4)) for _ in range(12)}
    assert len(outcomes) > 1, "every step drew the same orders"


def test_pcgrad_draws_each_task_an_order_of_the_others():
    weighting = PCGrad(["a", "b", "c", "d"], seed=5)
    seen = set()
    for _ in range(20):
        orders = keras.ops.convert_to_numpy(weighting.draw_orders())
        assert orders.shape == (4, 3)
        for i, row in enumerate(orders):
            assert sorted(row.tolist()) == [j for j in range(4) if j != i]
        seen.add(orders.tobytes())
    assert len(seen) > 10
    twin = PCGrad(["a", "b", "c", "d"], seed=5)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(twin.draw_orders()),
        keras.ops.convert_to_numpy(PCGrad(["a", "b", "c", "d"], seed=5).draw_orders()),
    )


def _metabalance(task_names=("a", "b", "c"), **kwargs):
    weighting = MetaBalance(list(task_names), **kwargs)
    weighting.bind_shared_weights([None, None], "Test")  # two shared weights
    weighting.build()
    return weighting


def test_metabalance_moving_averages_and_rescaling_over_two_steps_by_hand():
    rng = np.random.default_rng(0)
    beta, r = 0.8, 0.6
    weighting = _metabalance(relax_factor=r, beta=beta, main_task="b")
    averages = np.zeros((2, 3))  # (shared weights, tasks)
    for _ in range(2):
        # Task "a" much larger than the main task "b", "c" much smaller.
        grads = [
            [s * rng.normal(size=(3, 2)), s * rng.normal(size=(2,))] for s in (10.0, 1.0, 0.01)
        ]
        result = _numpy(weighting.combine_gradients(_as_tensors(grads)))
        norms = np.array([[np.linalg.norm(grads[k][w]) for k in range(3)] for w in range(2)])
        averages = beta * averages + (1 - beta) * norms
        np.testing.assert_allclose(weighting.moving_norms.numpy(), averages, rtol=1e-5)
        for w in range(2):
            main = averages[w, 1]
            expected = grads[1][w] + sum(
                (grads[k][w] * main / averages[w, k]) * r + grads[k][w] * (1 - r) for k in (0, 2)
            )
            np.testing.assert_allclose(result[w], expected, rtol=1e-5)
    # After two steps the averages are of both steps' norms, not the last one's.
    assert not np.allclose(averages, (1 - beta) * norms)


def test_metabalance_relax_factor_zero_leaves_gradients_one_matches_magnitudes():
    rng = np.random.default_rng(1)
    grads = [[s * rng.normal(size=(3, 2)), s * rng.normal(size=(2,))] for s in (1.0, 7.0, 0.1)]
    unchanged = _numpy(_metabalance(relax_factor=0.0).combine_gradients(_as_tensors(grads)))
    for w in range(2):
        np.testing.assert_allclose(unchanged[w], sum(g[w] for g in grads), rtol=1e-5)
    # r = 1, first step: m_k = (1 - beta) ||g_k||, so every auxiliary gradient
    # takes the main task's norm on each weight, its direction unchanged.
    matched = _metabalance(relax_factor=1.0)
    result = _numpy(matched.combine_gradients(_as_tensors(grads)))
    for w in range(2):
        main_norm = np.linalg.norm(grads[0][w])
        rescaled = [g[w] * main_norm / np.linalg.norm(g[w]) for g in grads[1:]]
        for aux in rescaled:
            assert np.linalg.norm(aux) == pytest.approx(main_norm)
        np.testing.assert_allclose(result[w], grads[0][w] + sum(rescaled), rtol=1e-5)


def test_metabalance_arguments_and_registry():
    weighting = get_loss_weighting("metabalance", ["income", "never_married"])
    assert isinstance(weighting, MetaBalance)
    assert weighting.main_task == "income" and weighting.main_index == 0
    assert isinstance(get_loss_weighting("pcgrad", ["a", "b"]), PCGrad)
    assert LOSS_WEIGHTINGS["pcgrad"] is PCGrad and LOSS_WEIGHTINGS["metabalance"] is MetaBalance
    with pytest.raises(ValueError, match="main_task to be one of"):
        MetaBalance(["a", "b"], main_task="c")
    with pytest.raises(ValueError, match="relax_factor <= 1"):
        MetaBalance(["a", "b"], relax_factor=1.5)
    with pytest.raises(ValueError, match="beta < 1"):
        MetaBalance(["a", "b"], beta=1.0)
    with pytest.raises(ValueError, match="the model builds it"):
        MetaBalance(["a", "b"]).build()
    # The config and the size of the moving averages survive serialization.
    built = _metabalance(["a", "b"], main_task="b", relax_factor=0.3, beta=0.5)
    built.moving_norms.assign([[1.0, 2.0], [3.0, 4.0]])
    restored = keras.layers.deserialize(keras.layers.serialize(built))
    assert restored.get_config() == built.get_config()
    assert restored.built and restored.moving_norms.shape == (2, 2)
    restored_pcgrad = keras.layers.deserialize(keras.layers.serialize(PCGrad(["a", "b"], seed=4)))
    assert restored_pcgrad.seed == 4 and restored_pcgrad.task_names == ["a", "b"]


@pytest.mark.parametrize("name", ["pcgrad", "metabalance"])
def test_mmoe_trains_compiled_and_round_trips(
    name, synthetic_dataset, synthetic_preprocessor, tmp_path
):
    keras.utils.set_random_seed(0)
    model = models.MMoE(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        num_experts=3,
        expert_units=[8],
        loss_weighting=name,
    )
    model.compile(jit_compile=True, optimizer=keras.optimizers.Adam(0.01))
    assert model.jit_compile is True and model.steps_per_execution == 8
    history = model.fit(
        synthetic_dataset.train.features,
        synthetic_dataset.train.labels,
        batch_size=BATCH_SIZE,
        epochs=2,
        shuffle=False,
        verbose=0,
    ).history
    losses = history["loss"]
    assert np.isfinite(losses).all() and losses[1] < losses[0], losses
    # The logged loss is the plain sum of the task losses (no other term here).
    assert losses[1] == pytest.approx(history["click_loss"][1] + history["like_loss"][1], rel=1e-5)
    if name == "metabalance":
        # 2 epochs of 10 steps moved the averages of both shared weights, for both tasks.
        assert (model.loss_weighting.moving_norms.numpy() > 0).all()

    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.loss_weighting) is type(model.loss_weighting)
    assert loaded.get_config() == model.get_config()
    features = synthetic_dataset.test.features
    for task, values in model.predict(features, verbose=0).items():
        np.testing.assert_allclose(loaded.predict(features, verbose=0)[task], values, atol=1e-6)
    if name == "metabalance":
        np.testing.assert_allclose(
            loaded.loss_weighting.moving_norms.numpy(), model.loss_weighting.moving_norms.numpy()
        )
    else:  # As RandomLossWeighting's, the seed generator's state is not saved.
        assert loaded.loss_weighting.seed == model.loss_weighting.seed
    # The reloaded model trains on.
    more = loaded.fit(
        synthetic_dataset.train.features,
        synthetic_dataset.train.labels,
        batch_size=BATCH_SIZE,
        epochs=1,
        verbose=0,
    )
    assert np.isfinite(more.history["loss"]).all()


def _hand_combined_pcgrad(task_gradients):
    return _pcgrad_by_hand(task_gradients, orders=[[1], [0]])


def _hand_combined_metabalance(task_gradients, relax_factor=0.7):
    # First step: the averages are (1 - beta) times the norms, whose ratio is the norms'.
    combined = []
    for main, aux in zip(*task_gradients):
        factor = relax_factor * np.linalg.norm(main) / np.linalg.norm(aux) + 1 - relax_factor
        assert abs(factor - 1) > 0.01, "the rescaling would not show"
        combined.append(main + factor * aux)
    return combined


@pytest.mark.parametrize("name", ["pcgrad", "metabalance"])
def test_one_sgd_step_equals_the_step_by_hand(name, synthetic_dataset, synthetic_preprocessor):
    keras.utils.set_random_seed(1)
    # L2 on the experts' kernels: an added loss, whose gradient on the
    # shared weights comes on top of the combined task gradients.
    model = models.MMoE(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        num_experts=3,
        expert_units=[8],
        kernel_regularizer="l2",
        loss_weighting=name,
    )
    x = {k: v[:BATCH_SIZE] for k, v in synthetic_dataset.train.features.items()}
    click = synthetic_dataset.train.labels["click"][:BATCH_SIZE]
    # Opposite labels make the tasks' gradients on the shared experts conflict.
    y = {"click": click, "like": 1.0 - click}
    model.build()
    variables = model.trainable_variables
    before = [v.numpy() for v in variables]
    shared_ids = {id(v) for v in model.switcher.shared_weights()}
    with tf.GradientTape(persistent=True) as tape:
        y_pred = model(x, training=True)
        task_losses = model.task_losses(y, y_pred, track=False)
        added = tf.add_n(model.losses)

    def dense(gradients):
        # None: the loss does not reach the weight (the other task's tower).
        return [
            np.zeros_like(b) if g is None else tf.convert_to_tensor(g).numpy()
            for g, b in zip(gradients, before)
        ]

    task_gradients = [dense(tape.gradient(t, variables)) for t in task_losses]
    added_gradients = dense(tape.gradient(added, variables))
    shared = [i for i, v in enumerate(variables) if id(v) in shared_ids]
    assert len(shared) == 2 and any(np.abs(added_gradients[i]).sum() > 0 for i in shared)
    on_shared = [[task[i] for i in shared] for task in task_gradients]
    if name == "pcgrad":
        flat = [np.concatenate([g.ravel() for g in task]) for task in on_shared]
        assert flat[0] @ flat[1] < 0, "the batch has no conflict to project"
        combined = _hand_combined_pcgrad(on_shared)
    else:
        combined = _hand_combined_metabalance(on_shared)
    expected_gradients = [a + b + c for a, b, c in zip(*task_gradients, added_gradients)]
    for i, g in zip(shared, combined):
        expected_gradients[i] = g + added_gradients[i]

    learning_rate = 0.5
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        jit_compile=False,
        steps_per_execution=1,
    )
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0)
    for i, (v, b, g) in enumerate(zip(variables, before, expected_gradients)):
        np.testing.assert_allclose(
            v.numpy(), b - learning_rate * g, rtol=1e-4, atol=1e-6, err_msg=v.path
        )
        if i in shared:
            plain = b - learning_rate * (task_gradients[0][i] + task_gradients[1][i])
            assert not np.allclose(v.numpy(), plain - learning_rate * added_gradients[i])


@pytest.mark.parametrize("name", ["pcgrad", "metabalance"])
def test_a_model_that_shares_nothing_is_refused(name, synthetic_dataset, synthetic_preprocessor):
    model = models.SingleTask(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        hidden_units=[4],
        loss_weighting=name,
    )
    with pytest.raises(ValueError, match="needs weights shared by all tasks, and SingleTask's"):
        model.build()


MIRRORED = r"""
import json
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])

from tests.conftest import make_synthetic_dataset
from zoo.models import MMoE

dataset = make_synthetic_dataset(num_rows=120)
preprocessor = dataset.make_preprocessor()
out = {"replicas": strategy.num_replicas_in_sync, "errors": {}}
for name in ("pcgrad", "metabalance"):
    with strategy.scope():
        model = MMoE(dataset.tasks, preprocessor=preprocessor, num_experts=2, expert_units=[4],
                     loss_weighting=name)
        model.compile()
    try:
        model.fit(dataset.train.features, dataset.train.labels, batch_size=60, epochs=1,
                  verbose=0)
    except ValueError as error:
        out["errors"][name] = str(error)
print(json.dumps(out))
"""


@pytest.mark.slow
def test_under_a_mirrored_strategy_of_two_replicas_training_is_refused(tmp_path):
    """Two replicas on two logical CPUs: a fresh process, whose devices are set before use."""
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    for name, cls in (("pcgrad", "PCGrad"), ("metabalance", "MetaBalance")):
        message = out["errors"].get(name, "")
        assert f"{cls} loss weighting trains on one replica only" in message, out
        assert "each replica would combine its own gradients" in message
