"""`compile` arguments as Keras takes them, turned into what a multi-task model needs.

A zoo model computes one loss per task over the rows that have that task's
label and adds them up with its `loss_weighting`; Keras' own loss container
cannot mask per task. So `MultiTaskModel.compile` reads `loss`,
`loss_weights` and `metrics` in every form `keras.Model.compile` accepts
and turns them into per-task losses, metrics and fixed weights here.
"""

import copy

import keras

from zoo.api import register


@register
class PerRowLoss(keras.losses.Loss):
    """A loss function `fn(y_true, y_pred) -> (batch,)` as a `keras.losses.Loss`.

    Keras 3 keeps its own wrapper private (`keras.losses.LossFunctionWrapper`
    is gone from the public API), and the models need `Loss.call`: the
    unreduced per-row loss they average over the rows that have a label.

    Args:
        fn: a loss function, e.g. `keras.losses.binary_crossentropy` or one
            of the user's (registered with
            `keras.saving.register_keras_serializable` to reload).
        name: the loss's name; defaults to the function's.
    """

    def __init__(self, fn, name=None, **kwargs):
        if isinstance(fn, (dict, str)):
            fn = keras.saving.deserialize_keras_object(fn)
        super().__init__(name=name or getattr(fn, "__name__", None), **kwargs)
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)

    def get_config(self):
        config = super().get_config()
        config["fn"] = keras.saving.serialize_keras_object(self.fn)
        return config


def task_losses(loss, tasks):
    """Dict from task name to a `keras.losses.Loss`, from `compile`'s `loss`.

    Args:
        loss: `None` (each task's default: binary or sparse categorical
            cross-entropy, or MSE), one loss for every task, a list with one
            loss per task in task order, or a dict from task name to a loss
            (tasks left out, or mapped to `None`, keep their default). A
            loss is a name (`"binary_crossentropy"`), a function
            `(y_true, y_pred) -> (batch,)` or a `keras.losses.Loss`.
        tasks: the model's `zoo.tasks.Task`s.
    """
    names = [t.name for t in tasks]
    given = _per_task(loss, names, "loss")
    return {t.name: t.loss() if given.get(t.name) is None else _loss(given[t.name]) for t in tasks}


def task_metrics(metrics, tasks):
    """Dict from task name to a list of metrics, from `compile`'s `metrics`.

    Args:
        metrics: `None` (each task's default: AUC, accuracy or MSE), `[]`
            (none), a list of metrics for every task (`["auc"]`), a list
            with one list per task in task order, or a dict from task name
            to a metric or a list of them (tasks left out get none).
        tasks: the model's `zoo.tasks.Task`s.
    """
    if metrics is None:
        return {t.name: t.metrics() for t in tasks}
    names = [t.name for t in tasks]
    if isinstance(metrics, (list, tuple)) and not _is_list_per_task(metrics, names):
        # One list for every task; metric objects hold state, so each task its own copy.
        return {name: [_fresh(metric) for metric in metrics] for name in names}
    given = _per_task(metrics, names, "metrics")
    return {
        name: list(value) if isinstance(value, (list, tuple)) else [value]
        for name, value in given.items()
        if value is not None
    }


def fixed_loss_weights(loss_weights, weighting, built_weights):
    """The fixed task weights to train with after `compile(loss_weights=...)`.

    Args:
        loss_weights: `None`, a list of floats in task order or a dict from
            task name to float (tasks left out weigh 1).
        weighting: the model's `zoo.losses.LossWeighting`.
        built_weights: the fixed weights the model was built with (its
            `loss_weighting=`), `None` for a weighting that learns them.

    Returns:
        A dict from task name to weight for the `FixedLossWeights`: the
        built ones without `loss_weights` (a compile without them undoes an
        earlier compile's), `None` for a weighting that learns its weights.

    Raises:
        ValueError: `loss_weights` with a model that learns its weights or
            was built with other fixed weights; the message points to
            `loss_weighting=`.
    """
    if built_weights is None:
        if loss_weights is not None:
            raise ValueError(
                f"compile(loss_weights={loss_weights!r}) cannot be honoured: the model weighs "
                f"its task losses with {type(weighting).__name__}, which learns the weights. "
                "Build the model with loss_weighting=<dict from task name to weight> for "
                "fixed weights, or leave loss_weights out."
            )
        return None
    if loss_weights is None:
        return dict(built_weights)
    given = _per_task(loss_weights, list(built_weights), "loss_weights")
    wanted = {
        name: 1.0 if given.get(name) is None else float(given[name]) for name in built_weights
    }
    for name, value in wanted.items():
        if not value >= 0:
            raise ValueError(f"Expected a loss weight >= 0 for task {name!r}. Received: {value!r}")
    if wanted != built_weights and any(value != 1.0 for value in built_weights.values()):
        raise ValueError(
            f"compile(loss_weights={loss_weights!r}) disagrees with the fixed task weights "
            f"{built_weights} the model was built with (its loss_weighting=). Give the weights "
            "in one place: loss_weighting= when building the model, or loss_weights= here."
        )
    return wanted


def _per_task(value, names, argument):
    """`value` as a dict from task name, from one value, a list in task order or a dict."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"`{argument}` names unknown tasks {unknown}; the tasks are {names}.")
        return dict(value)
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(
                f"`{argument}` as a list needs one entry per task, in the order {names}. "
                f"Received {len(value)} entries: {value!r}"
            )
        return dict(zip(names, value))
    return dict.fromkeys(names, value)


def _is_list_per_task(metrics, names):
    """Whether a metrics list is one list (or `None`) per task rather than one shared list."""
    return len(metrics) == len(names) and all(
        m is None or isinstance(m, (list, tuple)) for m in metrics
    )


def _loss(identifier):
    """A `keras.losses.Loss` (whose `call` is per row) from a name, function or Loss."""
    if isinstance(identifier, keras.losses.Loss):
        return identifier
    try:
        loss = keras.losses.get(identifier)
    except ValueError as error:
        raise ValueError(f"Unknown loss {identifier!r}: {error}") from None
    if isinstance(loss, keras.losses.Loss):
        return loss
    if callable(loss):
        return PerRowLoss(loss)
    raise ValueError(f"Expected a Keras loss (name, function or Loss). Received: {identifier!r}")


def _fresh(metric):
    """An unshared copy of a metric object; names and functions as they are."""
    if isinstance(metric, keras.metrics.Metric):
        return type(metric).from_config(metric.get_config())
    return copy.copy(metric)
