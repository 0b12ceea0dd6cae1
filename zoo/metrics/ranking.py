"""Exact metrics for reporting, computed in numpy on full prediction arrays.

Keras' streaming AUC buckets scores into 200 thresholds; good enough for a
progress bar, not for a table that sets us beside other libraries. These
are exact and tie-aware.
"""

import numpy as np


def roc_auc(labels, scores):
    """Area under the ROC curve, ties counted as half (Mann-Whitney U).

    Args:
        labels: array of 0/1 labels, any shape.
        scores: array of scores, same number of elements.

    Returns:
        float, or `nan` when only one class is present.
    """
    labels = np.asarray(labels).reshape(-1) > 0.5
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(
            f"labels and scores differ in size: {labels.shape[0]} vs {scores.shape[0]}"
        )
    num_positive = int(labels.sum())
    num_negative = labels.size - num_positive
    if num_positive == 0 or num_negative == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    # Average rank (1-based) over each run of tied scores.
    _, first_index, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average_ranks = np.repeat(first_index + (counts + 1) / 2.0, counts)
    ranks = np.empty_like(average_ranks)
    ranks[order] = average_ranks
    rank_sum = ranks[labels].sum()
    return float(
        (rank_sum - num_positive * (num_positive + 1) / 2.0) / (num_positive * num_negative)
    )


def binary_cross_entropy(labels, probabilities, epsilon=1e-7):
    """Mean binary cross-entropy, with Keras' clipping of probabilities."""
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    p = np.clip(np.asarray(probabilities, dtype=np.float64).reshape(-1), epsilon, 1 - epsilon)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def mean_squared_error(labels, predictions):
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
    return float(np.mean((labels - predictions) ** 2))
