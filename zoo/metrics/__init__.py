"""Exact evaluation metrics computed on full prediction arrays."""

from zoo.metrics.ranking import (
    accuracy,
    binary_cross_entropy,
    categorical_cross_entropy,
    group_auc,
    mean_squared_error,
    relative_improvement,
    roc_auc,
)

__all__ = [
    "accuracy",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "group_auc",
    "mean_squared_error",
    "relative_improvement",
    "roc_auc",
]
