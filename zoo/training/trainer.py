"""Training and evaluation of a zoo model on a `TabularDataset`, with `model.fit`."""

import dataclasses
import statistics
import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from zoo.data.base.tabular_dataset import TabularDataset
from zoo.distribute import ClusterBackupAndRestore, cluster_role, in_multi_worker_mode
from zoo.features import packing
from zoo.metrics.ranking import (
    accuracy,
    binary_cross_entropy,
    categorical_cross_entropy,
    group_auc,
    mean_squared_error,
    roc_auc,
)
from zoo.models.task_training import DEFAULT_STEPS_PER_EXECUTION


@dataclasses.dataclass
class TrainingConfig:
    """How to train.

    Attributes:
        epochs: maximum number of passes over the training split.
        batch_size: rows per training step.
        learning_rate: Adam's learning rate.
        jit_compile: compile each training step with XLA. Keras falls back
            to plain graph mode, with a warning, for a model it cannot
            compile.
        steps_per_execution: training steps run per call into the compiled
            function. More amortizes Keras' per-step Python overhead (on
            Census-Income MMoE, 8 gave 340-390k samples/s against 300k for 1);
            callbacks and the progress bar then see batches in groups.
        early_stopping_patience: stop after this many epochs without a better
            `early_stopping_monitor` and keep the best epoch's weights; `None`
            trains all `epochs`. Never looks at the test split.
        early_stopping_monitor: the validation figure early stopping watches:
            `"val_loss"` (lower is better), `"val_task_loss"` (the plain sum
            of the task losses, without loss weights, regularizers or added
            losses: comparable across epochs when the weights are learned),
            or a per-task metric such as `"val_income_auc"` (names ending in
            `auc` or `accuracy` are maximized).
        seed: seeds Python, NumPy, TensorFlow and the per-epoch shuffles.
        tensorboard_dir: write TensorBoard logs here, or `None`. Only the
            chief of a cluster writes them.
        backup_dir: back the training state up here after every epoch
            (`zoo.distribute.ClusterBackupAndRestore`); a `fit` started again
            with the same folder resumes after the last finished epoch. On a
            cluster, a folder every worker can read. `None`: no backups.
        verbose: Keras verbosity: 1 shows a progress bar, 2 one line per
            epoch, 0 nothing.
    """

    epochs: int = 50
    batch_size: int = 1024
    learning_rate: float = 1e-3
    jit_compile: bool = True
    steps_per_execution: int = DEFAULT_STEPS_PER_EXECUTION
    early_stopping_patience: int | None = 3
    early_stopping_monitor: str = "val_loss"
    seed: int = 2024
    tensorboard_dir: str | None = None
    backup_dir: str | None = None
    verbose: int = 1

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"Expected epochs >= 1. Received: epochs={self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"Expected batch_size >= 1. Received: batch_size={self.batch_size}")
        if self.steps_per_execution < 1:
            raise ValueError(
                "Expected steps_per_execution >= 1. "
                f"Received: steps_per_execution={self.steps_per_execution}"
            )
        if not self.learning_rate > 0:
            raise ValueError(
                f"Expected learning_rate > 0. Received: learning_rate={self.learning_rate}"
            )
        if self.early_stopping_patience is not None and self.early_stopping_patience < 0:
            raise ValueError(
                "Expected early_stopping_patience >= 0 or None. "
                f"Received: {self.early_stopping_patience}"
            )
        if not self.early_stopping_monitor.startswith("val_"):
            raise ValueError(
                "Early stopping watches the validation split: expected a monitor starting with "
                f"'val_'. Received: early_stopping_monitor={self.early_stopping_monitor!r}"
            )

    @property
    def monitor_mode(self):
        return "max" if self.early_stopping_monitor.endswith(("auc", "accuracy")) else "min"


class TaskLossTotal(keras.callbacks.Callback):
    """Adds `task_loss` and `val_task_loss` to the epoch logs: the sum of the per-task losses.

    With learned loss weights (uncertainty, GradNorm) `val_loss` moves with
    the weights themselves, so a lower `val_loss` need not be a better model;
    the unweighted sum does not have that problem. Runs before early
    stopping, which reads the same logs dict.
    """

    def __init__(self, task_names):
        super().__init__()
        self.task_names = list(task_names)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix in ("", "val_"):
            names = [f"{prefix}{name}_loss" for name in self.task_names]
            if all(name in logs for name in names):
                logs[f"{prefix}task_loss"] = float(sum(float(logs[name]) for name in names))


