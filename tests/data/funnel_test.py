import numpy as np
import pytest

from zoo.data import generate_funnel, load_synthetic_funnel


def test_conversions_only_follow_clicks_and_are_drawn_from_the_true_rate():
    data = generate_funnel(50000, seed=2)
    click, purchase = data["click"], data["purchase"]
    assert set(np.unique(purchase)) <= {0.0, 1.0}
    assert (purchase <= click).all()
    np.testing.assert_array_equal(purchase, click * data["counterfactual_conversion"])
    assert abs(click.mean() - data["true_ctr"].mean()) < 0.01
    assert abs(data["counterfactual_conversion"].mean() - data["true_cvr"].mean()) < 0.01
    # Selection bias: clicked impressions are skewed towards clickbait (x_0) and
    # convert less often than all impressions would, despite their better items.
    clicked = click > 0.5
    assert data["features"]["x_0"][clicked].mean() > 0.5
    assert data["true_cvr"][clicked].mean() < data["true_cvr"].mean() - 0.005


def test_loader_splits_and_is_reproducible():
    a = load_synthetic_funnel(num_rows=1200, seed=5)
    b = load_synthetic_funnel(num_rows=1200, seed=5)
    assert (a.num_rows("train"), a.num_rows("validation"), a.num_rows("test")) == (1000, 100, 100)
    np.testing.assert_array_equal(a.test.labels["purchase"], b.test.labels["purchase"])
    start = a.settings["test_rows"][0]
    truth = generate_funnel(1200, seed=5)
    np.testing.assert_array_equal(a.test.features["item"], truth["features"]["item"][start:])
    with pytest.raises(ValueError, match="num_numeric >= 3"):
        generate_funnel(10, num_numeric=2)
