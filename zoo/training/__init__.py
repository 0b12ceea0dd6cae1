"""Fitting zoo models with `model.fit` and reporting exact per-task metrics."""

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
    "TrainingConfig",
    "TrainingResult",
    "TrainingTimer",
    "evaluate",
    "fit",
    "predict",
    "steady_epoch_seconds",
]