class TrainingTimer(keras.callbacks.Callback):
    """Wall time of the training part of every epoch (validation excluded)."""

    def __init__(self):
        super().__init__()
        self.epoch_seconds = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def _stop(self):
        if self._start is not None:
            self.epoch_seconds.append(time.perf_counter() - self._start)
            self._start = None

    def on_test_begin(self, logs=None):
        self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()


@dataclasses.dataclass
class TrainingResult:
    """What `fit` reports.

    Attributes:
        history: Keras' per-epoch logs (losses, metrics, validation).
        epoch_seconds: wall time of each epoch's training part.
        train_samples_per_second: training rows / median epoch time after the first.
        epochs_run: epochs trained before stopping.
        best_epoch: the epoch (1-based) whose weights the model holds at the end.
        resumed_from_epoch: epochs restored from a backup before this `fit`
            (0 without one); `epochs_run` and `best_epoch` count them,
            `history` and `epoch_seconds` cover only the epochs after them.
        steps_per_epoch: training steps in each epoch (`execution_plan`).
        steps_per_execution: steps per compiled call actually used.
    """

    history: dict
    epoch_seconds: list
    train_samples_per_second: float
    epochs_run: int
    best_epoch: int
    resumed_from_epoch: int = 0
    steps_per_epoch: int | None = None
    steps_per_execution: int | None = None


