"""Negative sampling: never an interacted item, distinct per user, uniform, capped, seeded."""

import numpy as np
import pytest

from zoo.data.base import negative_sampling
from zoo.data.base.negative_sampling import sample_negatives


def _check(users, items, interacted_users, interacted_items):
    """Every drawn item is free for its user and no (user, item) pair repeats."""
    drawn = items >= 0
    pairs = set(zip(users[drawn].tolist(), items[drawn].tolist()))
    assert len(pairs) == int(drawn.sum())
    assert not pairs & set(zip(interacted_users.tolist(), interacted_items.tolist()))


def test_draws_free_distinct_items_and_is_seeded():
    rng = np.random.default_rng(0)
    interacted_users = rng.integers(0, 50, 400)
    interacted_items = rng.integers(0, 60, 400)
    users = np.repeat(np.arange(50), 5)
    items = sample_negatives(
        users, interacted_users, interacted_items, 60, np.random.default_rng(7)
    )
    assert items.dtype == np.int64 and (items >= 0).all() and items.max() < 60
    _check(users, items, interacted_users, interacted_items)
    again = sample_negatives(
        users, interacted_users, interacted_items, 60, np.random.default_rng(7)
    )
    np.testing.assert_array_equal(items, again)
    other = sample_negatives(
        users, interacted_users, interacted_items, 60, np.random.default_rng(8)
    )
    assert (items != other).any()


def test_every_free_item_is_equally_likely():
    # 4,000 users who each touched items 0, 1, 2 of 10 and need 2 negatives.
    num_users = 4000
    interacted_users = np.repeat(np.arange(num_users), 3)
    interacted_items = np.tile([0, 1, 2], num_users)
    users = np.repeat(np.arange(num_users), 2)
    items = sample_negatives(
        users, interacted_users, interacted_items, 10, np.random.default_rng(1)
    )
    _check(users, items, interacted_users, interacted_items)
    share = np.bincount(items, minlength=10) / len(items)
    assert (share[:3] == 0).all()
    np.testing.assert_allclose(share[3:], 1 / 7, atol=0.015)  # 8,000 draws: sd ~ 0.004


def test_a_user_short_of_free_items_gets_all_of_them():
    # User 0 touched 7 of 10 items and asks for 5; user 1 touched none and asks for 4.
    users = np.array([0] * 5 + [1] * 4)
    items = sample_negatives(
        users, np.zeros(7, np.int64), np.arange(7), 10, np.random.default_rng(3)
    )
    assert sorted(items[:5].tolist()) == [-1, -1, 7, 8, 9]
    assert (items[5:] >= 0).all() and len(set(items[5:].tolist())) == 4


def test_the_user_by_user_fallback(monkeypatch):
    # Users who touched all but 3 of 1,000 items: rejection alone would take long.
    interacted_users = np.repeat([0, 1], 997)
    interacted_items = np.concatenate([np.arange(3, 1000), np.arange(997)])
    users = np.array([0, 0, 0, 1, 1, 2])
    items = sample_negatives(
        users, interacted_users, interacted_items, 1000, np.random.default_rng(0)
    )
    assert sorted(items[:3].tolist()) == [0, 1, 2]
    assert set(items[3:5].tolist()) < {997, 998, 999} and items[3] != items[4]
    monkeypatch.setattr(negative_sampling, "MAX_ROUNDS", 0)  # everything through the fallback
    users = np.repeat(np.arange(30), 4)
    rng = np.random.default_rng(5)
    interacted_users, interacted_items = rng.integers(0, 30, 200), rng.integers(0, 20, 200)
    items = sample_negatives(users, interacted_users, interacted_items, 20, rng)
    _check(users, items, interacted_users, interacted_items)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_items >= 1"):
        sample_negatives([0], [], [], 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"interacted_items in 0\.\.4"):
        sample_negatives([0], [0], [5], 5, np.random.default_rng(0))
    assert len(sample_negatives([], [0], [1], 5, np.random.default_rng(0))) == 0
