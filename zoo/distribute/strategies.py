"""Which `tf.distribute` strategy to train under, and this process's place in the cluster."""

import dataclasses
import json
import os

import tensorflow as tf

# Command-line names (`zoo train --strategy`). Keep them stable.
STRATEGIES = ("default", "mirrored", "multi-worker")


@dataclasses.dataclass(frozen=True)
class ClusterRole:
    """This process's place in a `TF_CONFIG` cluster.

    Attributes:
        task_type: `"worker"` or `"chief"`; `None` outside a cluster.
        task_index: index within `task_type`.
        num_workers: processes that train (chief included).
        has_chief_job: the cluster has a `"chief"` job.
    """

    task_type: str | None = None
    task_index: int = 0
    num_workers: int = 1
    has_chief_job: bool = False

    @property
    def is_chief(self):
        """The one process that writes files: the `"chief"` task if the
        cluster has one, else worker 0 (TensorFlow's own rule)."""
        if self.task_type in (None, "chief"):
            return True
        return self.task_type == "worker" and self.task_index == 0 and not self.has_chief_job


def cluster_role(tf_config=None):
    """Reads `TF_CONFIG` (or `tf_config`, a JSON string) into a `ClusterRole`.

    Raises:
        ValueError: `TF_CONFIG` is not JSON, or names a task the cluster
            does not have. The message quotes the bad value.
    """
    text = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if not text.strip():
        return ClusterRole()
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from None
    cluster = config.get("cluster") or {}
    task = config.get("task") or {}
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG has no 'cluster' mapping of job name to addresses: {text!r}")
    unknown_jobs = sorted(set(cluster) - {"chief", "worker", "evaluator"})
    if unknown_jobs:
        raise ValueError(
            f"TF_CONFIG cluster has jobs {unknown_jobs}; MultiWorkerMirroredStrategy trains with "
            f"'chief' and 'worker' jobs only. TF_CONFIG={text!r}"
        )
    task_type, task_index = task.get("type"), task.get("index")
    if task_type not in cluster or not isinstance(task_index, int):
        raise ValueError(
            "TF_CONFIG 'task' must name a job of the cluster and an integer index, e.g. "
            f'{{"type": "worker", "index": 0}}. Received: task={task!r}, jobs={sorted(cluster)}'
        )
    if not 0 <= task_index < len(cluster[task_type]):
        raise ValueError(
            f"TF_CONFIG task index {task_index} is out of range: job {task_type!r} has "
            f"{len(cluster[task_type])} addresses ({cluster[task_type]})."
        )
    return ClusterRole(
        task_type=task_type,
        task_index=task_index,
        num_workers=len(cluster.get("chief", [])) + len(cluster.get("worker", [])),
        has_chief_job=bool(cluster.get("chief")),
    )


def make_strategy(name="default", collective_timeout_seconds=None):
    """The `tf.distribute.Strategy` called `name`.

    - `"default"`: TensorFlow's default strategy: one device, no
      distribution (a GPU if there is one).
    - `"mirrored"`: `MirroredStrategy` over every local GPU (one replica on a
      machine without GPUs), gradients all-reduced between them.
    - `"multi-worker"`: `MultiWorkerMirroredStrategy` over the processes
      that `TF_CONFIG` lists; every worker runs the same command. Without
      `TF_CONFIG` it trains alone, as one worker.

    Build the model under `strategy.scope()`; `zoo.training.fit` then
    trains under the strategy the model was built with.

    Args:
        name: one of `STRATEGIES`.
        collective_timeout_seconds: for `"multi-worker"`: how long a
            gradient all-reduce waits for the other workers before it fails
            (and with it this worker's `fit`), so that a lost worker stops
            the others instead of hanging them. `None`: TensorFlow's default
            (wait for ever), which suits clusters that restart the whole job.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}. Valid strategies: {', '.join(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    cluster_role()  # a malformed TF_CONFIG fails here, with the value quoted
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=collective_timeout_seconds
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def replica_share(loss):
    """`loss` divided by the number of replicas that train in sync.

    `tf.distribute` sums the replicas' gradients, so each replica's loss
    is its share of the global mean. Keras' own losses do this inside
    `keras.losses.Loss.__call__`; a model that computes its loss itself
    (every zoo model, for the label masks and the loss weightings) must do
    the same or train with a gradient `num_replicas` times too large.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas == 1:
        return loss
    return loss * tf.cast(1.0 / replicas, loss.dtype)