def fit(model, dataset, config, graph_inputs=None, callbacks=()):
    """Compiles and fits `model` on `dataset`'s training split.

    Validation runs every epoch on the validation split; with early
    stopping, the weights of the epoch with the lowest validation loss are
    restored at the end.

    A graph model (`model.uses_graph`: MoGENet, NGCF, "+MGNN") needs
    `graph_inputs`, a `zoo.graphs.GraphInputs` of the same dataset: every
    training and validation batch gets its sub-graphs, and when training
    ends the model's node tables are computed from the whole training graph
    so that `predict`, `evaluate` and export serve without sub-graphs. XLA
    is off for graph models: sub-graph sizes change from batch to batch, and
    XLA would compile every new shape again.

    Distributed training: build the model under a strategy's scope
    (`zoo.distribute.make_strategy`); `fit` trains under the strategy the
    model was built with, `config.batch_size` being the global batch. The
    training split is divided between workers by file when it has at least
    one file per worker (each worker reads only its files), and by batch
    otherwise and for validation (every worker reads everything and keeps
    its share of each global batch, which then equals the single-process
    batch); see `shard_by_worker`. With
    several workers, XLA is off and `steps_per_execution` is 1 (see
    `zoo.distribute.keras_fixes`).

    Args:
        model: a zoo model with an adapted preprocessor.
        dataset: a `TabularDataset`, `StreamingCsvDataset` or any dataset
            answering the same questions.
        config: a `TrainingConfig`.
        graph_inputs: the `GraphInputs` of a graph model, else `None`.
        callbacks: more Keras callbacks, run after the zoo's own.

    Returns:
        A `TrainingResult`.
    """
    if model.uses_graph and graph_inputs is None:
        raise ValueError(
            f"{type(model).__name__} reads graphs: pass graph_inputs="
            "zoo.graphs.GraphInputs.from_dataset(dataset, model.preprocessor)."
        )
    if model.preprocessor is None:
        raise ValueError(
            "The model has no preprocessor: build it with preprocessor=dataset.make_preprocessor()."
        )
    strategy = model.distribute_strategy
    multi_worker = in_multi_worker_mode(strategy)
    if model.uses_graph and strategy.num_replicas_in_sync > 1:
        raise ValueError(
            f"{type(model).__name__} reads sampled sub-graphs, which are not split between "
            f"replicas yet: train it without a distribution strategy (this one has "
            f"{strategy.num_replicas_in_sync} replicas)."
        )
    if config.early_stopping_patience is not None:
        # Keras only warns about a monitor it never sees; say so before training.
        logged = ["val_loss", "val_task_loss"] + [
            f"val_{t.name}_{name}"
            for t in model.tasks
            for name in ["loss"] + [m.name for m in t.metrics()]
        ]
        if config.early_stopping_monitor not in logged:
            raise ValueError(
                f"early_stopping_monitor={config.early_stopping_monitor!r} is not logged; "
                f"choose one of {logged}"
            )
    train_data = _model_batches(
        dataset, "train", model, config.batch_size, shuffle=True, seed=config.seed
    )
    validation_data = _model_batches(dataset, "validation", model, config.batch_size)
    if multi_worker:
        train_data = shard_by_worker(train_data, dataset, "train")
        validation_data = shard_by_worker(validation_data, dataset, "validation", by_file=False)
    steps_per_pass = int(train_data.cardinality())  # batches per pass, as batched_dataset cut them
    steps_per_execution, steps_per_epoch = execution_plan(
        steps_per_pass, 1 if multi_worker else config.steps_per_execution
    )
    # One endless iterator for the whole fit, each pass a new permutation.
    # Without repeat() Keras builds a new tf.data iterator every epoch,
    # and creating one sometimes stalls for 0.2-2 s of idle wall time.
    train_data = train_data.repeat()
    if model.uses_graph:
        # After repeat(): each step of the whole fit samples its own sub-graphs.
        train_data = graph_inputs.attach(train_data, model.graph_channels)
        validation_data = graph_inputs.attach(validation_data, model.graph_channels)
    with strategy.scope():
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
            jit_compile=config.jit_compile and not model.uses_graph and not multi_worker,
            steps_per_execution=steps_per_execution,
        )
    if config.backup_dir and not model.built:
        # A backup can only be restored into built weights; Keras builds a
        # model without a strategy at its first step, after the callbacks start.
        with strategy.scope(), model.preprocessed_inputs():
            model(next(iter(validation_data))[0], training=False)
    timer = TrainingTimer()
    extra_callbacks = list(callbacks)
    callbacks = [timer, TaskLossTotal(model.task_names)]
    backup = None
    if config.backup_dir:
        # Before early stopping: a restored run's first epoch counts from the backup.
        backup = ClusterBackupAndRestore(config.backup_dir)
        callbacks.insert(0, backup)
    if config.early_stopping_patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=config.early_stopping_monitor,
                mode=config.monitor_mode,
                patience=config.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    if config.tensorboard_dir and cluster_role().is_chief:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=config.tensorboard_dir))
    callbacks.extend(extra_callbacks)
    # The datasets hold preprocessed features (preprocessed once, cached).
    with model.preprocessed_inputs():
        history = model.fit(
            train_data,
            steps_per_epoch=steps_per_epoch,
            validation_data=validation_data,
            epochs=config.epochs,
            callbacks=callbacks,
            verbose=config.verbose,
            # train_data draws a new permutation every epoch already; Keras cannot
            # shuffle a tf.data.Dataset and would only warn about it.
            shuffle=False,
        )
    if model.uses_graph:
        model.refresh_graph_tables(graph_inputs)
    monitored = history.history.get(config.early_stopping_monitor, [])
    # A resumed fit trains only the epochs after its backup; history and
    # timings cover those, the epoch numbers count from the run's start.
    resumed_from_epoch = backup.restored_epoch if backup is not None else 0
    epochs_run = resumed_from_epoch + len(timer.epoch_seconds)
    # The epoch whose weights the model now holds: early stopping restores
    # the best monitored epoch of this call; without it the last epoch's weights stay.
    if config.early_stopping_patience is not None and monitored:
        pick = np.argmax if config.monitor_mode == "max" else np.argmin
        best_epoch = resumed_from_epoch + int(pick(monitored)) + 1
    else:
        best_epoch = epochs_run
    rows_per_epoch = dataset.num_rows("train") * steps_per_epoch / steps_per_pass
    return TrainingResult(
        history={k: [float(v) for v in vals] for k, vals in history.history.items()},
        epoch_seconds=timer.epoch_seconds,
        # No epoch left to train after a backup of the last one: nothing was timed.
        train_samples_per_second=rows_per_epoch / steady_epoch_seconds(timer.epoch_seconds)
        if timer.epoch_seconds
        else 0.0,
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        resumed_from_epoch=resumed_from_epoch,
        steps_per_epoch=steps_per_epoch,
        steps_per_execution=steps_per_execution,
    )


