"""What a task is: its name, its kind of label, and what follows from that.

Models read a task's output activation from here, training its loss and
metrics, so adding a task type touches this file only.
"""

import dataclasses

import keras

TASK_TYPES = ("binary", "regression", "multiclass")


@dataclasses.dataclass(frozen=True)
class Task:
    """One prediction target.

    Args:
        name: the output's name in the model's dict and the SavedModel's
            signature, e.g. `"income"`.
        type: `"binary"` (sigmoid output, binary cross-entropy, AUC),
            `"regression"` (linear output, mean squared error) or
            `"multiclass"` (softmax over `num_classes`, cross-entropy,
            accuracy; labels are class ids 0..num_classes-1).
        num_classes: int >= 2 for `"multiclass"` tasks; `None` otherwise.
    """

    name: str
    type: str = "binary"
    num_classes: int | None = None

    def __post_init__(self):
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(
                "Expected a task name of letters, digits and underscores (it becomes a "
                f"SavedModel output name). Received: name={self.name!r}"
            )
        if self.type not in TASK_TYPES:
            raise ValueError(
                f"Task {self.name!r}: expected type in {TASK_TYPES}. Received: type={self.type!r}"
            )
        if self.type == "multiclass":
            if not isinstance(self.num_classes, int) or self.num_classes < 2:
                raise ValueError(
                    f"Task {self.name!r}: a multiclass task needs num_classes >= 2. "
                    f"Received: num_classes={self.num_classes!r}"
                )
        elif self.num_classes is not None:
            raise ValueError(
                f"Task {self.name!r}: num_classes is only for multiclass tasks "
                f"(type={self.type!r}). Received: num_classes={self.num_classes!r}"
            )

    @property
    def activation(self):
        return {"binary": "sigmoid", "regression": "linear", "multiclass": "softmax"}[self.type]

    @property
    def output_units(self):
        """Width of the task's output: 1, or one probability per class."""
        return self.num_classes if self.type == "multiclass" else 1

    def loss(self):
        """The task's Keras loss on the model's outputs (probabilities or values)."""
        if self.type == "binary":
            return keras.losses.BinaryCrossentropy(name=f"{self.name}_loss")
        if self.type == "multiclass":
            return keras.losses.SparseCategoricalCrossentropy(name=f"{self.name}_loss")
        return keras.losses.MeanSquaredError(name=f"{self.name}_loss")

    def metrics(self):
        if self.type == "binary":
            # Keras' AUC is a 200-threshold approximation, good for progress
            # bars and early stopping; reported figures use the exact
            # rank-based AUC of zoo.metrics.
            return [keras.metrics.AUC(name="auc")]
        if self.type == "multiclass":
            return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        return [keras.metrics.MeanSquaredError(name="mse")]

    def to_config(self):
        config = dataclasses.asdict(self)
        if config["num_classes"] is None:
            del config["num_classes"]  # configs of binary / regression tasks stay as before
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def parse_task_names(tasks, known):
    """Task names from a sequence or a comma-separated string, each one of `known`, each once."""
    names = [t.strip() for t in tasks.split(",")] if isinstance(tasks, str) else list(tasks)
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ValueError(
            f"Expected tasks from {', '.join(known)}. Received: tasks={names!r}"
            + (f" (unknown: {', '.join(map(str, unknown))})" if unknown else "")
        )
    if len(set(names)) != len(names):
        raise ValueError(f"Expected each task once. Received: tasks={names!r}")
    return names


def as_tasks(tasks):
    """Accepts `Task`s, their config dicts or bare names (binary tasks)."""
    out = []
    for t in tasks:
        if isinstance(t, Task):
            out.append(t)
        elif isinstance(t, str):
            out.append(Task(t))
        else:
            out.append(Task.from_config(t))
    names = [t.name for t in out]
    if not out:
        raise ValueError("Expected at least one task. Received: tasks=[]")
    if len(set(names)) != len(names):
        raise ValueError(f"Task names must be unique. Received: {names}")
    return out


# Why a logit head (a bias tower, a graph score) leaves multiclass tasks alone.
SHIFT_PURPOSE = (
    "a logit head shifts binary logits and regression values only (a constant shift of every "
    "class would not change a softmax)"
)


def single_output_task_names(names, tasks, owner, purpose):
    """`names` checked to be tasks of `tasks` with one output each (binary or regression).

    Args:
        names: task names, or `None` for every binary and regression task.
        tasks: the model's `Task`s.
        owner: what names them, first in the messages (`"ranking_weights"`).
        purpose: what a multiclass task cannot take part in, for the message.

    Raises:
        ValueError: a name that is not a task, or a multiclass task.
    """
    by_name = {t.name: t for t in tasks}
    if names is None:
        return [t.name for t in tasks if t.output_units == 1]
    for name in names:
        if name not in by_name:
            raise ValueError(
                f"{owner} names {name!r}, which is not a task; the tasks are {list(by_name)}"
            )
        if by_name[name].output_units != 1:
            raise ValueError(f"{owner}: task {name!r} is multiclass; {purpose}")
    return list(names)
