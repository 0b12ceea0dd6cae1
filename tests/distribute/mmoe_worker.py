"""One worker of the multi-worker tests: trains a small MMoE and writes what it holds.

Run as a script, once per worker, with `TF_CONFIG` naming this worker (or
without `TF_CONFIG` for the single-process reference run). Writes into
`--out`: `history.json`, and `weights-begin.npz` / `weights-epoch-<n>.npz`:
every weight of the model when training starts (after any restore) and at
the end of each epoch. With `--die-at EPOCH:BATCH` the process kills itself
(SIGKILL, no clean-up) after that batch of that 0-based epoch: a worker lost
mid-epoch.
"""

import argparse
import json
import os
import signal

import keras
import numpy as np
import tensorflow as tf

from zoo.data.base.tabular_dataset import Split, TabularDataset
from zoo.distribute import cluster_role, make_strategy
from zoo.features.spec import CategoricalFeature, NumericFeature
from zoo.models import MMoE
from zoo.tasks import Task
from zoo.training import TrainingConfig, fit


def make_dataset(rows, seed=7):
    """Two tasks that depend on a categorical, a string and numeric features."""
    rng = np.random.RandomState(seed)

    def split(n):
        city = rng.randint(0, 30, n).astype("int64")
        device = rng.choice(["ios", "android", "web", "tv"], n).astype(object)
        numbers = rng.normal(size=(n, 3)).astype("float32")
        logit = numbers[:, 0] + (city % 3 == 0) - 0.5 * (device == "web")
        features = {"city": city, "device": device}
        features.update({f"x{i}": numbers[:, i] for i in range(3)})
        labels = {
            "click": (rng.random_sample(n) < 1 / (1 + np.exp(-logit))).astype("float32"),
            "buy": (rng.random_sample(n) < 1 / (1 + np.exp(2 - logit))).astype("float32"),
        }
        return Split(features=features, labels=labels)

    return TabularDataset(
        name="two-task-fixture",
        features=[
            CategoricalFeature("city", dtype="int64", embedding_dim=4),
            CategoricalFeature("device", embedding_dim=4),
            *(NumericFeature(f"x{i}") for i in range(3)),
        ],
        tasks=[Task("click"), Task("buy")],
        train=split(rows),
        validation=split(rows // 4),
        test=split(rows // 4),
    )


class WeightDumps(keras.callbacks.Callback):
    def __init__(self, out, die_at):
        super().__init__()
        self.out = out
        self.die_at = die_at
        self.epoch = None

    def _dump(self, name):
        arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(self.model.get_weights())}
        np.savez(os.path.join(self.out, name), **arrays)

    def on_train_begin(self, logs=None):
        self._dump("weights-begin.npz")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.die_at == (self.epoch, batch):
            os.kill(os.getpid(), signal.SIGKILL)

    def on_epoch_end(self, epoch, logs=None):
        self._dump(f"weights-epoch-{epoch + 1}.npz")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--backup-dir", default=None)
    parser.add_argument("--die-at", default=None, help="EPOCH:BATCH, 0-based")
    parser.add_argument(
        "--mirrored-cpus",
        type=int,
        default=0,
        help="train under MirroredStrategy over this many logical CPU devices (the multi-GPU path)",
    )
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    die_at = tuple(int(v) for v in args.die_at.split(":")) if args.die_at else None

    if args.mirrored_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.mirrored_cpus
        )
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        strategy = make_strategy("multi-worker" if os.environ.get("TF_CONFIG") else "default")
    keras.utils.set_random_seed(1)
    dataset = make_dataset(args.rows)
    with strategy.scope():
        model = MMoE(
            dataset.tasks,
            preprocessor=dataset.make_preprocessor(),
            num_experts=3,
            expert_units=(16,),
            tower_units=(8,),
        )
    config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        early_stopping_patience=None,
        jit_compile=False,
        steps_per_execution=1,
        seed=3,
        verbose=0,
        backup_dir=args.backup_dir,
    )
    result = fit(model, dataset, config, callbacks=[WeightDumps(args.out, die_at)])
    role = cluster_role()
    with open(os.path.join(args.out, "history.json"), "w") as f:
        json.dump(
            {
                "history": result.history,
                "epochs_run": result.epochs_run,
                "resumed_from_epoch": result.resumed_from_epoch,
                "replicas": strategy.num_replicas_in_sync,
                "is_chief": role.is_chief,
            },
            f,
        )


if __name__ == "__main__":
    main()
