import numpy as np
import pytest

from zoo.metrics import binary_cross_entropy, roc_auc


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
