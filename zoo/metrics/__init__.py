"""Exact evaluation metrics computed on full prediction arrays."""

from zoo.metrics.ranking import binary_cross_entropy, mean_squared_error, roc_auc

__all__ = ["binary_cross_entropy", "mean_squared_error", "roc_auc"]
