"""DWA and random loss weighting inside `model.fit`: compiled steps, epoch callbacks, saving."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from zoo import models
from zoo.losses.weighting import DynamicWeightAverage, RandomLossWeighting

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# 600 training rows in batches of 60: equal batches, so the per-step mean
# that DWA averages equals the row-weighted mean of the `<task>_loss` logs.
BATCH_SIZE = 60


class EpochRecorder(keras.callbacks.Callback):
    """A callback of the caller's own, to check that `fit` keeps it beside the weighting's."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


def _dwa_by_hand(before_last, last, temperature):
    ratio = np.asarray(last, np.float64) / np.asarray(before_last, np.float64)
    e = np.exp(ratio / temperature)
    return len(ratio) * e / e.sum()


def _fit(model, dataset, epochs, callbacks=()):
    model.compile()  # XLA and 8 steps per execution, the zoo's defaults
    assert model.jit_compile is True
    history = model.fit(
        dataset.train.features,
        dataset.train.labels,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        callbacks=list(callbacks),
        shuffle=False,
        verbose=0,
    )
    return history.history


def test_dwa_in_a_compiled_fit_follows_the_logged_epoch_losses_and_saves(
    synthetic_dataset, synthetic_preprocessor, tmp_path
):
    tasks = [t.name for t in synthetic_dataset.tasks]
    steps = len(synthetic_dataset.train) // BATCH_SIZE
    keras.utils.set_random_seed(0)
    # A low temperature, so that the weights move visibly from 1 in three epochs.
    temperature = 0.05
    model = models.SharedBottom(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        bottom_units=[8],
        loss_weighting=DynamicWeightAverage(tasks, temperature=temperature, name="loss_weighting"),
    )
    recorder = EpochRecorder()
    history = _fit(model, synthetic_dataset, epochs=3, callbacks=[recorder])
    assert recorder.epochs == [0, 1, 2]
    logged = np.array([history[f"{t}_loss"] for t in tasks]).T  # (epochs, tasks)
    weighting = model.loss_weighting
    # The callback closed epochs 1 and 2 as epochs 2 and 3 began.
    assert float(weighting.epochs_done.numpy()) == 2
    np.testing.assert_allclose(weighting.epoch_losses.numpy(), logged[:2], rtol=1e-5)
    # Epoch 3 trained with lambda(3) from L(2) / L(1), as logged.
    expected = _dwa_by_hand(logged[0], logged[1], temperature)
    np.testing.assert_allclose(weighting.task_weight.numpy(), expected, rtol=1e-4)
    assert not np.allclose(expected, 1.0, atol=1e-3), expected
    # Epoch 3's sums, accumulated inside the compiled steps, are its logged losses.
    assert float(weighting.epoch_steps.numpy()) == steps
    np.testing.assert_allclose(weighting.epoch_loss_sum.numpy() / steps, logged[2], rtol=1e-5)
    # Training loss = sum_k lambda_k L_k over the epoch (no regularizers in this model).
    assert history["loss"][2] == pytest.approx(float(expected @ logged[2]), rel=1e-4)
    assert history["loss"][0] == pytest.approx(float(logged[0].sum()), rel=1e-5)

    path = str(tmp_path / "dwa.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss_weighting, DynamicWeightAverage)
    assert loaded.loss_weighting.temperature == temperature
    for saved, restored in zip(weighting.variables, loaded.loss_weighting.variables):
        np.testing.assert_allclose(restored.numpy(), saved.numpy())
    # The loaded model goes on: its next epoch closes epoch 3.
    loaded.loss_weighting.begin_epoch()
    weighting.begin_epoch()
    np.testing.assert_allclose(
        loaded.loss_weighting.task_weight.numpy(),
        _dwa_by_hand(logged[1], logged[2], temperature),
        rtol=1e-4,
    )


def test_random_weighting_draws_every_compiled_step_and_saves(
    synthetic_dataset, synthetic_preprocessor, tmp_path
):
    tasks = [t.name for t in synthetic_dataset.tasks]
    steps = len(synthetic_dataset.train) // BATCH_SIZE
    keras.utils.set_random_seed(0)
    model = models.SharedBottom(
        tasks=synthetic_dataset.tasks,
        preprocessor=synthetic_preprocessor,
        bottom_units=[8],
        loss_weighting=RandomLossWeighting(tasks, seed=11, name="loss_weighting"),
    )
    history = _fit(model, synthetic_dataset, epochs=2)
    assert np.isfinite(history["loss"]).all()
    # One draw per step, also 8 steps to a compiled call.
    state = model.loss_weighting.seed_generator.state.numpy()
    assert state[1] == 2 * steps
    # Weights that sum to 1: the loss is a weighted mean of the task losses, not their sum.
    for epoch in range(2):
        task_sum = sum(history[f"{t}_loss"][epoch] for t in tasks)
        assert 0.3 * task_sum < history["loss"][epoch] < 0.7 * task_sum
    path = str(tmp_path / "random.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss_weighting, RandomLossWeighting)
    assert loaded.loss_weighting.seed == 11


MIRRORED = r"""
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])

from zoo.losses.weighting import DynamicWeightAverage, RandomLossWeighting

with strategy.scope():
    dwa = DynamicWeightAverage(["a", "b"], temperature=0.5)
    dwa.build()
    rlw = RandomLossWeighting(["a", "b"], seed=1)
    rlw.build()


@tf.function
def step(losses):
    def replica_fn(losses):
        task_losses = [losses[0], losses[1]]
        return dwa(task_losses, training=True), rlw(task_losses, training=True)

    return strategy.run(replica_fn, args=(losses,))


REPLICA_LOSSES = json.loads(__import__("sys").argv[1])
out = {"replicas": strategy.num_replicas_in_sync, "steps": [], "rlw": []}
for epoch, per_replica in enumerate(REPLICA_LOSSES):
    dwa.begin_epoch()
    values = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(per_replica[ctx.replica_id_in_sync_group], tf.float32)
    )
    for _ in range(2):
        _, random_total = step(values)
        out["rlw"].append([float(v) for v in strategy.experimental_local_results(random_total)])
    out["steps"].append(float(dwa.epoch_steps.numpy()))
out["epoch_losses"] = dwa.epoch_losses.numpy().tolist()
out["task_weight"] = dwa.task_weight.numpy().tolist()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_under_a_mirrored_strategy_the_replicas_agree(tmp_path):
    """Two replicas on two logical CPUs, the layers alone (a model under a strategy: not tried)."""
    # Per epoch, replica 0's and replica 1's task losses; each epoch runs two steps.
    replica_losses = [
        [[1.0, 2.0], [3.0, 2.0]],
        [[1.0, 1.0], [1.0, 2.0]],
        [[0.5, 1.5], [0.5, 0.5]],
    ]
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED, json.dumps(replica_losses)],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    # DWA: an epoch's average is over both replicas' losses (mean aggregation).
    averages = np.mean(replica_losses, axis=1)  # (epochs, tasks)
    assert out["steps"] == [2.0, 2.0, 2.0]
    np.testing.assert_allclose(out["epoch_losses"], averages[:2], rtol=1e-6)
    np.testing.assert_allclose(
        out["task_weight"], _dwa_by_hand(averages[0], averages[1], 0.5), rtol=1e-5
    )
    # RLW: both replicas use the same draw in a step (solved from their two
    # totals), the draws sum to 1 and change from step to step.
    twin = RandomLossWeighting(["a", "b"], seed=1)
    for step, (total_0, total_1) in enumerate(out["rlw"]):
        (a0, b0), (a1, b1) = replica_losses[step // 2]
        weights = np.linalg.solve([[a0, b0], [a1, b1]], [total_0, total_1])
        assert weights.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(weights, keras.ops.convert_to_numpy(twin.draw()), atol=1e-5)
