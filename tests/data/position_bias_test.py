import numpy as np
import pytest

from zoo.data import load_census_position_bias
from zoo.data.synthetic.position_bias import examination_probability, simulate_clicks


def test_lists_rank_by_logging_score_and_clicks_need_relevance_and_examination():
    rng = np.random.default_rng(0)
    relevance = (rng.random(100000) < 0.3).astype("float32")
    scores = rng.normal(size=100000)
    positions, clicks = simulate_clicks(relevance, scores, list_size=10, eta=1.0, rng=rng)
    assert positions.min() == 1 and positions.max() == 10
    assert np.bincount(positions)[1:].tolist() == [10000] * 10
    assert (clicks <= relevance).all()
    # Click rate among relevant rows follows 1/p.
    for p in (1, 2, 5, 10):
        rows = (positions == p) & (relevance > 0)
        assert clicks[rows].mean() == pytest.approx(1.0 / p, abs=0.03)
    # Higher logging scores get better positions.
    assert np.corrcoef(scores, positions)[0, 1] < -0.8
    _, unbiased = simulate_clicks(relevance, scores, 10, eta=0.0, rng=rng)
    np.testing.assert_array_equal(unbiased, relevance)
    np.testing.assert_allclose(examination_probability([1, 2, 4], 2.0), [1, 0.25, 0.0625])


@pytest.mark.slow
def test_loader_on_census_income():
    biased = load_census_position_bias(eta=2.0, seed=3)
    assert [t.name for t in biased.tasks] == ["click"]
    assert "position" in [f.name for f in biased.features]
    train = biased.train
    # Only relevant rows are clicked, and only when examined: well under the 6.2% relevant.
    assert 0 < train.labels["click"].mean() < 0.6 * 0.0621
    assert (biased.test.features["position"] == 1).all()
    # Test labels are the true relevance, income > 50K.
    assert 0.05 < biased.test.labels["click"].mean() < 0.075
    plain = load_census_position_bias(eta=0.0, include_position=False, seed=3)
    assert "position" not in [f.name for f in plain.features]
    assert plain.train.labels["click"].mean() == pytest.approx(0.0621, abs=0.001)
    with pytest.raises(ValueError, match="eta >= 0"):
        load_census_position_bias(eta=-1)
