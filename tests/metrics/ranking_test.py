import numpy as np
import pytest

from zoo.metrics import (
    accuracy,
    binary_cross_entropy,
    categorical_cross_entropy,
    group_auc,
    relative_improvement,
    roc_auc,
)


def test_auc_by_hand():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # A tie between a positive and a negative counts one half.
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert roc_auc([1, 1, 0], [0.9, 0.8, 0.1]) == 1.0


def test_auc_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300), 2)  # many ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairwise = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert roc_auc(labels, scores) == pytest.approx(pairwise)


def test_auc_edge_cases():
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))
    with pytest.raises(ValueError, match="differ in size"):
        roc_auc([0, 1], [0.5])


def test_binary_cross_entropy_by_hand():
    assert binary_cross_entropy([1, 0], [0.5, 0.5]) == pytest.approx(np.log(2))


def _brute_force_gauc(labels, scores, groups):
    """GAUC straight from the definition: pairwise AUC per user, row-count weights."""
    total, weight, skipped = 0.0, 0, 0
    for user in sorted(set(groups.tolist())):
        rows = groups == user
        pos, neg = scores[rows & (labels == 1)], scores[rows & (labels == 0)]
        if len(pos) == 0 or len(neg) == 0:
            skipped += 1
            continue
        pairs = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        total += pairs.mean() * rows.sum()
        weight += rows.sum()
    return total / weight, skipped


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gauc_matches_brute_force_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    groups = rng.integers(0, 150, n)  # ~13 rows per user: some users one-class
    labels = (rng.random(n) < 0.2).astype(int)
    scores = np.round(rng.random(n) + 0.3 * labels, 2)  # informative, with ties
    expected, skipped = _brute_force_gauc(labels, scores, groups)
    result = group_auc(labels, scores, groups)
    assert result["gauc"] == pytest.approx(expected, abs=1e-12)
    assert result["groups_skipped"] == skipped > 0
    assert result["groups_used"] + skipped == len(set(groups.tolist()))
    # Row-count weighting differs from a plain mean over users here.
    assert result["rows_used"] < n


def test_gauc_string_user_ids_and_all_one_class():
    result = group_auc([1, 0, 1, 1], [0.9, 0.1, 0.2, 0.3], ["a", "a", "b", "b"])
    assert result == {"gauc": 1.0, "groups_used": 1, "groups_skipped": 1, "rows_used": 2}
    assert np.isnan(group_auc([1, 1], [0.1, 0.2], [7, 7])["gauc"])
    with pytest.raises(ValueError, match="differ in size"):
        group_auc([0, 1], [0.5, 0.4], [1])


def test_relative_improvement():
    assert relative_improvement(0.8, 0.75) == pytest.approx(20.0)
    assert relative_improvement(0.75, 0.75) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="baseline_auc=0.5"):
        relative_improvement(0.7, 0.5)


def test_multiclass_metrics_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert accuracy([0, 1], p) == pytest.approx(0.5)
    assert categorical_cross_entropy([0, 2], p) == pytest.approx(-(np.log(0.7) + np.log(0.8)) / 2)
