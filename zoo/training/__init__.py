"""Fitting zoo models with `model.fit` and reporting exact per-task metrics."""

from zoo.training.precision import PRECISIONS, choose_precision, set_precision
from zoo.training.trainer import (
    TrainingConfig,
    TrainingResult,
    TrainingTimer,
    evaluate,
    fit,
    predict,
    steady_epoch_seconds,
)

__all__ = [
    "PRECISIONS",
    "choose_precision",
    "set_precision",
    "TrainingConfig",
    "TrainingResult",
    "TrainingTimer",
    "evaluate",
    "fit",
    "predict",
    "steady_epoch_seconds",
]
