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


def group_auc(labels, scores, groups):
    """GAUC: per-group AUC averaged with each group's row count as weight.

    Usually grouped by user: the AUC of each user's impressions, weighted by
    how many impressions the user has. Groups with a single class (all
    positive or all negative) have no AUC and are skipped; how many were
    skipped is part of the answer, because a GAUC over few users can look
    better than it is.

    Args:
        labels: 1-D array of 0/1 labels.
        scores: 1-D array of scores.
        groups: 1-D array of group keys (user ids), any hashable dtype.

    Returns:
        Dict with `gauc` (float, `nan` if no group has both classes),
        `groups_used`, `groups_skipped` and `rows_used`.
    """
    labels = np.asarray(labels).reshape(-1) > 0.5
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    groups = np.asarray(groups).reshape(-1)
    if not labels.shape == scores.shape == groups.shape:
        raise ValueError(
            "labels, scores and groups differ in size: "
            f"{labels.shape[0]}, {scores.shape[0]}, {groups.shape[0]}"
        )
    _, group_index = np.unique(groups, return_inverse=True)
    order = np.argsort(group_index, kind="mergesort")
    boundaries = np.flatnonzero(np.diff(group_index[order])) + 1
    weighted_sum, rows_used, used, skipped = 0.0, 0, 0, 0
    for rows in np.split(order, boundaries):
        if rows.size == 0:
            continue
        auc = roc_auc(labels[rows], scores[rows])
        if np.isnan(auc):
            skipped += 1
            continue
        weighted_sum += auc * rows.size
        rows_used += rows.size
        used += 1
    return {
        "gauc": weighted_sum / rows_used if rows_used else float("nan"),
        "groups_used": used,
        "groups_skipped": skipped,
        "rows_used": rows_used,
    }


def relative_improvement(auc, baseline_auc):
    """RelaImpr (Yan et al., 2014; used by DIN, ESMM...), in percent.

    ((auc - 0.5) / (baseline_auc - 0.5) - 1) * 100: the improvement over
    what the baseline gains on a random guess. 0 means equal to the
    baseline, 10 means 10% more lift above 0.5.
    """
    if not baseline_auc > 0.5:
        raise ValueError(
            "RelaImpr needs a baseline AUC above 0.5 (it divides by baseline - 0.5). "
            f"Received: baseline_auc={baseline_auc!r}"
        )
    return float(((auc - 0.5) / (baseline_auc - 0.5) - 1.0) * 100.0)


def categorical_cross_entropy(labels, probabilities, epsilon=1e-7):
    """Mean cross-entropy of class-id labels under `(rows, classes)` probabilities."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    p = np.asarray(probabilities, dtype=np.float64).reshape(labels.shape[0], -1)
    p = np.clip(p / p.sum(axis=1, keepdims=True), epsilon, 1 - epsilon)
    return float(-np.mean(np.log(p[np.arange(labels.shape[0]), labels])))


def accuracy(labels, probabilities):
    """Share of rows whose most probable class is the label."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    p = np.asarray(probabilities).reshape(labels.shape[0], -1)
    return float(np.mean(np.argmax(p, axis=1) == labels))
