"""Two real workers on 127.0.0.1 train with MultiWorkerMirroredStrategy through `zoo.training.fit`.

These tests hold the route that makes `model.fit` work under multi-worker
strategies on this stack (`zoo.distribute.keras_fixes`): a Keras or
TensorFlow upgrade that breaks it fails here. Each worker runs
`mmoe_worker.py` in its own process, on ports chosen at run time; every
process is killed and reaped when a test ends, passed or failed.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.distribute.local_cluster import local_cluster, read_log, wait_all

WORKER = os.path.join(os.path.dirname(__file__), "mmoe_worker.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
TIMEOUT_S = 240


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    env.pop("TF_CONFIG", None)
    return env


def _weights(folder, name):
    arrays = np.load(os.path.join(folder, name))
    return [arrays[f"w{i}"] for i in range(len(arrays.files))]


def _history(folder):
    with open(os.path.join(folder, "history.json")) as f:
        return json.load(f)


def _assert_exits(codes, expected, log_dir):
    logs = "\n".join(
        f"--- worker {i} (exit {code}) ---\n{read_log(log_dir, i)[-3000:]}"
        for i, code in enumerate(codes)
    )
    assert codes == expected, logs


@pytest.mark.slow
def test_two_workers_train_as_one_process_with_the_same_global_batch(tmp_path):
    args = ["--epochs", "2", "--rows", "2048", "--batch-size", "256"]
    # The single-process reference runs beside the cluster.
    single = subprocess.Popen(
        [sys.executable, WORKER, *args, "--out", str(tmp_path / "single")],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        extra = {i: ["--out", str(tmp_path / f"worker-{i}")] for i in range(2)}
        with local_cluster([WORKER, *args], 2, tmp_path, extra) as workers:
            codes = wait_all(workers, TIMEOUT_S)
        _, single_errors = single.communicate(timeout=TIMEOUT_S)
    finally:
        single.kill()
        single.wait()
    _assert_exits(codes, [0, 0], tmp_path)
    assert single.returncode == 0, single_errors.decode()[-3000:]

    workers = [_history(tmp_path / f"worker-{i}") for i in range(2)]
    reference = _history(tmp_path / "single")
    assert [w["replicas"] for w in workers] == [2, 2]
    assert [w["is_chief"] for w in workers] == [True, False]
    assert reference["replicas"] == 1
    # 2 epochs of 2048 / 256 = 8 steps: 16 synchronous steps in all.
    for epoch in (1, 2):
        first, second = (
            _weights(tmp_path / f"worker-{i}", f"weights-epoch-{epoch}.npz") for i in range(2)
        )
        single_weights = _weights(tmp_path / "single", f"weights-epoch-{epoch}.npz")
        # All-reduced gradients: the workers hold bit-identical weights.
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)
        # Each worker's half of every global batch adds up to the single
        # process's batch, so the two runs differ only by float32 summation
        # order (two half-batch gradient sums against one): measured 6e-8
        # after 16 steps. 1e-5 leaves room for other CPUs' kernels, while a
        # wrong split fails it: a shuffle one pass out of step (Keras'
        # own symbolic build draws a batch and restarts the iterator)
        # moved the loss by 5e-4 and the weights by 8e-3.
        for a, b in zip(first, single_weights):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    for name in ("loss", "click_loss", "buy_loss", "val_loss"):
        np.testing.assert_allclose(
            workers[0]["history"][name], reference["history"][name], rtol=1e-5
        )
        assert workers[0]["history"][name] == workers[1]["history"][name]


@pytest.mark.slow
def test_mirrored_replicas_train_as_one_process(tmp_path):
    """The multi-GPU path (MirroredStrategy, 2 replicas), on two logical CPU devices."""
    args = ["--epochs", "1", "--rows", "1024", "--batch-size", "256"]
    for name, more in (("single", []), ("mirrored", ["--mirrored-cpus", "2"])):
        completed = subprocess.run(
            [sys.executable, WORKER, *args, *more, "--out", str(tmp_path / name)],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
    mirrored, reference = _history(tmp_path / "mirrored"), _history(tmp_path / "single")
    assert mirrored["replicas"] == 2
    # Each replica's loss is its share of the global mean (replica_share):
    # without it the gradient, and the logged loss, would be twice as large.
    for name in ("loss", "click_loss", "val_loss"):
        np.testing.assert_allclose(mirrored["history"][name], reference["history"][name], rtol=1e-5)
    for a, b in zip(
        _weights(tmp_path / "mirrored", "weights-epoch-1.npz"),
        _weights(tmp_path / "single", "weights-epoch-1.npz"),
    ):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_a_lost_worker_resumes_from_the_last_finished_epoch(tmp_path):
    backup = tmp_path / "backup"
    args = ["--epochs", "4", "--rows", "2048", "--batch-size", "256", "--backup-dir", str(backup)]
    first_run = {0: ["--out", str(tmp_path / "run1-0")], 1: ["--out", str(tmp_path / "run1-1")]}
    # Worker 1 dies (SIGKILL) after batch 3 of the third epoch: two epochs are backed up.
    first_run[1] += ["--die-at", "2:3"]
    with local_cluster([WORKER, *args], 2, tmp_path, first_run) as workers:
        codes = wait_all(workers, TIMEOUT_S)
    assert codes[1] == -9, read_log(tmp_path, 1)[-3000:]
    # Its peer's next all-reduce fails instead of waiting for ever.
    assert codes[0] not in (0, None), read_log(tmp_path, 0)[-3000:]
    assert "Collective ops is aborted" in read_log(tmp_path, 0)
    with open(backup / "state.json") as f:
        state = json.load(f)
    assert (state["epoch"], state["weights"]) == (2, "epoch-0002.weights.h5")
    assert state["model"]["class"] == "MMoE"  # what a restart must match
    assert sorted(os.listdir(backup)) == ["epoch-0002.weights.h5", "state.json"]

    # The cluster restarts, with the same command.
    second_run = {i: ["--out", str(tmp_path / f"run2-{i}")] for i in range(2)}
    with local_cluster([WORKER, *args], 2, tmp_path, second_run) as workers:
        codes = wait_all(workers, TIMEOUT_S)
    _assert_exits(codes, [0, 0], tmp_path)
    backed_up = _weights(tmp_path / "run1-0", "weights-epoch-2.npz")
    for i in range(2):
        # Both workers start from the weights of the last finished epoch ...
        for a, b in zip(_weights(tmp_path / f"run2-{i}", "weights-begin.npz"), backed_up):
            np.testing.assert_array_equal(a, b)
        # ... and train only the epochs left, 3 and 4, counted from the run's start.
        history = _history(tmp_path / f"run2-{i}")
        assert (history["resumed_from_epoch"], history["epochs_run"]) == (2, 4)
        assert len(history["history"]["loss"]) == 2
        assert sorted(os.listdir(tmp_path / f"run2-{i}")) == [
            "history.json",
            "weights-begin.npz",
            "weights-epoch-3.npz",
            "weights-epoch-4.npz",
        ]
    for a, b in zip(*(_weights(tmp_path / f"run2-{i}", "weights-epoch-4.npz") for i in range(2))):
        np.testing.assert_array_equal(a, b)
    assert not backup.exists()  # finished: the chief removed the backups


@pytest.mark.slow
def test_zoo_train_on_two_workers_reads_its_own_shards_and_the_chief_writes_the_run(tmp_path):
    from tests.distribute.mmoe_worker import make_dataset
    from zoo.data.formats.tfrecord import write_tfrecord_shards

    # 2048 training rows in 6 shards of 350, split between the workers by
    # file; validation (2 shards of 350 and 162 rows) split by batch.
    shards = tmp_path / "shards"
    write_tfrecord_shards(make_dataset(2048), shards, rows_per_shard=350)
    assert len(list(shards.glob("train-*"))) == 6
    out, export = tmp_path / "run", tmp_path / "savedmodels"
    command = ["-m", "zoo", "train", "--dataset", "tfrecord", "--data-dir", str(shards)]
    command += ["--model", "mmoe", "--epochs", "2", "--batch-size", "256", "--no-jit", "--quiet"]
    command += ["--strategy", "multi-worker", "--output-dir", str(out), "--export-dir", str(export)]
    with local_cluster(command, 2, tmp_path) as workers:
        codes = wait_all(workers, TIMEOUT_S)
    _assert_exits(codes, [0, 0], tmp_path)
    assert "this process is worker 0 of 2 (chief" in read_log(tmp_path, 0)
    assert f"Worker 1: training done; the chief writes {out}" in read_log(tmp_path, 1)
    assert not (tmp_path / "run-worker-1").exists()
    with open(out / "metrics.json") as f:
        metrics = json.load(f)
    assert (metrics["training"]["strategy"], metrics["training"]["replicas"]) == ("multi-worker", 2)
    history = metrics["training"]["history"]
    assert np.isfinite(history["loss"]).all() and len(history["loss"]) == 2
    # Every validation row is scored, once: the logged validation loss of the
    # epoch kept equals the exact one computed afterwards on the chief
    # (measured 3e-8 apart). Validation split by file, the 162-row shard on
    # one worker, skipped 94 rows and was 1.2e-3 off (or, on larger files,
    # gave a worker empty batches and a NaN loss).
    best = metrics["training"]["best_epoch"]
    exact = metrics["metrics"]["validation"]["total_loss"]
    np.testing.assert_allclose(history["val_loss"][best - 1], exact, rtol=1e-5)
    assert sorted(os.listdir(export / "mmoe-tfrecord")) == ["1"]