def _model_batches(dataset, split, model, batch_size, **kwargs):
    """`dataset.tf_dataset` with the features packed for the model (`zoo.features.packing`).

    In-memory splits are packed before batching (two gathers a batch), a
    streamed split batch by batch; a model whose `packs_features` is false
    gets them one tensor per feature.
    """
    if not model.packs_features:
        return dataset.tf_dataset(split, model.preprocessor, batch_size, **kwargs)
    if isinstance(dataset, TabularDataset):
        return dataset.tf_dataset(
            split, model.preprocessor, batch_size, pack_for=model.features, **kwargs
        )
    batches = dataset.tf_dataset(split, model.preprocessor, batch_size, **kwargs)
    return batches.map(
        lambda features, *rest: (packing.pack(features, model.features), *rest),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).prefetch(tf.data.AUTOTUNE)


def execution_plan(steps_per_pass, steps_per_execution):
    """`(steps_per_execution, steps_per_epoch)` such that every epoch is whole executions.

    Keras runs `steps_per_execution` steps per compiled call, and on an
    endless (repeated) input it runs the last call of an epoch in full: 195
    batches per pass in calls of 8 trained 200 steps an epoch, shown as
    "200/195". Here the calls tile the epoch: of the call sizes from half
    the requested one up to it, the one that pads the pass least (a
    divisor pads nothing: 195 in calls of 5), the larger on a tie. An
    epoch is then one pass, or a pass and the few batches of the next that
    the padding adds (197 in calls of 6: 198 steps), which the progress bar
    and the throughput count.
    """
    if steps_per_pass < 1:
        raise ValueError(
            f"The training split gives no batches (steps per pass: {steps_per_pass}); it needs "
            "at least one row."
        )
    requested = max(1, min(int(steps_per_execution), steps_per_pass))

    def steps_per_epoch(size):
        return -(-steps_per_pass // size) * size

    size = min(
        range((requested + 1) // 2, requested + 1),
        key=lambda size: (steps_per_epoch(size) - steps_per_pass, -size),
    )
    return size, steps_per_epoch(size)


def shard_by_worker(data, dataset, split, by_file=True):
    """`data` with the auto-shard policy `fit` chooses for a split, set explicitly.

    By file when the split has at least one file per worker (and `by_file`):
    each worker then reads only its own files, the one way of reading data
    bigger than a worker can hold more than once. Otherwise by data: every
    worker reads the whole split and keeps its part of each global batch.
    Left to `AUTO`, TensorFlow picks one of the two by itself, with a
    warning, and the choice would depend on how the pipeline happens to be
    written.

    `fit` splits validation by data: Keras runs as many validation steps as
    the split has global batches, and workers reading files of different
    sizes would have more or fewer local batches than that, so rows would
    be skipped on one worker and batches empty on another.
    """
    files = dataset.shard_files(split) if by_file and hasattr(dataset, "shard_files") else []
    by_file = bool(files) and len(files) >= cluster_role().num_workers
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.FILE
        if by_file
        else tf.data.experimental.AutoShardPolicy.DATA
    )
    return data.with_options(options)


def steady_epoch_seconds(epoch_seconds):
    """Median epoch time after the first (which carries tracing and XLA compilation)."""
    rest = epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds
    return statistics.median(rest)


def predict(model, dataset, split, batch_size=4096, outputs="tasks"):
    """Dict from output name to numpy predictions on a split.

    1-D arrays for binary and regression tasks, `(rows, classes)` arrays
    for multiclass tasks.

    These are the predictions the SavedModel's default signature serves:
    features it leaves out (a YouTube model's position) are left out here
    too, so a debiasing model is scored on its debiased predictions.

    Args:
        outputs: `"tasks"` for one prediction per task, or `"serving"` for
            every output of the default signature (with `ranking_score`,
            ESMM's `cvr`, DLEN's `p_up`, ...).
    """
    if outputs not in ("tasks", "serving"):
        raise ValueError(f"Expected outputs 'tasks' or 'serving'. Received: {outputs!r}")
    if model.uses_graph:
        model.check_graph_tables()  # graph models predict from their node tables, as served
    data = dataset.tf_dataset(split, model.preprocessor, batch_size)
    serve = _prediction_function(model, outputs)
    parts = {}
    for features, *_ in data:
        for name, value in serve(features).items():
            parts.setdefault(name, []).append(value.numpy())
    return {
        name: np.concatenate(values).reshape(-1)
        if values[0].shape[-1] == 1
        else np.concatenate(values)
        for name, values in parts.items()
    }


# One traced prediction function per model and kind of outputs, reused by
# every predict/evaluate call (a new tf.function per call retraces each time).
_PREDICTION_FUNCTIONS = weakref.WeakKeyDictionary()


def _prediction_function(model, outputs):
    functions = _PREDICTION_FUNCTIONS.setdefault(model, {})
    if outputs not in functions:
        # A weak reference: the function must not keep its own key alive.
        model_ref = weakref.ref(model)

        @tf.function(reduce_retracing=True)
        def serve(features):
            model = model_ref()
            features = model.signature_features(features)
            if outputs == "tasks":
                with model.preprocessed_inputs():
                    return model(features, training=False)
            return model.serving_outputs(features)

        functions[outputs] = serve
    return functions[outputs]


def task_metrics(task, labels, predictions, users=None):
    """Exact metrics of one task on the rows that have its label.

    Binary: `auc`, `loss` (cross-entropy) and, with `users`, `gauc` with
    the number of users used and skipped. Multiclass: `accuracy`, `loss`.
    Regression: `mse`, `loss` (the same number).
    """
    if task.type == "binary":
        out = {
            "auc": roc_auc(labels, predictions),
            "loss": binary_cross_entropy(labels, predictions),
        }
        if users is not None:
            grouped = group_auc(labels, predictions, users)
            out["gauc"] = grouped["gauc"]
            out["gauc_users"] = grouped["groups_used"]
            out["gauc_users_skipped"] = grouped["groups_skipped"]
        return out
    if task.type == "multiclass":
        return {
            "accuracy": accuracy(labels, predictions),
            "loss": categorical_cross_entropy(labels, predictions),
        }
    mse = mean_squared_error(labels, predictions)
    return {"mse": mse, "loss": mse}


def evaluate(model, dataset, split, batch_size=4096):
    """Exact per-task metrics of `model` on a split of `dataset`.

    Each task is scored on the rows that have its label (see
    `Split.label_masks`); GAUC is added for binary tasks when the dataset
    names a `user_feature`.

    Returns:
        Dict from task name to its metrics (`task_metrics`, plus
        `num_labeled` rows), `"total_loss"`: the sum of the task losses
        (the multi-task loss with every weight 1), `"num_rows"`, and for a
        DLEN model `"p_up"`: the AUC of P(UP) against "any positive
        interaction" (`auc_any_positive`), the paper's convergence check.
    """
    predictions = predict(model, dataset, split, batch_size, outputs="serving")
    labels, present, users = dataset.label_arrays(split)
    results = {}
    for task in model.tasks:
        rows = present[task.name]
        results[task.name] = task_metrics(
            task,
            labels[task.name][rows],
            predictions[task.name][rows],
            None if users is None else users[rows],
        )
        results[task.name]["num_labeled"] = int(rows.sum())
    results["total_loss"] = float(sum(results[t.name]["loss"] for t in model.tasks))
    if "p_up" in predictions:
        # DLEN's convergence check: P(UP) against "any positive interaction".
        any_positive = np.zeros(len(predictions["p_up"]), bool)
        for task in model.tasks:
            any_positive |= present[task.name] & (labels[task.name] > 0.5)
        results["p_up"] = {"auc_any_positive": roc_auc(any_positive, predictions["p_up"])}
    results["num_rows"] = len(next(iter(labels.values())))
    return results
